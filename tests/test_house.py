"""House rules for pylaunchd/, checked on the source text (no import, no process).

1. No import cycle among pylaunchd modules. Every ``import`` and ``from ...
   import`` counts, at module level or inside a function (a lazy import hides
   a cycle, it does not remove it), relative imports resolved. Not counted:
   imports under ``if TYPE_CHECKING:`` (they never run), and the implicit
   import of a parent package's ``__init__`` (Python runs it first, whatever
   the importer; a cycle only matters where a module needs the other's names).
2. No module over :data:`MAX_MODULE_LINES` lines unless its docstring has a
   line starting with ``Size:`` that says why it is that long.
3. No function or method over :data:`MAX_FUNCTION_LINES` lines (``def`` to its
   last line, docstring included) unless it is in :data:`LONG_FUNCTIONS` with
   the reason next to it. An entry that is no longer needed is a finding too,
   so the list stays short.

Run as a test (``pytest tests/test_house.py``) or as a command that prints
every finding and exits 1 if there is any::

    python -m tests.test_house
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pylaunchd"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
SIZE_MARKER = "Size:"

# "module:qualified.name" -> why it may be longer than MAX_FUNCTION_LINES.
LONG_FUNCTIONS: dict[str, str] = {
    "pylaunchd.forkexec:_setup_and_exec": "the child's steps in launchd's documented order, one after the "
                                       "other; linear, and splitting it would hide that order "
                                       "(the style review calls it acceptable for that reason)",
}


# --------------------------------------------------------------------------
# The modules


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package."""
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


# --------------------------------------------------------------------------
# 1. Import cycles


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, modules: set[str]) -> dict[str, int]:
    """The package modules *name* imports -> the line of the first such import."""
    is_package = path.name == "__init__.py"
    out: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        if target in modules and target != name:
            out.setdefault(target, line)

    for node in _import_nodes(_parse(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
            continue
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        submodules = [f"{origin}.{a.name}" for a in node.names if f"{origin}.{a.name}" in modules]
        for sub in submodules:
            add(sub, node.lineno)
        if len(submodules) < len(node.names):  # some names come from origin itself
            add(origin, node.lineno)
    return out


def import_graph() -> dict[str, dict[str, int]]:
    files = module_files()
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; components in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    out.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def _shortest_cycle(graph: dict[str, dict[str, int]], start: str, members: set[str]) -> list[str]:
    """start -> ... -> start, through *members* only (breadth first)."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node]):
            if child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return path[::-1] + [start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return [start, start]


def import_cycles() -> list[str]:
    """One line per cycle: ``a (line 3) -> b (line 9) -> a``."""
    graph = import_graph()
    findings = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        cycle = _shortest_cycle(graph, component[0], set(component))
        steps = [f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
        findings.append("import cycle: " + " -> ".join(steps + [cycle[-1]])
                        + (f" [component: {', '.join(component)}]" if len(component) > len(cycle) - 1 else ""))
    return findings


# --------------------------------------------------------------------------
# 2. Module size


def _size_reason(tree: ast.Module, text: str) -> str | None:
    """The ``Size:`` line of the module docstring (or of its opening comments)."""
    doc = ast.get_docstring(tree) or ""
    opening = [line.lstrip("# ") for line in text.splitlines() if line.startswith("#")][:20]
    for line in doc.splitlines() + opening:
        if line.strip().startswith(SIZE_MARKER) and line.strip()[len(SIZE_MARKER):].strip():
            return line.strip()
    return None


def module_size_findings(name: str, path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    if lines <= MAX_MODULE_LINES or _size_reason(_parse(path), text):
        return []
    return [f"{path.relative_to(ROOT)}: {lines} lines (over {MAX_MODULE_LINES}); split it, or state why "
            f"in a '{SIZE_MARKER}' line of its docstring"]


# --------------------------------------------------------------------------
# 3. Function length


def functions(tree: ast.Module):
    """(qualified name, node) for every function and method, nested ones too."""
    stack: list[tuple[str, ast.AST]] = [("", tree)]
    while stack:
        prefix, node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qualified = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    yield qualified, child
                stack.append((qualified + ".", child))
            else:
                stack.append((prefix, child))


def long_functions(name: str, path: Path) -> dict[str, int]:
    """``module:qualname`` -> lines, for functions over the limit."""
    return {f"{name}:{q}": node.end_lineno - node.lineno + 1 for q, node in functions(_parse(path))
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES}


def function_findings(name: str, path: Path) -> list[str]:
    out = []
    found = long_functions(name, path)
    for key, lines in sorted(found.items()):
        if key not in LONG_FUNCTIONS:
            out.append(f"{path.relative_to(ROOT)}: {key.split(':', 1)[1]} is {lines} lines "
                       f"(over {MAX_FUNCTION_LINES}); split it, or add it to LONG_FUNCTIONS with the reason")
    for key in sorted(LONG_FUNCTIONS):
        if key.split(":", 1)[0] == name and key not in found:
            out.append(f"{path.relative_to(ROOT)}: {key} is in LONG_FUNCTIONS but no longer over "
                       f"{MAX_FUNCTION_LINES} lines (or gone); remove the entry")
    return out


# --------------------------------------------------------------------------
# The tests, and the command


MODULES = module_files()


def test_no_import_cycle():
    cycles = import_cycles()
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    findings = module_size_findings(name, MODULES[name])
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_function_length(name):
    findings = function_findings(name, MODULES[name])
    assert not findings, "\n".join(findings)


def test_allow_list_names_existing_modules_and_gives_reasons():
    for key, reason in LONG_FUNCTIONS.items():
        assert key.split(":", 1)[0] in MODULES, key
        assert len(reason.split()) >= 5, f"{key}: write the reason out"


def test_the_cycle_finder_finds_a_cycle_and_its_path():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}}
    (component,) = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert component == ["a", "b", "c"]
    assert _shortest_cycle(graph, "a", set(component)) == ["a", "b", "c", "a"]


def findings() -> list[str]:
    out = import_cycles()
    for name, path in MODULES.items():
        out += module_size_findings(name, path) + function_findings(name, path)
    return out


def main() -> int:
    found = findings()
    for line in found:
        print(line)
    print(f"{len(found)} finding{'s' if len(found) != 1 else ''} "
          f"(modules <= {MAX_MODULE_LINES} lines, functions <= {MAX_FUNCTION_LINES} lines, no import cycle)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
