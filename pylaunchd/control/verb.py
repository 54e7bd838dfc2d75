"""One object per control verb: its two halves in one class, as circus's
commands are.

A :class:`Verb` subclass is registered when it is defined
(``__init_subclass__``), under up to two names:

``name``
    the protocol request it serves (``REQUESTS``): its ``args`` schema, which
    the server checks before anything runs, ``read_only`` (anyone may send it
    to the system domain), and ``execute(service, args)``, the server half,
    which runs in the manager against the narrow
    :class:`~pylaunchd.control.service.ControlService`.
``cli_name``
    the pylaunchctl verb (``VERBS``; by default ``name``): ``run(...)``, the
    client half, whose parameters are the typer command's, which turns argv
    into requests and renders the replies. ``sends`` names every request it
    may send (by default its own ``name``): several CLI verbs share one
    request (``bootstrap`` and ``load`` send ``load``), one CLI verb may send
    several (``print`` sends ``print`` or ``domain``), and a verb that needs
    no manager (``lint``, ``error``, ``help``) sends none.

The class's docstring is the verb's documentation: ``pylaunchctl VERB
--help``, ``pylaunchctl help VERB`` and the verb reference in
docs/pylaunchctl.md (``python -m pylaunchd.control.docs``) all show it.

This module is standard-library only, and no verb module imports the
manager: pylaunchctl imports them all.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional

from .errors import EXIT_USAGE, ControlError

if TYPE_CHECKING:
    from .client import Client
    from .service import ControlService

REQUESTS: dict[str, type["Verb"]] = {}  # protocol request name -> the verb that serves it
VERBS: dict[str, type["Verb"]] = {}  # pylaunchctl verb -> its class, in definition order

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", float: "a number"}
_DOC_NAMES = {str: "string", int: "integer", bool: "boolean", list: "list", float: "number"}


@dataclass(frozen=True)
class Arg:
    """One argument of a request: its JSON type, whether it must be there,
    its value when absent (JSON null counts as absent), and what else it must
    satisfy. ``error`` replaces the default message when a value is refused."""

    type: type
    required: bool = False
    default: Any = None
    items: Optional[type] = None  # the type of a list's items
    nonempty: bool = False  # a string or list that must not be empty
    check: Optional[Callable[[Any], bool]] = None
    error: Optional[str] = None
    help: str = ""

    def describe(self) -> str:
        """The argument's type as the docs show it: ``string``, ``[string]``,
        with ``?`` when it may be left out."""
        name = f"[{_DOC_NAMES[self.items]}]" if self.items is not None else _DOC_NAMES[self.type]
        return name + ("" if self.required else "?")

    def problem(self, value: Any) -> Optional[str]:
        """Why *value* will not do, or None."""
        ok = isinstance(value, self.type) and not (self.type is not bool and isinstance(value, bool))
        if self.type is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            return f"must be {_TYPE_NAMES[self.type]}, not {_json_type(value)}"
        if self.items is not None and not all(isinstance(v, self.items) and not isinstance(v, bool) for v in value):
            return f"must hold only {_DOC_NAMES[self.items]}s"
        if self.nonempty and not value:
            return "must not be empty"
        if self.check is not None and not self.check(value):
            return f"{value!r} is not allowed"
        return None


def _json_type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


class Verb:
    """Base of every control verb; see the module's docstring."""

    name: ClassVar[Optional[str]] = None
    cli_name: ClassVar[Optional[str]] = None
    sends: ClassVar[tuple[str, ...]] = ()
    read_only: ClassVar[bool] = False
    args: ClassVar[dict[str, Arg]] = {}

    def __init__(self, client: Optional[Client] = None):
        self.client = client  # the client half's connection to a manager; None in the server

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        """Fill in the defaults of ``cli_name`` and ``sends``, check the class,
        and register it (``class V(Verb, register=False)`` does not: for tests)."""
        super().__init_subclass__(**kwargs)
        ns = cls.__dict__
        if not ns.get("__doc__"):
            raise TypeError(f"{cls.__name__}: a verb's docstring is its documentation; write one")
        if "cli_name" not in ns:
            cls.cli_name = ns.get("name") if "run" in ns else None
        if "sends" not in ns:
            cls.sends = (ns["name"],) if ns.get("name") and cls.cli_name else ()
        if ns.get("name") and "execute" not in ns:
            raise TypeError(f"{cls.__name__} serves {cls.name!r} but has no execute()")
        if cls.cli_name and "run" not in ns:
            raise TypeError(f"{cls.__name__} is the verb {cls.cli_name!r} but has no run()")
        if register and ns.get("name"):
            _register(REQUESTS, cls.name, cls)
        if register and cls.cli_name:
            _register(VERBS, cls.cli_name, cls)

    # ------------------------------------------------------------ either half

    @classmethod
    def doc(cls) -> str:
        """The verb's documentation: its docstring, dedented."""
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.doc().split("\n\n")[0].replace("\n", " ")

    # ----------------------------------------- server half (in the manager)

    @classmethod
    def validate(cls, args: dict) -> dict:
        """The request's arguments, checked against ``args`` and with every
        absent one at its default; ControlError (64) names the one at fault.
        Arguments the schema does not know are dropped."""
        checked = {}
        for key, arg in cls.args.items():
            value = args.get(key)
            if value is None:
                if arg.required:
                    raise ControlError(arg.error or f"{cls.name}: the argument {key!r} is required", EXIT_USAGE)
                checked[key] = arg.default
                continue
            problem = arg.problem(value)
            if problem:
                raise ControlError(arg.error or f"{cls.name}: the argument {key!r} {problem}", EXIT_USAGE)
            checked[key] = value
        return checked

    def execute(self, service: ControlService, args: dict) -> Any:
        """Run the request in the manager; return its JSON-able result."""
        raise NotImplementedError

    # Client half (in pylaunchctl): ``run(self, ...)``, whose parameters are
    # the typer command's. It is not declared here, so that typer reads
    # each verb's own signature.


def _register(table: dict, name: str, cls: type) -> None:
    if name in table:
        raise TypeError(f"{cls.__name__}: {name!r} is already {table[name].__name__}")
    table[name] = cls


# Arguments several requests share.
LABEL_ARG = Arg(str, required=True, nonempty=True, error="a label is required", help="the job's label")
PATHS_ARG = Arg(list, required=True, items=str, nonempty=True, error="at least one path is required",
                help="absolute paths of plists or directories of plists")
