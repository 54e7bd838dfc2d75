"""docs/guarantees.md cannot go stale: every guarantee names a test, and every
test it names exists (``tests/FILE.py::test_name``, or
``tests/FILE.py::Class::test_name``), found in the file's source without
importing it. Its sections are the ones the issue lists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "guarantees.md"
REF = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")
SECTIONS = ("Sockets and queues", "Process supervision and KeepAlive", "Reload", "Control socket and security",
            "Shutdown and PID 1", "Resources and leaks", "Re-exec", "Hostile input", "Bus activation")


def guarantees(text: str) -> list[str]:
    """The bullet lines under the ## sections (a bullet may wrap onto indented lines)."""
    items: list[str] = []
    in_section = False
    for line in text.splitlines():
        if line.startswith("## "):
            in_section = True
        elif in_section and line.startswith("- "):
            items.append(line)
        elif in_section and items and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
    return items


def defined(path: Path) -> set[str]:
    """'name' for every module-level function, 'Class::name' for every method."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{n.name}" for n in node.body if isinstance(n, (ast.FunctionDef,
                                                                                     ast.AsyncFunctionDef))}
    return names


def missing(text: str) -> list[str]:
    problems = []
    cache: dict[str, set[str]] = {}
    for item in guarantees(text):
        refs = REF.findall(item)
        if not refs:
            problems.append(f"names no test: {item}")
        for file, name in refs:
            path = ROOT / file
            if not path.is_file():
                problems.append(f"{file}: no such file")
                continue
            if name not in cache.setdefault(file, defined(path)):
                problems.append(f"{file}::{name}: no such test")
    return problems


def test_every_guarantee_names_a_test_that_exists():
    text = DOC.read_text()
    assert len(guarantees(text)) >= 50
    assert missing(text) == []


def test_the_sections_are_there_and_the_doc_is_linked():
    headings = re.findall(r"^## (.+)$", DOC.read_text(), flags=re.M)
    assert list(SECTIONS) == headings
    for doc in ("README.md", "docs/architecture.md"):
        assert "guarantees.md" in (ROOT / doc).read_text(), f"{doc} does not link docs/guarantees.md"


def test_the_checker_finds_a_missing_test_and_a_guarantee_without_one():
    text = ("## Reload\n\n- Holds. — `tests/test_guarantees_doc.py::test_every_guarantee_names_a_test_that_exists`\n"
            "- Gone. — `tests/test_guarantees_doc.py::test_that_was_renamed`\n- A hope.\n"
            "- In a file that is not there. — `tests/test_nothing.py::test_x`\n")
    assert missing(text) == ["tests/test_guarantees_doc.py::test_that_was_renamed: no such test",
                             "names no test: - A hope.",
                             "tests/test_nothing.py: no such file"]
