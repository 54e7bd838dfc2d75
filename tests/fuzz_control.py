"""Fuzzing the control server: requests built from the verbs' schemas, and bytes.

Every input goes to a real manager over its control socket, on a connection
of its own, as pylaunchctl would send it:

* **structure-aware**: ``{"verb": V, "args": {...}}`` for every request the
  server knows (but ``submit`` and ``limit``, which would run random programs
  or lower the manager's own limits, and ``reexec``), each argument of its schema given a
  value of any JSON type -- the right one and the wrong ones, huge strings,
  long and nested arrays, big and negative numbers -- plus unknown arguments
  and verbs;
* **byte-level**: well-formed request lines, mutated (``fuzz_plists.mutate``).

The property: every connection gets one JSON reply, ``{"ok": true, ...}`` or
``{"ok": false, "error": "...", "status": N}`` with a message, never an
"internal error"; the manager stays up, and its log holds no traceback.

``python -m tests.fuzz_control [N]`` starts a manager and sends N requests
(default 100,000); ``tests/test_fuzz.py`` sends a few hundred.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

if os.path.dirname(os.path.abspath(__file__)) not in sys.path:  # run as a script or as tests.fuzz_control
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fuzz_plists import mutate  # noqa: E402

from pylaunchd.control import verbs as _verbs  # noqa: E402,F401 - registers every verb
from pylaunchd.control.protocol import exchange  # noqa: E402
from pylaunchd.control.verb import REQUESTS  # noqa: E402

EXCLUDED = {"submit", "limit", "reexec"}  # reexec: tests/test_reexec.py; here it would restart the target
VERBS = sorted(set(REQUESTS) - EXCLUDED)
LABELS = ["fuzz.job", "fuzz.none", "", "x" * 300, "../../etc", "fuzz.job\x00"]


def json_value(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of any type."""
    kind = rng.randrange(12 if depth < 4 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, 1, -1, 2**31, 2**63, -(2**63), 2**64, 10**30, 64, 9, 15])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e308, float("nan"), float("inf")])
    if kind in (4, 5, 6):
        return rng.choice(LABELS + ["", "/", "/nonexistent/x.plist", "\udcff", "é" * 10, "a" * rng.randint(0, 5000)])
    if kind == 7:
        return "v" * rng.choice([10, 70_000, 900_000])
    if kind in (8, 9):
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if kind == 10:
        return [rng.choice(["/nonexistent/a.plist", "/", "", 1])] * rng.choice([1, 100, 10_000])
    return {rng.choice(["label", "paths", "x", ""]): json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def structured(rng: random.Random) -> bytes:
    verb = rng.choice(VERBS + ["nope", ""]) if rng.random() < 0.97 else json_value(rng)
    schema = REQUESTS[verb].args if isinstance(verb, str) and verb in REQUESTS else {}
    args: Any = {}
    for name, arg in schema.items():
        if rng.random() < 0.8:
            args[name] = _good(rng, name, arg) if rng.random() < 0.5 else json_value(rng)
    if rng.random() < 0.1:
        args[rng.choice(["extra", "verb", "0"])] = json_value(rng)
    if rng.random() < 0.05:
        args = json_value(rng)
    text = json.dumps({"verb": verb, "args": args}, allow_nan=True, ensure_ascii=rng.random() < 0.5)
    return text.encode("utf-8", "surrogatepass") + b"\n"


def _good(rng: random.Random, name: str, arg) -> Any:
    """A value of the argument's own type."""
    if arg.type is bool:
        return rng.random() < 0.5
    if arg.type is int:
        return rng.choice([0, 1, -1, 15, 9, 2**40, -(2**40), 10])
    if arg.type is list:
        return [rng.choice(["/nonexistent/a.plist", "/proc", ""]) for _ in range(rng.randint(0, 3))]
    return rng.choice(LABELS) if name == "label" else rng.choice(["FUZZ", "a b", "", "x" * 100])


SEEDS = [b'{"verb":"list","args":{}}\n', b'{"verb":"print","args":{"label":"fuzz.job"}}\n',
         b'{"verb":"setenv","args":{"key":"K","value":"V"}}\n', b'{"verb":"log","args":{"label":"fuzz.job","lines":5}}\n',
         b'{"verb":"load","args":{"paths":["/nonexistent/x.plist"],"write":false,"force":false}}\n',
         b'{"verb":"kickstart","args":{"label":"fuzz.job","kill":true}}\n', b'{"verb":"errors","args":{}}\n']


def inputs(n: int, seed: int = 0) -> Iterator[bytes]:
    rng = random.Random(seed)
    for i in range(n):
        if i % 2:
            yield structured(rng)
        else:
            yield mutate(rng, rng.choice(SEEDS), SEEDS)


def send(path: str, data: bytes, timeout: float = 30.0) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        return exchange(s, data)


def judge(reply: bytes) -> str | None:
    """What is wrong with a reply, or None."""
    try:
        obj = json.loads(reply)
    except ValueError:
        return f"not a JSON reply: {reply[:120]!r}"
    if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
        return f"not a reply object: {reply[:120]!r}"
    if obj["ok"]:
        return None
    if not isinstance(obj.get("error"), str) or not obj["error"] or not isinstance(obj.get("status"), int):
        return f"an error without message or status: {obj}"
    if obj["error"].startswith("internal error"):
        return f"a bug: {obj['error']}"
    return None


def run(path: str, n: int, seed: int = 0, report: Callable[[str], None] = print) -> list[tuple[bytes, str]]:
    """Send *n* inputs to the manager on *path*; the findings."""
    findings = []
    for data in inputs(n, seed):
        try:
            reply = send(path, data)
            # One request per connection: after more than one line the server
            # answers the first and closes, and Linux may reset the connection
            # (unread data) before the reply is read. Not a finding.
            what = None if not reply and data.find(b"\n") < len(data) - 1 else judge(reply)
        except OSError as e:
            what = f"{type(e).__name__}: {e}"
        if what:
            findings.append((data, what))
            report(what)
    return findings


def log_problems(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Traceback" in line or "control request" in line and "failed" in line]


def main(argv: list[str]) -> int:
    from conftest import ManagerProcess, plist  # the test suite's manager fixture, as a script
    n = int(argv[1]) if len(argv) > 1 else 100_000
    root = Path(tempfile.mkdtemp(prefix="pl-fuzz-", dir="/tmp"))
    m = ManagerProcess(root)
    m.start()
    try:
        m.write("j.plist", plist("fuzz.job", ProgramArguments=["/bin/sleep", "60"]))
        m.wait_loaded("fuzz.job")
        started = time.monotonic()
        found = run(m.socket, n)
        alive = m.proc.poll() is None
        problems = log_problems(m.log())
    finally:
        m.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{n} requests in {time.monotonic() - started:.0f} s: {len(found)} finding(s); manager "
          f"{'alive' if alive else 'DEAD'}; {len(problems)} traceback line(s) in its log")
    for data, what in found[:20]:
        print(f"  {what}\n    input: {data[:200]!r}")
    return 1 if found or problems or not alive else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
