"""``pylaunchctl``: launchctl's verbs, spoken to a running pylaunchd.

The typer app is built from the verb registry (:mod:`pylaunchd.control.verb`):
each verb's class gives its command's name, parameters, help (its
docstring) and what it does. Kept quick to start: only typer, the control
protocol and the verbs are imported; nothing of the manager. A plain
``list`` (:mod:`pylaunchd.control.listing`) does not even import typer: the
app is built on first use (``app``, :func:`build_app`), not at import.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

from ..control.errors import EXIT_USAGE
from ..control.listing import quick_list

if TYPE_CHECKING:
    import typer

    from ..control.client import Client

HELP = "Control pylaunchd, as launchctl controls launchd."


def build_app(client: Client | None = None) -> typer.Typer:
    """The pylaunchctl typer app: one command per registered verb, in
    registration order, all talking through *client*."""
    import typer

    from ..control import verbs as _verbs  # noqa: F401 - registers every verb
    from ..control.client import Client
    from ..control.verb import VERBS

    client = client or Client()
    app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                      pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]}, help=HELP)

    def version(value: bool) -> None:
        if value:
            from .. import __version__
            print(f"pylaunchctl {__version__}")
            raise typer.Exit(0)

    @app.callback()
    def main_options(
        control_socket: Optional[str] = typer.Option(
            None, "--control-socket", envvar="PYLAUNCHD_CONTROL_SOCKET",
            help="The manager's control socket (default: the caller's domain)."),
        user: bool = typer.Option(
            False, "--user", help="Talk to the caller's per-user manager (pylaunchd --user): as root, "
                                  "instead of the system domain; for anyone else that is the default."),
        _version: bool = typer.Option(False, "--version", is_eager=True, callback=version,
                                      help="Print pylaunchctl's version and exit (version: the manager's)."),
    ) -> None:
        client.socket = control_socket
        client.user = user

    for name, cls in VERBS.items():
        app.command(name, help=cls.doc(), short_help=cls.summary())(cls(client).run)  # whole, never cut
    return app


_app: "typer.Typer | None" = None


def __getattr__(name: str):
    """``app``: the pylaunchctl typer app, built once, on first use."""
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        _app = build_app()
    return _app


def main() -> None:
    """Run pylaunchctl; usage errors exit 64 (EX_USAGE), as launchctl's do."""
    code = quick_list(sys.argv[1:])  # a plain list: answered without typer
    if code is not None:
        sys.exit(code)
    import typer

    command = typer.main.get_command(__getattr__("app"))
    try:
        code = command.main(prog_name="pylaunchctl", standalone_mode=False)
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # click's usage and parameter errors
        show = getattr(e, "show", None)
        if show is None:
            raise
        show()
        code = EXIT_USAGE if getattr(e, "exit_code", 1) == 2 else getattr(e, "exit_code", 1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
