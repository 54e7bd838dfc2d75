"""docs/pylaunchctl.md's verb reference and docs/launchctl.md's verb-to-request
table are written from the verbs' docstrings and schemas: they must match."""

from __future__ import annotations

import pytest

from pylaunchd.control import docs
from pylaunchd.control.verb import REQUESTS, VERBS


def test_docs_are_up_to_date():
    assert docs.main(["--check"]) == 0, "run: python -m pylaunchd.control.docs --write"


def test_the_reference_holds_every_verbs_docstring_and_requests():
    text = docs.reference()
    for name, cls in VERBS.items():
        assert f"#### `{name}`" in text and cls.doc() in text
    table = "\n".join(docs.requests_table())
    for name in REQUESTS:
        assert f"| `{name}` |" in table


def test_replace_section_needs_its_markers():
    begin, end = docs.BEGIN.format(name="x"), docs.END.format(name="x")
    assert docs.replace_section(f"a\n{begin}\nold\n{end}\nb", "x", "new\n") == f"a\n{begin}\nnew\n{end}\nb"
    with pytest.raises(ValueError):
        docs.replace_section("no markers", "x", "new\n")
