"""contrib/Dockerfile: pylaunchd as a container's entrypoint with two example
daemons. Parsed and checked here; built only where a container runtime
answers (skipped with the reason elsewhere)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pylaunchd.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "contrib" / "Dockerfile"
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def instructions() -> list[tuple[str, str]]:
    out, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def test_the_dockerfile_parses_and_runs_pylaunchd_as_its_entrypoint():
    steps = instructions()
    assert all(word in INSTRUCTIONS for word, _ in steps), steps
    assert steps[0][0] == "FROM"
    entrypoint = [rest for word, rest in steps if word == "ENTRYPOINT"]
    assert len(entrypoint) == 1
    argv = json.loads(entrypoint[0])  # exec form: pylaunchd itself is PID 1, no shell in between
    assert argv[0] == "pylaunchd" and "--system" in argv
    assert ("STOPSIGNAL", "SIGTERM") in steps
    for word, rest in steps:
        if word == "COPY" and not rest.startswith("--from="):  # (a build stage's files are its own)
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_the_example_daemons_load():
    plists = sorted((ROOT / "contrib" / "container" / "LaunchDaemons").glob("*.plist"))
    assert len(plists) == 2
    labels = {load_spec(str(p)).label for p in plists}
    assert labels == {"com.example.hello-http", "com.example.dbus"}


def _runtime_problem() -> str | None:
    docker = shutil.which("docker") or shutil.which("podman")
    if docker is None:
        return "no container runtime (docker or podman) is installed"
    cp = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=30)
    if cp.returncode != 0:
        return f"{docker} info fails: {(cp.stderr or cp.stdout).strip().splitlines()[-1:]}"
    return None


def test_the_image_builds():
    problem = _runtime_problem()
    if problem:
        pytest.skip(problem)
    docker = shutil.which("docker") or shutil.which("podman")
    cp = subprocess.run([docker, "build", "-f", str(DOCKERFILE), "-t", "pylaunchd-test-image", str(ROOT)],
                        capture_output=True, text=True, timeout=900)
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-3000:]


def test_the_images_init_serves_its_two_daemons_and_stops_cleanly(workdir):
    """What the image runs, without a container runtime: pylaunchd as PID 1 of
    new PID and network namespaces (the container's), with the image's own two
    plists and its ENTRYPOINT's --system. HTTP on 8080 answers (the job starts
    on the connection), dbus-daemon says READY=1, and SIGTERM (docker stop)
    ends it with status 0, well inside docker's 10 s grace."""
    from test_pid1 import UNSHARE, Init, _namespace_problem
    problem = _namespace_problem() or (None if shutil.which("dbus-daemon") and shutil.which("ip")
                                       and shutil.which("nsenter") else "needs dbus-daemon, ip and nsenter")
    if problem:
        pytest.skip(problem)
    run_dir = Path("/run/dbus-example")  # the image's mkdir -p /run/dbus-example
    made = not run_dir.exists()
    run_dir.mkdir(exist_ok=True)
    # The container's own loopback, and its own /run/dbus-example (a tmpfs in
    # the namespace's mounts: two runs of this test never share the bus path).
    lo_up = ["--net", "/bin/sh", "-c",
             f'mount -t tmpfs tmpfs {run_dir} && ip link set lo up && exec "$0" "$@"']
    m = Init(workdir, ["--system"])
    m.prefix = [*UNSHARE, *lo_up]
    # the image's python3 has pylaunchd installed: so must the python3 its plist finds here
    m.env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    for p in sorted((ROOT / "contrib" / "container" / "LaunchDaemons").glob("*.plist")):
        shutil.copy(p, m.jobs_dir / p.name)
    try:
        m.start()
        m.wait(lambda: (m.info("com.example.dbus") or {}).get("ready"), 20, "dbus-daemon to send READY=1")
        cp = subprocess.run(["nsenter", "-t", str(m.init_pid), "-n", "curl", "-s", "-m", "15",
                             "http://127.0.0.1:8080/"], capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0 and cp.stdout, cp
        assert m.info("com.example.hello-http")["pid"], "started by the connection"
        m.signal(signal.SIGTERM)
        assert m.exit_status(timeout=10) == 0
    finally:
        m.stop(timeout=10)
        if made:
            with contextlib.suppress(OSError):
                run_dir.rmdir()


def test_the_images_entrypoint_as_written_answers_docker_exec_pylaunchctl(workdir):
    """The ENTRYPOINT's own command line (its jobs directory where COPY put
    it here), nothing added: the system domain's default control socket in
    the container's /run, found by a bare ``pylaunchctl`` that joins the
    container as ``docker exec`` does (its mount, network and PID
    namespaces); then SIGTERM, exit 0."""
    from test_pid1 import _namespace_problem
    from conftest import wait_for
    problem = _namespace_problem() or (None if all(shutil.which(p) for p in ("dbus-daemon", "ip", "nsenter", "curl"))
                                       else "needs dbus-daemon, ip, nsenter and curl")
    bindir = Path(sys.executable).parent
    if problem is None and not (bindir / "pylaunchd").exists():
        problem = f"the pylaunchd and pylaunchctl commands are not installed beside {sys.executable}"
    if problem:
        pytest.skip(problem)
    argv = json.loads(next(rest for word, rest in instructions() if word == "ENTRYPOINT"))
    argv[argv.index("--jobs-dir") + 1] = str(ROOT / "contrib" / "container" / "LaunchDaemons")
    # The container's own /run (its control socket and the bus directory the
    # image makes) and loopback; the commands on PATH as the image installs them.
    init = ("mount -t tmpfs tmpfs /run && mkdir -p /run/dbus-example && ip link set lo up && "
            'exec "$0" "$@"')
    env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    env.pop("PYLAUNCHD_CONTROL_SOCKET", None)
    log = open(workdir / "container.log", "wb")
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--net", "/bin/sh", "-c", init, *argv],
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    inits: list[int] = []
    try:
        def child():
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        inits = wait_for(child, 10, what="the container's init")

        def docker_exec(*command):
            return subprocess.run(["nsenter", "-t", str(inits[0]), "-m", "-n", "-p", "--", *command], env=env,
                                  capture_output=True, text=True, timeout=30)
        wait_for(lambda: "ready = yes" in docker_exec("pylaunchctl", "print", "com.example.dbus").stdout, 20,
                 what="dbus-daemon ready, seen by docker exec's pylaunchctl")
        cp = docker_exec("curl", "-s", "-m", "15", "http://127.0.0.1:8080/")
        assert cp.returncode == 0 and "Hello" in cp.stdout, cp
        os.kill(inits[0], signal.SIGTERM)  # docker stop
        assert proc.wait(timeout=10) == 0, (workdir / "container.log").read_text()[-3000:]
    finally:
        if proc.poll() is None:
            for pid in inits:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
