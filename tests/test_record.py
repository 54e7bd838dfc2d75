"""pylaunchd.record keeps the promises of its docstring, each checked beside
the dataclass it stands for, declared alike."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess

import pytest

from conftest import PYTHON
from pylaunchd import record
from pylaunchd.record import MutableRecord, Record


class Frozen(Record):
    name: str
    path: str | None = record.field(compare=False)
    size: int = 3
    tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = record.field(default=(), compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenDC:
    name: str
    path: str | None = dataclasses.field(compare=False)
    size: int = 3
    tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = dataclasses.field(default=(), compare=False)


class Mutable(MutableRecord):
    pid: int
    items: list[str] = record.field(default_factory=list)
    error: str | None = None


@dataclasses.dataclass(slots=True)
class MutableDC:
    pid: int
    items: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None


class Checked(Record):
    weekday: int | None = None

    def __post_init__(self):
        if self.weekday == 7:
            object.__setattr__(self, "weekday", 0)


CALLS = [((), {"name": "a", "path": "/p"}), (("a", "/p"), {}), (("a", "/p", 5, ("x",)), {}),
         (("a",), {"path": None, "notes": ("n",)})]


@pytest.mark.parametrize("args,kwargs", CALLS)
def test_construction_fields_and_repr_as_the_dataclass(args, kwargs):
    r, d = Frozen(*args, **kwargs), FrozenDC(*args, **kwargs)
    assert Frozen.__slots__ == FrozenDC.__slots__
    assert r._values() == dataclasses.astuple(d)
    assert repr(r) == repr(d).replace("FrozenDC", "Frozen")


@pytest.mark.parametrize("args,kwargs", [((), {}), (("a",), {"name": "b"}), (("a", "/p", 1, (), (), 9), {}),
                                         ((), {"name": "a", "path": "/p", "colour": 1})])
def test_wrong_arguments_are_type_errors_as_for_the_dataclass(args, kwargs):
    with pytest.raises(TypeError):
        FrozenDC(*args, **kwargs)
    with pytest.raises(TypeError):
        Frozen(*args, **kwargs)


def test_equality_and_hash_leave_out_uncompared_fields():
    a, b = Frozen("a", "/one", notes=("x",)), Frozen("a", "/two")
    assert a == b and hash(a) == hash(b)
    assert FrozenDC("a", "/one", notes=("x",)) == FrozenDC("a", "/two")
    assert Frozen("a", None, 4) != Frozen("a", None, 3)
    assert Frozen("a", None) != FrozenDC("a", None)  # another class is never equal
    assert len({Frozen("a", "/1"), Frozen("a", "/2"), Frozen("b", "/1")}) == 2


def test_frozen_fields_cannot_change_or_grow():
    r = Frozen("a", None)
    for act in (lambda: setattr(r, "name", "b"), lambda: delattr(r, "name"), lambda: setattr(r, "other", 1)):
        with pytest.raises(AttributeError):
            act()
    assert r.name == "a"


def test_mutable_record_factories_and_no_hash():
    a, b = Mutable(1), Mutable(2)
    a.items.append("x")
    assert b.items == [] and a.items is not b.items
    a.error = "failed"
    assert (a.pid, a.items, a.error) == (1, ["x"], "failed")
    assert repr(Mutable(1)) == repr(MutableDC(1)).replace("MutableDC", "Mutable")
    assert Mutable(1, ["y"]) == Mutable(1, ["y"]) and Mutable(1) != Mutable(2)
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(AttributeError):
        a.undeclared = 1  # slots: no field but the declared ones


def test_post_init_runs_after_the_fields_are_set():
    assert Checked(7).weekday == 0 and Checked(weekday=3).weekday == 3


@pytest.mark.parametrize("value", [Frozen("a", "/p", 2, ("t",), ("n",)), Mutable(3, ["i"], "e"), Checked(7)])
def test_copy_and_pickle_by_value(value):
    for other in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value)), record.copy(value)):
        assert type(other) is type(value) and other._values() == value._values()


def test_replace_as_dataclasses_replace():
    r = Frozen("a", "/p", notes=("n",))
    assert record.replace(r, size=9)._values() == dataclasses.astuple(
        dataclasses.replace(FrozenDC("a", "/p", notes=("n",)), size=9))
    with pytest.raises(TypeError):
        record.replace(r, colour=1)


def test_the_job_model_imports_no_dataclasses():
    code = ("import sys; import pylaunchd.validate, pylaunchd.spawnplan, pylaunchd.jobspec; "
            "print(sorted(m for m in ('dataclasses', 'inspect', 'typing') if m in sys.modules))")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
