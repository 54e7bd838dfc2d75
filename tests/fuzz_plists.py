"""Fuzzing the job loader: plists built from the keys it knows, and bytes.

Two fuzzers drive the code the job directories and the job table read a file
with (``plist.parse_plist`` -- ``read_plist`` without the ``open``, plistxml or plistlib -- then
``validate.validate``, and ``validate.check``, which ``pylaunchctl lint``
uses):

* **structure-aware** (hypothesis): a dictionary of keys the loader knows
  (every top-level key, ``Sockets`` with every socket key, ``KeepAlive``
  with every condition, limits, calendar entries, ``inetdCompatibility``),
  each with values of every plist type -- strings (huge ones too), integers
  up to 64 bits, reals with NaN and infinities, booleans, dates, data,
  arrays (long ones), dictionaries nested deep -- written as XML or binary,
  and sometimes truncated;
* **byte-level**: the plists of the repository's examples and test corpora,
  mutated (bits flipped, bytes inserted, deleted, repeated, spliced from
  another file, cut short).

The property for every input: the loader returns a job, or raises
``PlistError`` or ``SpecError`` -- nothing else, within a time bound -- and
a ``SpecError`` names the file and the key path (empty only for "a
dictionary at the top level").

``python -m tests.fuzz_plists [N]`` (from the repository) runs N byte-level
inputs (default 100,000, about 20 s) and N/10 structure-aware ones (a
hypothesis draw of a whole job costs 10 to 40 ms: 10,000 take minutes) and
prints any failure; ``tests/test_fuzz.py`` runs a few seconds of both.
"""

from __future__ import annotations

import datetime
import glob
import os
import plistlib
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

from hypothesis import strategies as st

from pylaunchd.jobkeys import ALL_KEYS
from pylaunchd.plist import PlistError, parse_plist
from pylaunchd.plistvalues import SpecError
from pylaunchd.spec import KEEPALIVE_KEYS, RESOURCE_LIMITS, SOCKET_KEYS
from pylaunchd.validate import check, validate

ROOT = Path(__file__).resolve().parent.parent
PATH = "/fuzz/job.plist"
SLOW = 10.0  # seconds one input may take before it counts as a hang, and as long again per MiB

# -- values of every plist type --------------------------------------------

_INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_SMALL = st.one_of(st.integers(-3, 70000), st.sampled_from([0, 1, -1, 2**31, 2**32, 2**63 - 1, -(2**63)]))
_WORDS = st.sampled_from(["", "/", "/bin/true", "tcp", "stream", "IPv4", "0", "*", "Listeners", "/tmp/s.sock"])
_HUGE = st.builds(lambda c, n: c * n, st.sampled_from("a/\x00é"), st.integers(1000, 100_000))
# Huge strings one time in forty: each costs milliseconds to write and read.
_TEXT = st.one_of(*[st.text(max_size=20), _WORDS] * 20, _HUGE)
_SCALARS = st.one_of(_TEXT, _INT64, _SMALL, st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                     st.binary(max_size=30),
                     st.datetimes(min_value=datetime.datetime(1, 1, 2), max_value=datetime.datetime(9999, 12, 30)))
ANY = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.one_of(_TEXT, st.sampled_from(sorted(ALL_KEYS))), inner,
                                                 max_size=6)), max_leaves=12)
LONG_ARRAY = st.builds(lambda v, n: [v] * n, _SCALARS, st.integers(1000, 5_000))


def deep(levels: int, leaf: Any) -> Any:
    for i in range(levels):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


DEEP = st.builds(deep, st.integers(20, 150), _SCALARS)  # as deep as plistlib's writer goes


def deep_xml(key: str, levels: int, array: bool) -> bytes:
    """A job whose *key* holds arrays (or dictionaries) nested *levels* deep:
    written by hand, deeper than plistlib could write it."""
    opening, closing = (b"<array>", b"</array>") if array else (b"<dict><key>k</key>", b"</dict>")
    return (b'<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>Label</key><string>x'
            b"</string><key>" + key.encode() + b"</key>" + opening * levels + b"<true/>" + closing * levels +
            b"</dict></plist>")


# tests/test_fuzz.py loads one 100,000 levels deep; here they stay quick.
DEEP_XML = st.builds(deep_xml, st.sampled_from(sorted(ALL_KEYS)), st.integers(100, 3000), st.booleans())


def keyed(keys, values=None) -> st.SearchStrategy:
    """A dictionary of some of *keys*, each with any value (or from *values*)."""
    return st.dictionaries(st.sampled_from(sorted(keys)), VALUE if values is None else values,
                           max_size=len(keys))


VALUE = st.one_of(*[ANY] * 16, LONG_ARRAY, DEEP)
SOCKET = keyed(SOCKET_KEYS, st.one_of(_SCALARS, ANY))
NESTED = {
    "Sockets": st.one_of(st.dictionaries(_TEXT, st.one_of(SOCKET, st.lists(SOCKET, max_size=3), ANY), max_size=3),
                         ANY),
    "KeepAlive": st.one_of(st.booleans(), keyed(KEEPALIVE_KEYS, st.one_of(_SCALARS, st.dictionaries(
        _TEXT, st.one_of(st.booleans(), ANY), max_size=3))), ANY),
    "SoftResourceLimits": st.one_of(keyed(RESOURCE_LIMITS, st.one_of(_INT64, _SMALL, ANY)), ANY),
    "HardResourceLimits": st.one_of(keyed(RESOURCE_LIMITS, st.one_of(_INT64, _SMALL, ANY)), ANY),
    "StartCalendarInterval": st.one_of(
        keyed(["Minute", "Hour", "Day", "Weekday", "Month"], st.one_of(_SMALL, ANY)),
        st.lists(keyed(["Minute", "Hour", "Day", "Weekday", "Month"], st.one_of(_SMALL, ANY)), max_size=4), ANY),
    "inetdCompatibility": st.one_of(keyed(["Wait"], st.one_of(st.booleans(), ANY)), ANY),
    "ProgramArguments": st.one_of(st.lists(_TEXT, max_size=5), ANY, LONG_ARRAY),
    "EnvironmentVariables": st.one_of(st.dictionaries(_TEXT, st.one_of(_TEXT, ANY), max_size=5), ANY),
}
JOB = st.builds(lambda label, rest: {**label, **rest},
                st.one_of(st.just({}), st.fixed_dictionaries({"Label": st.one_of(_TEXT, _SCALARS)})),
                st.dictionaries(st.sampled_from(sorted(ALL_KEYS)), VALUE, max_size=8)
                .flatmap(lambda d: st.fixed_dictionaries({k: NESTED.get(k, st.just(v)) for k, v in d.items()})))
TOP = st.one_of(JOB, JOB, JOB, ANY)


def serialize(obj: Any, binary: bool, cut: float | None) -> bytes | None:
    """The plist's bytes (None when plistlib cannot write the value: an
    integer past 64 bits, a date it cannot encode), cut at a fraction."""
    try:
        data = plistlib.dumps(obj, fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML, sort_keys=False)
    except (OverflowError, TypeError, ValueError, RecursionError):
        return None
    return data if cut is None else data[:int(len(data) * cut)]


PLIST_BYTES = st.one_of(*[st.builds(serialize, TOP, st.booleans(), st.one_of(st.none(), st.none(), st.floats(0, 1)))]
                        * 20, DEEP_XML)

# -- the property ------------------------------------------------------------


class Finding(Exception):
    """The loader broke its contract on this input."""


def load(data: bytes) -> str:
    """Run the loader on *data*; "ok", "plist" or "spec". Raise Finding on
    anything else: another exception, a SpecError without its key path, a
    hang."""
    started = time.monotonic()
    try:
        raw = parse_plist(PATH, data)
        for run in (validate, check):
            try:
                run(raw, PATH)
            except SpecError as e:
                _check_error(e)
        outcome = "spec" if check(raw, PATH).errors else "ok"
    except PlistError as e:
        if not str(e).startswith(PATH + ": "):
            raise Finding(f"a PlistError that does not name the file: {e}") from None
        outcome = "plist"
    except Finding:
        raise
    except RecursionError:
        raise Finding("RecursionError: nesting too deep for the loader") from None
    except Exception as e:  # noqa: BLE001 - every other exception is the finding
        raise Finding(f"{type(e).__name__}: {e}") from e
    if time.monotonic() - started > SLOW * (1 + len(data) / 2**20):
        raise Finding(f"took {time.monotonic() - started:.1f} s")
    return outcome


def _check_error(e: SpecError) -> None:
    if e.path != PATH or not str(e).startswith(PATH):
        raise Finding(f"a SpecError that does not name the file: {e}")
    if not e.key_path and "top level" not in e.expected:
        raise Finding(f"a SpecError without a key path: {e}")


# -- the byte-level fuzzer ---------------------------------------------------


def seeds() -> list[bytes]:
    """Every plist of the repository's examples and test corpora, in both formats."""
    found = []
    for pattern in ("LaunchDaemons/*.plist", "LaunchAgents/*.plist", "tests/**/*.plist", "contrib/**/*.plist"):
        for p in sorted(glob.glob(str(ROOT / pattern), recursive=True)):
            data = Path(p).read_bytes()
            if len(data) < 200_000:
                found.append(data)
                try:
                    found.append(plistlib.dumps(plistlib.loads(data), fmt=plistlib.FMT_BINARY))
                except Exception:  # noqa: BLE001 - a broken seed is a seed too
                    pass
    return found or [plistlib.dumps({"Label": "x", "ProgramArguments": ["/bin/true"]})]


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """One to eight random edits of *data*."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(7)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:  # flip a bit
            b[i % len(b)] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert random bytes
            b[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 2:  # delete a run
            del b[i:i + rng.randint(1, 16)]
        elif op == 3:  # repeat a run
            run = b[i:i + rng.randint(1, 64)]
            b[i:i] = run * rng.randint(1, 200)
        elif op == 4:  # splice in part of another seed
            other = rng.choice(corpus)
            j = rng.randrange(len(other) + 1)
            b[i:i] = other[j:j + rng.randint(1, 200)]
        elif op == 5:  # cut short
            del b[i:]
        else:  # an interesting byte
            b[i:i] = rng.choice([b"\x00", b"\xff", b"<", b">", b"&", b"]]>", b"\x80", b"<dict>", b"</array>",
                                 b"<integer>99999999999999999999999</integer>", b"<date>0000-00-00T00:00:00Z</date>"])
    return bytes(b)


def byte_inputs(n: int, seed: int = 0):
    rng, corpus = random.Random(seed), seeds()
    for _ in range(n):
        yield mutate(rng, rng.choice(corpus), corpus)


def run_bytes(n: int, seed: int = 0, report: Callable[[str], None] = print) -> list[tuple[bytes, str]]:
    """*n* byte-level inputs; the findings (input, what went wrong)."""
    findings = []
    for data in byte_inputs(n, seed):
        try:
            load(data)
        except Finding as f:
            findings.append((data, str(f)))
            report(f"byte-level: {f}")
    return findings


def run_structured(n: int, report: Callable[[str], None] = print) -> list[tuple[bytes, str]]:
    """*n* structure-aware inputs drawn by hypothesis (without shrinking)."""
    findings: list[tuple[bytes, str]] = []
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(PLIST_BYTES)
    def one(data: bytes | None) -> None:
        if data is None:
            return
        try:
            load(data)
        except Finding as f:
            findings.append((data, str(f)))
            report(f"structured: {f}")
    one()
    return findings


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 100_000
    started = time.monotonic()
    found = run_bytes(n) + run_structured(n // 10)
    print(f"{n + n // 10} inputs in {time.monotonic() - started:.0f} s: {len(found)} finding(s)")
    for data, what in found[:20]:
        print(f"  {what}\n    input: {data[:200]!r}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    sys.exit(main(sys.argv))
