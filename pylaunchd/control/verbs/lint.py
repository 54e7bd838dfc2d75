"""lint: check plists without a manager."""

from __future__ import annotations

import json
import os

import typer

from ..client import PATHS, fail
from ..verb import Verb


class Lint(Verb):
    """Check job plists without loading them (plutil -lint, plus what the keys mean).

    Every finding is printed with the file and the key path; a file without
    any prints OK. Exit status 1 when any file has an error (warnings alone
    exit 0). No manager is needed.
    """

    cli_name = "lint"

    def run(self, paths: list[str] = PATHS,
            as_json: bool = typer.Option(False, "--json", help="One JSON object per finding.")) -> None:
        from ...lint import lint_file, summary  # the spec: only when linting
        from ...plist import plists_in

        files: list[str] = []
        for p in paths:
            if os.path.isdir(p):
                files += plists_in(p)
            elif os.path.exists(p):
                files.append(p)
            else:
                fail(f"{p}: No such file or directory", 2)
        errors = 0
        records = []
        for f in files:
            findings = lint_file(f)
            e, w = summary(findings)
            errors += e
            if as_json:
                records += [{"file": x.path, "key_path": x.key_path, "level": x.level, "message": x.message}
                            for x in findings]
                continue
            for x in findings:
                print(x)
            if not e and not w:
                print(f"{os.path.abspath(f)}: OK")
        if as_json:
            print(json.dumps(records, indent=2))
        if errors:
            raise typer.Exit(1)
