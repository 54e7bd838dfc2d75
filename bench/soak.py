#!/usr/bin/env python3
"""Soak: an hour (``--duration``) of churn and clients; the manager's RSS, fds
and threads over time, and every request answered.

    python3 bench/soak.py [--duration 3600] [--sample-every 10] [--json] [--write]

One pylaunchd runs, for the whole run, a job of each kind of bench/workload.py
(LISTEN_FDS, inetd ``Wait`` false, inetd ``Wait`` true, UDP) and of each kind
again crashing after every answer (SIGSEGV, SIGKILL or exit 1): eight jobs,
each with a client that asks, waits ``--pause`` and asks again, throughout.
Every ``--churn-every`` seconds a churn step, picked at random (seeded:
``--seed``): a new job of a random kind is added (its plist saved in the jobs
directory), an added job's plist is edited (its generation; every other
edit moves its socket between 127.0.0.1 and 127.0.0.2) or an added job is
removed. After an add or an edit the step waits until ``print`` shows the new
definition and asks the job once. Every request must be answered: a refused,
reset or unanswered one is *lost*.

Every ``--sample-every`` seconds: the manager's VmRSS, open descriptors,
threads, zombies and requests so far. The baseline is read after a warm-up,
the end once the clients have stopped, the added jobs were removed and every
child was reaped: fds and threads must be back to the baseline. RSS is
*flat* when the last quarter's mean RssAnon (the heap) is within 5 % of the
second quarter's (the first quarter is the allocator's and the job logs'
warm-up); VmRSS is shown beside it. The peer, in the same run:
xinetd serving the two TCP inetd kinds to a client each, its RSS sampled
alongside.

``--write`` puts the figures into docs/benchmarks.md between the ``soak``
markers and the plot into docs/img/soak.png (matplotlib).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchlib import (BenchError, add_report_options, add_repo_option, machine, report_or_replay,  # noqa: E402
                      use_repo)
from workload import KINDS, Lost, Manager, address, ask, build_job, job_plist, settle, snapshot  # noqa: E402
from xinetd_peer import XinetdPeer  # noqa: E402


class Counts:
    def __init__(self) -> None:
        self.ok = 0
        self.lost: list[str] = []
        self.lock = threading.Lock()

    def record(self, fn) -> None:
        try:
            fn()
        except Lost as e:
            with self.lock:
                self.lost.append(f"{time.strftime('%H:%M:%S')} {e}")
            return
        with self.lock:
            self.ok += 1


def client(kind: str, addr, counts: Counts, stop: threading.Event, pause: float, tag: str) -> None:
    i = 0
    while not stop.is_set():
        counts.record(lambda: ask(kind, addr, f"{tag}{i}"))
        i += 1
        stop.wait(pause)


class Churn:
    """Jobs added, edited and removed while the clients run."""

    def __init__(self, mgr: Manager, program: str, counts: Counts, seed: int, max_jobs: int) -> None:
        self.mgr, self.program, self.counts = mgr, program, counts
        self.rng = random.Random(seed)
        self.max_jobs = max_jobs
        self.jobs: dict[str, list] = {}  # label -> [kind, crash, generation]
        self.serial = 0
        self.steps = {"add": 0, "edit": 0, "remove": 0}

    def step(self) -> None:
        choices = ["add"] * (len(self.jobs) < self.max_jobs) + ["edit", "remove"] * bool(self.jobs)
        action = self.rng.choice(choices)
        self.steps[action] += 1
        if action == "add":
            self.serial += 1
            label = f"bench.soak.churn{self.serial}"
            self.jobs[label] = [self.rng.choice(KINDS), self.rng.random() < 0.5, 0]
            self._save_and_ask(label)
        elif action == "edit":
            label = self.rng.choice(sorted(self.jobs))
            self.jobs[label][2] += 1
            self._save_and_ask(label)
        else:
            self.remove(self.rng.choice(sorted(self.jobs)))

    def _save_and_ask(self, label: str) -> None:
        kind, crash, gen = self.jobs[label]
        self.mgr.write(label, job_plist(kind, label, self.program, crash=crash, generation=gen))
        info = self.mgr.wait_info(label, lambda i: i["environment"].get("GENERATION") == str(gen) and i["sockets"],
                                  30, f"generation {gen}")
        self.counts.record(lambda: ask(kind, address(info), f"{label}-g{gen}"))

    def remove(self, label: str) -> None:
        del self.jobs[label]
        self.mgr.remove(label)
        self.mgr.wait_ready(self.mgr.log, f"{label} to unload", lambda: self.mgr.info(label) is None, 30, 0.02)

    def remove_all(self) -> None:
        for label in sorted(self.jobs):
            self.remove(label)


def stable_jobs() -> dict:
    return {f"bench.soak.{kind}{'.crash' if crash else ''}": (kind, crash) for kind in KINDS for crash in (False, True)}


def start_clients(targets: dict, counts: Counts, stop, pause: float) -> list[threading.Thread]:
    threads = [threading.Thread(target=client, args=(kind, addr, counts, stop, pause, f"{name}-"), daemon=True)
               for name, (kind, addr) in targets.items()]
    for t in threads:
        t.start()
    return threads


def sample_loop(args, mgr, peer, counts, peer_counts, churn, stop, t0) -> list[dict]:
    samples = []
    next_churn = time.monotonic() + args.churn_every
    next_sample = time.monotonic()
    while (now := time.monotonic()) < t0 + args.duration:
        if now >= next_sample:
            s = snapshot(mgr.pid)
            s.update(t_s=round(now - t0, 1), ok=counts.ok, lost=len(counts.lost), churn_jobs=len(churn.jobs))
            if peer is not None:
                p = snapshot(peer.pid)
                s.update(peer_rss_kib=p["rss_kib"], peer_anon_kib=p["anon_kib"], peer_fds=p["fds"], peer_ok=peer_counts.ok,
                         peer_lost=len(peer_counts.lost))
            samples.append(s)
            next_sample += args.sample_every
        if now >= next_churn:
            churn.step()
            next_churn = time.monotonic() + args.churn_every
        time.sleep(max(0.0, min(next_churn, next_sample) - time.monotonic()))
    stop.set()
    return samples


def flat(samples: list[dict], key: str) -> dict | None:
    """Mean of the second and of the last quarter of *key*, and the growth between them."""
    if key not in samples[0]:
        return None
    q = max(1, len(samples) // 4)
    second = [s[key] for s in samples[q:2 * q]] or [samples[0][key]]
    last = [s[key] for s in samples[-q:]]
    a, b = sum(second) / len(second), sum(last) / len(last)
    return {"second_quarter_mib": round(a / 1024, 2), "last_quarter_mib": round(b / 1024, 2),
            "growth_pct": round(100 * (b - a) / a, 2), "max_mib": round(max(s[key] for s in samples) / 1024, 2),
            "min_mib": round(min(s[key] for s in samples) / 1024, 2)}


def run(args) -> dict:
    root = Path(tempfile.mkdtemp(prefix="pl-soak-", dir="/tmp"))
    mgr = peer = None
    try:
        program = build_job(root)
        mgr = Manager(root / "pylaunchd", args.repo)
        for label, (kind, crash) in stable_jobs().items():
            mgr.write(label, job_plist(kind, label, program, crash=crash))
        mgr.start()
        targets = {label: (kind, address(mgr.wait_info(label, lambda i: i["sockets"], 30, "loaded")))
                   for label, (kind, crash) in stable_jobs().items()}
        for name, (kind, addr) in targets.items():  # warm-up
            for i in range(20):
                ask(kind, addr, f"warm{i}")
        mgr.wait_quiet(list(targets))
        base = settle(mgr.pid)
        peer_counts = Counts()
        if not args.no_peer:
            try:
                peer = XinetdPeer(root / "xinetd", program)
                peer.start()
            except BenchError as e:
                print(f"soak: no xinetd peer: {e}", file=sys.stderr)
                peer = None
        counts, stop = Counts(), threading.Event()
        churn = Churn(mgr, program, counts, args.seed, args.max_churn_jobs)
        threads = start_clients(targets, counts, stop, args.pause)
        if peer is not None:
            threads += start_clients({f"xinetd.{k}": (k, a) for k, a in peer.addresses().items()}, peer_counts,
                                     stop, args.pause)
        t0 = time.monotonic()
        samples = sample_loop(args, mgr, peer, counts, peer_counts, churn, stop, t0)
        for t in threads:
            t.join(timeout=30)
        churn.remove_all()
        mgr.wait_quiet(list(targets))
        end = settle(mgr.pid)
        runs = {label: (mgr.info(label) or {}).get("runs") for label in targets}
        report = {"machine": machine(), "duration_s": args.duration, "pause_s": args.pause,
                  "churn_every_s": args.churn_every, "seed": args.seed, "baseline": base, "end": end,
                  "requests": counts.ok + len(counts.lost), "lost": len(counts.lost), "lost_sample": counts.lost[:10],
                  "churn_steps": churn.steps, "runs": runs, "rss": flat(samples, "rss_kib"),
                  "anon": flat(samples, "anon_kib"),
                  "fds_range": [min(s["fds"] for s in samples), max(s["fds"] for s in samples)],
                  "threads_range": [min(s["threads"] for s in samples), max(s["threads"] for s in samples)],
                  "samples": samples}
        if peer is not None:
            report["peer"] = {"version": peer.version(), "requests": peer_counts.ok + len(peer_counts.lost),
                              "lost": len(peer_counts.lost), "rss": flat(samples, "peer_rss_kib"),
                              "anon": flat(samples, "peer_anon_kib")}
        report["holds"] = (report["lost"] == 0 and end["fds"] == base["fds"] and end["threads"] == base["threads"]
                           and end["zombies"] == 0 and report["anon"]["growth_pct"] <= 5)
        return report
    finally:
        for p in (peer, mgr):
            if p is not None and p.proc is not None:
                p.stop()
        shutil.rmtree(root, ignore_errors=True)


def render(rep: dict) -> str:
    rss, b, e = rep["rss"], rep["baseline"], rep["end"]
    out = ["| figure | pylaunchd | xinetd (same run) |", "|---|---:|---:|"]
    peer = rep.get("peer") or {}
    prss = peer.get("rss") or {}
    out += [f"| requests answered / lost | {rep['requests'] - rep['lost']:,} / {rep['lost']} | "
            + (f"{peer['requests'] - peer['lost']:,} / {peer['lost']} |" if peer else "- |"),
            f"| RSS, mean of the 2nd quarter -> last quarter | {rss['second_quarter_mib']:.1f} -> "
            f"{rss['last_quarter_mib']:.1f} MiB ({rss['growth_pct']:+.1f} %) | "
            + (f"{prss['second_quarter_mib']:.1f} -> {prss['last_quarter_mib']:.1f} MiB ({prss['growth_pct']:+.1f} %) |"
               if prss else "- |"),
            f"| RSS min-max over the run | {rss['min_mib']:.1f}-{rss['max_mib']:.1f} MiB | "
            + (f"{prss['min_mib']:.1f}-{prss['max_mib']:.1f} MiB |" if prss else "- |")]
    anon, panon = rep.get("anon"), peer.get("anon")
    if anon:
        out.append(f"| RssAnon (the heap), 2nd quarter -> last quarter | {anon['second_quarter_mib']:.1f} -> "
                   f"{anon['last_quarter_mib']:.1f} MiB ({anon['growth_pct']:+.1f} %) | "
                   + (f"{panon['second_quarter_mib']:.1f} -> {panon['last_quarter_mib']:.1f} MiB "
                      f"({panon['growth_pct']:+.1f} %) |" if panon else "- |"))
    out += [
            f"| open fds: baseline / range during / end | {b['fds']} / {rep['fds_range'][0]}-{rep['fds_range'][1]} / "
            f"{e['fds']} | - |",
            f"| threads: baseline / range / end | {b['threads']} / {rep['threads_range'][0]}-{rep['threads_range'][1]}"
            f" / {e['threads']} | - |",
            f"| zombies at the end | {e['zombies']} | - |"]
    steps = rep["churn_steps"]
    out += ["", f"{rep['duration_s'] / 60:.0f} min, clients pausing {rep['pause_s']:g} s between requests, "
                f"a churn step every {rep['churn_every_s']:g} s (seed {rep['seed']}): {steps['add']} jobs added, "
                f"{steps['edit']} edited, {steps['remove']} removed. Runs of the eight steady jobs: "
                + ", ".join(f"{k.removeprefix('bench.soak.')} {v:,}" for k, v in rep["runs"].items()) + "."]
    if rep["lost_sample"]:
        out.append("Lost: " + "; ".join(rep["lost_sample"]))
    m = rep["machine"]
    grew = rep.get("anon") or rss
    holds = rep["lost"] == 0 and b["fds"] == e["fds"] and b["threads"] == e["threads"] and e["zombies"] == 0 \
        and grew["growth_pct"] <= 5
    out.append(f"Holds (nothing lost; fds and threads back to the baseline; no zombie; "
               f"{'anonymous ' if rep.get('anon') else ''}RSS within 5 %): "
               f"{'yes' if holds else '**no**'}. Machine: {m['cpus']} CPUs, Linux {m['kernel']}, "
               f"Python {m['python']}, {m['date']}.")
    return "\n".join(out)


def plot(rep: dict, path: Path) -> None:
    from plots import _plt

    plt = _plt()
    samples = rep["samples"]
    t = [s["t_s"] / 60 for s in samples]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    ax1.plot(t, [s["rss_kib"] / 1024 for s in samples], label="pylaunchd VmRSS")
    if "anon_kib" in samples[0]:
        ax1.plot(t, [s["anon_kib"] / 1024 for s in samples], label="pylaunchd RssAnon", color="C0", ls="--")
    if "peer_rss_kib" in samples[0]:
        ax1.plot(t, [s["peer_rss_kib"] / 1024 for s in samples], label="xinetd VmRSS", color="C1")
    ax1.set_ylabel("MiB")
    ax1.set_ylim(bottom=0)
    ax1.legend()
    ax1.grid(True, alpha=0.3)
    ax1.set_title(f"Soak: {rep['duration_s'] / 60:.0f} min of churn and clients, {rep['lost']} requests lost")
    ax2.plot(t, [s["fds"] for s in samples], label="pylaunchd open fds", color="C2")
    ax2.plot(t, [s["churn_jobs"] for s in samples], label="churned jobs loaded", color="C3", alpha=0.6)
    ax2.set_xlabel("minutes")
    ax2.legend()
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=3600, help="seconds (default 3600)")
    p.add_argument("--sample-every", type=float, default=10, help="seconds between samples (default 10)")
    p.add_argument("--churn-every", type=float, default=3, help="seconds between churn steps (default 3)")
    p.add_argument("--pause", type=float, default=0.2, help="each client's pause between requests, s")
    p.add_argument("--max-churn-jobs", type=int, default=20)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--no-peer", action="store_true", help="skip xinetd")
    add_report_options(p, "the figures (and the plot into docs/img/soak.png)")
    add_repo_option(p)
    args = p.parse_args(argv)
    args.repo = use_repo(args.repo)
    report = report_or_replay(run, args, render, "soak")
    if report is None:
        return 1
    if args.write:
        from report import write_block

        plot(report, HERE.parent / "docs" / "img" / "soak.png")
        write_block(HERE.parent / "docs" / "benchmarks.md", "soak", render(report) + "\n\n![soak](img/soak.png)",
                    "## Soak (`bench/soak.py`)")
    return 0 if report["holds"] else 2


if __name__ == "__main__":
    sys.exit(main())
