#!/usr/bin/env python3
"""First-call latency of a bus-activated service: pylaunchd against dbus-daemon's own activation.

What is timed: from just before a client sends a method call to a name
nobody owns, to the arrival of its reply. In between, the service is started,
connects, takes the name, and answers the call that dbus-daemon queued for it.
Every call is cold: the service answers one call and exits, and the next run
waits until the name has no owner (and, under pylaunchd, until the job is
``waiting`` again).

The two ways, on one private bus in one run (so that the bus, the machine
and the service are the same for both):

``pylaunchd``  the service is a job with ``MachServices``; pylaunchd wrote its
               ``NAME.service`` file (``SystemdService=LABEL``), and the bus,
               run with ``--systemd-activation``, sends pylaunchd an
               ``ActivationRequest``; pylaunchd starts the job
               (``ThrottleInterval`` 0, so each run starts it at once).
``dbus-daemon`` classic activation: a ``.service`` file with only ``Name=`` and
               ``Exec=``, which dbus-daemon forks and execs itself (through its
               babysitter process), as on a bus with no activator.

The bus is ``dbus-daemon --address=systemd: --systemd-activation`` run by the
same pylaunchd as a socket-activated job, with a private configuration whose
two ``<servicedir>`` are pylaunchd's ``--bus-service-dir`` and the classic
files' directory. Two services, each the same program both ways:

``tiny``    a D-Bus service in plain C compiled here with ``cc`` (no library:
            it speaks the protocol itself, AUTH EXTERNAL, Hello, RequestName,
            one reply), so its own start-up is a millisecond or two and the
            starter's cost is what shows. Skipped (with a note) without ``cc``.
``python``  a small Python service using jeepney, pylaunchd's own D-Bus
            library: a typical service, whose interpreter start-up is most of
            the figure.

Runs of the two ways are interleaved (shuffled each round) after untimed
warm-up rounds, with the same settle time before each call. The client is
one jeepney connection opened before the first run (its connection starts the
bus job). Usage: ``python3 bench/bus_activation.py [--runs N] [--json]``. A
benchmark, not a test: it exits 0 whatever the figures are, non-zero only if
a run failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import plistlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import REPO as DEFAULT_REPO  # noqa: E402
from benchlib import (BenchError, add_cold_run_options, add_repo_option, distribution,  # noqa: E402
                      log_tail, pylaunchd_argv, repo_env, run_and_report, terminate, tiny_and_python,
                      use_repo, version_line, wait_for)

DBUS_DAEMON = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"
REPO = DEFAULT_REPO
IFACE = "org.pylaunchd.Bench"
WAYS = ("pylaunchd", "dbus-daemon")
BUS_LABEL = "bench.bus.dbus"


def bus_name(job: str, way: str) -> str:
    return f"org.pylaunchd.Bench.{'Launchd' if way == 'pylaunchd' else 'Classic'}.{job.capitalize()}"


def job_label(job: str) -> str:
    return f"bench.bus.{job}"


TINY_C = r"""
/* A D-Bus service in plain C, no library: connect to DBUS_STARTER_ADDRESS,
   take the name argv[1], answer the first method call with "pong", exit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct { unsigned char b[65536]; size_t n; } Buf;

static void pad(Buf *m, size_t a) { while (m->n % a) m->b[m->n++] = 0; }
static void u8(Buf *m, unsigned v) { m->b[m->n++] = (unsigned char)v; }
static void u32(Buf *m, uint32_t v) { pad(m, 4); memcpy(m->b + m->n, &v, 4); m->n += 4; }
static void str(Buf *m, const char *s) {
    size_t l = strlen(s); u32(m, (uint32_t)l); memcpy(m->b + m->n, s, l + 1); m->n += l + 1;
}
static void sig(Buf *m, const char *s) {
    size_t l = strlen(s); u8(m, (unsigned)l); memcpy(m->b + m->n, s, l + 1); m->n += l + 1;
}
static void fstr(Buf *m, int code, const char *type, const char *s) {
    pad(m, 8); u8(m, (unsigned)code); sig(m, type);
    if (type[0] == 'g') sig(m, s); else str(m, s);
}
static void fu32(Buf *m, int code, uint32_t v) { pad(m, 8); u8(m, (unsigned)code); sig(m, "u"); u32(m, v); }
static void begin(Buf *m, int type, uint32_t serial) {
    m->n = 0; u8(m, 'l'); u8(m, (unsigned)type); u8(m, 0); u8(m, 1); u32(m, 0); u32(m, serial); u32(m, 0);
}
static size_t fields_done(Buf *m) {  /* the fields' length; the body starts 8-aligned */
    uint32_t len = (uint32_t)(m->n - 16); memcpy(m->b + 12, &len, 4); pad(m, 8); return m->n;
}
static void body_done(Buf *m, size_t start) { uint32_t len = (uint32_t)(m->n - start); memcpy(m->b + 4, &len, 4); }
static void call(Buf *m, uint32_t serial, const char *member, const char *signature) {
    begin(m, 1, serial);
    fstr(m, 1, "o", "/org/freedesktop/DBus"); fstr(m, 6, "s", "org.freedesktop.DBus");
    fstr(m, 2, "s", "org.freedesktop.DBus"); fstr(m, 3, "s", member);
    if (signature) fstr(m, 8, "g", signature);
}
static int send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) { ssize_t w = write(fd, c, n); if (w <= 0) return -1; c += w; n -= (size_t)w; }
    return 0;
}
static int read_all(int fd, void *p, size_t n) {
    char *c = p;
    while (n) { ssize_t r = read(fd, c, n); if (r <= 0) return -1; c += r; n -= (size_t)r; }
    return 0;
}
static size_t up8(size_t x) { return (x + 7) & ~(size_t)7; }

int main(int argc, char **argv) {
    const char *addr = getenv("DBUS_STARTER_ADDRESS");
    if (!addr) addr = getenv("DBUS_SESSION_BUS_ADDRESS");
    if (argc < 2 || !addr) return 2;
    const char *p = strstr(addr, "unix:path=");
    if (!p) return 2;
    p += 10;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t plen = strcspn(p, ",;");
    if (plen >= sizeof sa.sun_path) return 2;
    memcpy(sa.sun_path, p, plen);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) return 1;

    char uid[32], hex[64], line[256];
    snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
    for (size_t i = 0; uid[i]; i++) sprintf(hex + 2 * i, "%02x", (unsigned char)uid[i]);
    int n = snprintf(line, sizeof line, "%cAUTH EXTERNAL %s\r\n", 0, hex);
    if (send_all(fd, line, (size_t)n) < 0) return 1;
    size_t got = 0;
    while (got < 2 || memcmp(line + got - 2, "\r\n", 2) != 0) {
        if (got >= sizeof line - 1 || read(fd, line + got, 1) != 1) return 1;
        got++;
    }
    if (strncmp(line, "OK ", 3) != 0) return 1;
    static Buf m;
    if (send_all(fd, "BEGIN\r\n", 7) < 0) return 1;
    call(&m, 1, "Hello", NULL); body_done(&m, fields_done(&m));
    if (send_all(fd, m.b, m.n) < 0) return 1;
    call(&m, 2, "RequestName", "su");
    size_t start = fields_done(&m); str(&m, argv[1]); u32(&m, 4); body_done(&m, start);
    if (send_all(fd, m.b, m.n) < 0) return 1;

    static unsigned char in[1 << 20];
    for (;;) {
        if (read_all(fd, in, 16) < 0) return 1;
        uint32_t body_len, serial, fields_len;
        memcpy(&body_len, in + 4, 4); memcpy(&serial, in + 8, 4); memcpy(&fields_len, in + 12, 4);
        size_t total = up8(16 + fields_len) + body_len;
        if (in[0] != 'l' || total > sizeof in || read_all(fd, in + 16, total - 16) < 0) return 1;
        if (in[1] != 1) continue;  /* not a method call: NameAcquired, the replies */
        const char *sender = NULL;
        size_t q = 16, end = 16 + fields_len;
        while (q < end) {
            q = up8(q);
            unsigned code = in[q++], sl = in[q++];
            char t = (char)in[q]; q += sl + 1;
            if (t == 's' || t == 'o') {
                q = (q + 3) & ~(size_t)3; uint32_t l; memcpy(&l, in + q, 4); q += 4;
                if (code == 7) sender = (const char *)in + q;
                q += l + 1;
            } else if (t == 'g') { q += in[q] + 2u; }
            else if (t == 'u') { q = (q + 3) & ~(size_t)3; q += 4; }
            else return 1;
        }
        begin(&m, 2, 3);
        fu32(&m, 5, serial);
        if (sender) fstr(&m, 6, "s", sender);
        fstr(&m, 8, "g", "s");
        start = fields_done(&m); str(&m, "pong"); body_done(&m, start);
        if (send_all(fd, m.b, m.n) < 0) return 1;
        close(fd);
        return 0;
    }
}
"""

PROVIDER = r'''
"""Take NAME on DBUS_STARTER_ADDRESS, answer one call with "pong", exit.
It reads before the RequestName reply: dbus-daemon hands over the queued call first."""
import os
import sys

from jeepney import MessageType, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

conn = open_dbus_connection(os.environ.get("DBUS_STARTER_ADDRESS") or os.environ["DBUS_SESSION_BUS_ADDRESS"])
conn.send(message_bus.RequestName(sys.argv[1], 4))
while True:
    msg = conn.receive()
    if msg.header.message_type is MessageType.method_call:
        conn.send(new_method_return(msg, "s", ("pong",)))
        break
conn.close()
'''

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>systemd:</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{pylaunchd}</servicedir>
  <servicedir>{classic}</servicedir>
  <limit name="service_start_timeout">20000</limit>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Setup:
    """The private bus, pylaunchd running it and the provider jobs, the classic files, one client."""

    def __init__(self, root: Path, jobs: dict[str, list[str]]):
        self.root, self.jobs = root, jobs
        self.bus = root / "bus"
        self.address = f"unix:path={self.bus}"
        self.pl_services, self.classic_services = root / "pl-services", root / "classic-services"
        self.jobs_dir, self.control = root / "jobs", str(root / "ctl.sock")
        self.log_path = root / "pylaunchd.log"
        self.proc: subprocess.Popen | None = None
        self.conn = None
        for d in (self.pl_services, self.classic_services, self.jobs_dir):
            d.mkdir()
        (root / "bus.conf").write_text(BUS_CONF.format(pylaunchd=self.pl_services, classic=self.classic_services))
        self._plist(BUS_LABEL, {
            "ProgramArguments": [DBUS_DAEMON, f"--config-file={root / 'bus.conf'}", "--address=systemd:",
                                 "--systemd-activation", "--nofork", "--nopidfile"],
            "Sockets": {"bus": {"SockPathName": str(self.bus), "SockPathMode": 0o600}},
            "StandardErrorPath": str(root / "dbus.log")})
        for job, argv in jobs.items():
            classic = bus_name(job, "dbus-daemon")
            (self.classic_services / f"{classic}.service").write_text(
                f"[D-BUS Service]\nName={classic}\nExec={' '.join(argv)} {classic}\n")
            name = bus_name(job, "pylaunchd")
            self._plist(job_label(job), {"ProgramArguments": [*argv, name], "MachServices": {name: True},
                                         "ThrottleInterval": 0})

    def _plist(self, label: str, keys: dict) -> None:
        path = self.jobs_dir / f"{label}.plist"
        path.write_bytes(plistlib.dumps({"Label": label, **keys}))
        os.chmod(path, 0o644)

    def request(self, verb: str, args: dict | None = None):
        from pylaunchd.control.protocol import request
        return request(self.control, verb, args, timeout=10)

    def start(self) -> None:
        argv = pylaunchd_argv(self.jobs_dir, self.control, self.root / "state") + [
            "--user", "--bus-address", self.address, "--bus-service-dir", str(self.pl_services)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=repo_env(REPO))
        labels = [BUS_LABEL, *map(job_label, self.jobs)]
        self._wait(lambda: all(self._info(label) for label in labels), 20, "pylaunchd to load the jobs")
        from jeepney.io.blocking import open_dbus_connection
        self.conn = open_dbus_connection(self.address)   # its connection starts the bus job
        names = {bus_name(job, way) for job in self.jobs for way in WAYS}
        self._wait(lambda: names <= set(self.call_bus("ListActivatableNames")[0]), 20, "every name to be activatable")

    def _wait(self, predicate, timeout: float, what: str):
        def check():
            if self.proc.poll() is not None:
                raise BenchError(f"pylaunchd exited with {self.proc.returncode}:\n{log_tail(self.log_path)}")
            return predicate()
        try:
            return wait_for(check, timeout, what, 0.005)
        except BenchError as e:
            raise BenchError(f"{e}\n--- pylaunchd log ---\n{log_tail(self.log_path)}\n--- dbus-daemon log ---\n"
                             f"{log_tail(self.root / 'dbus.log')}") from None

    def _info(self, label: str):
        from pylaunchd.control.protocol import ControlError
        try:
            return self.request("print", {"label": label})
        except ControlError:
            return None

    def call_bus(self, method: str, *args):
        from jeepney.bus_messages import message_bus
        reply = self.conn.send_and_get_reply(getattr(message_bus, method)(*args), timeout=10)
        return reply.body

    def prepare(self, job: str, way: str) -> None:
        """Wait until the run will be cold: the name unowned, and the job waiting with no process."""
        name = bus_name(job, way)
        if way == "pylaunchd":
            label = job_label(job)
            self._wait(lambda: (lambda i: i["state"] == "waiting" and i["pid"] is None)(self._info(label)),
                       10, f"{label} to be waiting again")
        self._wait(lambda: not self.call_bus("NameHasOwner", name)[0], 10, f"{name} to have no owner")

    def first_call(self, job: str, way: str) -> float:
        from jeepney import DBusAddress, MessageType, new_method_call
        msg = new_method_call(DBusAddress("/", bus_name(job, way), IFACE), "Ping")
        t0 = time.perf_counter()
        reply = self.conn.send_and_get_reply(msg, timeout=30)
        elapsed = time.perf_counter() - t0
        if reply.header.message_type is MessageType.error or reply.body != ("pong",):
            raise BenchError(f"{job} by {way}: unexpected answer {reply.body!r}\n--- pylaunchd log ---\n"
                             f"{log_tail(self.log_path)}")
        return elapsed

    def runs_of(self, job: str) -> int:
        return self._info(job_label(job))["runs"]

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        terminate(self.proc, 30)


def _stats(data: list[float], **extra) -> dict:
    return {**distribution(data), "min_ms": min(data) * 1000, **extra}


def _measure(setup: Setup, args) -> tuple[dict, float]:
    pairs = [(job, way) for job in setup.jobs for way in WAYS]
    samples: dict[tuple[str, str], list[float]] = {p: [] for p in pairs}
    rng = random.Random(args.seed)
    t_start = time.monotonic()
    for round_no in range(args.warmup + args.runs):
        order = pairs[:]
        rng.shuffle(order)
        for job, way in order:
            setup.prepare(job, way)
            time.sleep(args.settle / 1000)
            elapsed = setup.first_call(job, way)
            if round_no >= args.warmup:
                samples[(job, way)].append(elapsed)
    return samples, time.monotonic() - t_start


def run(args) -> dict:
    if not os.access(DBUS_DAEMON, os.X_OK):
        raise BenchError(f"{DBUS_DAEMON} not found: install the Debian package dbus-daemon "
                         "(scripts/install-test-programs)")
    try:
        import jeepney  # noqa: F401
    except ImportError:
        raise BenchError("jeepney is not installed (it is a dependency of pylaunchd: pip install -e .)") from None
    tmp = Path(tempfile.mkdtemp(prefix="plbus-", dir="/tmp"))
    setup = None
    try:
        jobs, notes = tiny_and_python(tmp, TINY_C, PROVIDER, "service", "provider.py")
        setup = Setup(tmp, jobs)
        setup.start()
        samples, wall = _measure(setup, args)
        results = []
        for job in jobs:
            setup.prepare(job, "pylaunchd")
            runs = setup.runs_of(job)
            if runs != args.warmup + args.runs:
                notes.append(f"{job}: pylaunchd started it {runs} times for {args.warmup + args.runs} calls: "
                             "some runs were not cold")
            a, b = _stats(samples[(job, "pylaunchd")], job_runs=runs), _stats(samples[(job, "dbus-daemon")])
            results.append({"job": job, "pylaunchd": a, "dbus-daemon": b, "ratio_p50": a["p50_ms"] / b["p50_ms"],
                            "ratio_p90": a["p90_ms"] / b["p90_ms"], "extra_p50_ms": a["p50_ms"] - b["p50_ms"]})
        return {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "arch": platform.machine(),
                        "python": platform.python_version(), "dbus": version_line(DBUS_DAEMON)},
            "runs": args.runs, "warmup": args.warmup, "settle_ms": args.settle, "seed": args.seed,
            "wall_s": round(wall, 1), "notes": notes, "results": results,
        }
    finally:
        if setup is not None:
            setup.stop()
        shutil.rmtree(tmp, ignore_errors=True)


TITLES = {"tiny": "tiny (C, no library)", "python": "python (jeepney)"}


def render(report: dict) -> str:
    m = report["machine"]
    lines = [f"bus activation, first call -> reply; {report['runs']} cold runs per pair (+{report['warmup']} "
             f"warm-up), settle {report['settle_ms']:g} ms, {report['wall_s']} s",
             f"{report['date']}; {m['cpus']} CPUs, Linux {m['kernel']} {m['arch']}, Python {m['python']}, {m['dbus']}",
             "", f"{'service':<22} {'started by':<34} {'p50 ms':>8} {'p90 ms':>8} {'min ms':>8} {'max ms':>8}"]
    for row in report["results"]:
        for way, title in (("pylaunchd", "pylaunchd (MachServices)"), ("dbus-daemon", "dbus-daemon (classic Exec=)")):
            x = row[way]
            lines.append(f"{TITLES[row['job']]:<22} {title:<34} {x['p50_ms']:8.2f} {x['p90_ms']:8.2f} "
                         f"{x['min_ms']:8.2f} {x['max_ms']:8.2f}")
    lines += ["", f"{'ratio pylaunchd / dbus-daemon':<30} {'p50':>8} {'p90':>8} {'p50 extra ms':>13}"]
    for row in report["results"]:
        lines.append(f"{TITLES[row['job']]:<30} {row['ratio_p50']:7.2f}x {row['ratio_p90']:7.2f}x "
                     f"{row['extra_p50_ms']:+13.2f}")
    return "\n".join(lines + [f"note: {n}" for n in report["notes"]])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cold_run_options(p, 30, "(service, way) pair", "before each call")
    add_repo_option(p)
    args = p.parse_args(argv)
    global REPO
    REPO = use_repo(args.repo)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return 0 if run_and_report(run, args, render, "bus activation") is not None else 1


if __name__ == "__main__":
    sys.exit(main())
