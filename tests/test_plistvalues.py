"""Problem, check() and lint's one-error-per-group: the typed warnings of the spec split."""

from __future__ import annotations

import copy
import json
import pickle
import plistlib

import pytest

from pylaunchd.lint import lint_file
from pylaunchd.plistvalues import ERROR, WARNING, Problem, SpecError
from pylaunchd.spec import check, validate

PATH = "/home/me/jobs/org.example.job.plist"


def test_problem_text_is_the_old_warning_text():
    p = Problem(WARNING, "Nice", "40 is outside -20..20; ignored")
    assert p == "Nice: 40 is outside -20..20; ignored" and str(p) == p and f"{p}" == str(p)
    assert (p.level, p.key_path, p.message) == (WARNING, "Nice", "40 is outside -20..20; ignored")
    assert str(Problem(WARNING, "", "no key")) == "no key"


def test_problem_is_immutable_and_survives_json_copy_and_pickle():
    p = Problem(WARNING, "Sockets.L", "a: b")
    with pytest.raises(AttributeError):
        p.level = ERROR  # type: ignore[misc]
    assert json.loads(json.dumps([p])) == ["Sockets.L: a: b"]
    for q in (copy.copy(p), copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert q == p and (q.level, q.key_path, q.message) == (p.level, p.key_path, p.message)


def test_warnings_are_problems_with_their_key_path():
    s = validate({"Label": "a.b", "ProgramArguments": ["/bin/true"], "Nice": 40,
                  "StartCalendarInterval": {"Hour": 25}}, PATH)
    assert all(isinstance(w, Problem) and w.level == WARNING for w in s.warnings)
    assert [w.key_path for w in s.warnings] == ["Nice", "StartCalendarInterval.Hour", "StartCalendarInterval"]


def test_a_message_with_colons_keeps_its_key_path():
    # lint used to split "key: message" at the first ": ", which broke on a key containing one
    s = validate({"Label": "a.b", "ProgramArguments": ["/bin/true"], "odd: key": 1}, PATH)
    (w,) = s.warnings
    assert w.key_path == "odd: key" and w.message == "unknown key, ignored"


def test_check_reports_the_first_error_of_every_group_and_validate_the_first():
    raw = {"Label": 42, "ProgramArguments": "x", "KeepAlive": "yes", "Sockets": [], "Nice": 99}
    checked = check(raw, PATH)
    assert checked.spec is None
    assert [e.key_path for e in checked.errors] == ["Label", "ProgramArguments", "KeepAlive", "Sockets"]
    assert [w.key_path for w in checked.warnings] == ["Nice"]
    with pytest.raises(SpecError) as info:
        validate(raw, PATH)
    assert str(info.value) == str(checked.errors[0]) == f"{PATH}: Label: expected a string, found integer 42"


def test_check_of_a_good_job_is_validate():
    raw = {"Label": "a.b", "ProgramArguments": ["/bin/true"], "ThrottleInterval": -1}
    checked = check(raw, PATH)
    assert checked.errors == () and checked.spec == validate(raw, PATH)
    assert checked.warnings == checked.spec.warnings


def test_check_stops_at_a_top_level_that_is_not_a_dictionary():
    checked = check(["Label"], PATH)
    assert checked.spec is None and [e.key_path for e in checked.errors] == [""]


def test_lint_shows_every_error_of_a_file(tmp_path):
    p = tmp_path / "two.plist"
    p.write_bytes(plistlib.dumps({"Label": "two", "Program": "relative", "RunAtLoad": "yes"}))
    p.chmod(0o644)
    errors = [f for f in lint_file(str(p)) if f.level == ERROR]
    assert [(f.key_path, f.message) for f in errors] == [
        ("Program", 'expected an absolute path (launchd does not search PATH for Program), found string "relative"'),
        ("RunAtLoad", 'expected a boolean (<true/> or <false/>), found string "yes" (write <true/>)'),
    ]


def test_plistvalues_is_a_leaf_and_nothing_in_the_split_imports_the_facade():
    from test_house import import_graph

    graph = import_graph()
    assert graph["pylaunchd.plistvalues"] == {}, "plistvalues must import only the standard library"
    split = ("plistvalues", "plist", "triggers.calendar", "jobspec", "jobkeys", "socketkeys", "processkeys", "validate", "lint")
    for name in split:
        assert "pylaunchd.spec" not in graph[f"pylaunchd.{name}"], f"{name} imports the spec façade"
