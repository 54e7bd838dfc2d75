"""bench/run_all.py's report: Markdown tables and PNG plots from the benchmarks' JSON.

Every table states pylaunchd beside the peer measured in the same run, and
the ratio. The plots need matplotlib (``pip install -e '.[bench]'``); without
it the tables are still written, with a note.
"""

from __future__ import annotations

import re
from pathlib import Path

BEGIN = "<!-- run_all:begin (written by bench/run_all.py; edit outside these markers) -->"
END = "<!-- run_all:end -->"


def f(x, spec: str = ".2f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    return out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def scale_md(rep: dict) -> list[str]:
    rows = []
    for n, by in rep["results"].items():
        base = by.get("xinetd", {}).get("bringup_s")
        for name in ("pylaunchd", "xinetd", "circus"):
            r = by.get(name)
            if not r:
                continue
            idle, term = r.get("idle") or {}, r.get("sigterm") or {}
            bring = f(r.get("bringup_s"), ".3f") if r.get("bringup_s") else (r.get("note") or r.get("error", "-"))
            exit_s = f(term.get("exit_s"), ".3f") if term.get("exit_s") is not None else term.get("note", "-")
            rows.append([f"{int(n):,}", name, bring, f(r.get("per_job_ms")), ratio(r.get("bringup_s"), base),
                         f(r.get("pss_mib"), ".1f"), f(idle.get("cpu_pct")), f(idle.get("wakeups_per_min"), ".1f"),
                         f"{exit_s} (status {term.get('status', '-')})", r.get("socket_files_left", "-"),
                         r.get("listed", "-") if not r.get("listed_s") else f"{r['listed']} at {r['listed_s']:.2f} s"])
    out = table(["jobs", "manager", "bring-up s", "ms per job", "bring-up / xinetd", "PSS MiB", "idle CPU %",
                 "wakeups/min", "SIGTERM -> exit s", "unix socket files left", "`list` shows all, from exec"], rows)
    return out + ["", f"Idle windows: 60 s at 10,000 jobs, else 5 s (or `--idle-seconds`); bring-up bounded by "
                      f"{rep['bringup_timeout_s']:g} s. " + " ".join(rep.get("notes", []))]


def reload_md(rep: dict) -> list[str]:
    rows = []
    for case, by in rep["results"].items():
        a, b = by["pylaunchd"], by.get("xinetd") or {}
        cell = lambda r: (f"{f(r.get('p50_ms'))} / {f(r.get('p90_ms'))} / {f(r.get('max_ms'))}"  # noqa: E731
                          + (f" ({r['failed']} failed)" if r.get("failed") else "")) if r.get("n") else "n/a"
        rows.append([case, cell(a), cell(b), ratio(a.get("p50_ms"), b.get("p50_ms"))])
    c = rep["log_checks"]
    return table(["case", "pylaunchd p50 / p90 / max ms", "xinetd (SIGHUP) p50 / p90 / max ms", "p50 ratio"], rows) + [
        "", f"{rep['trials']} trials per case, {rep['base_jobs']} jobs loaded. pylaunchd's log: "
            f"{c['loaded_lines']} loads for {c['expected_loads']} new plists, {c['reload_lines']} reloads for "
            f"{c['expected_reloads']} editor-style saves (exactly one each when equal), {c['not_loaded_lines']} "
            "plists refused as unreadable (a half-written file loaded would show here). xinetd cannot notice a "
            "change by itself: it got a SIGHUP right after each write, inside the timed window."]


def startup_md(rep: dict) -> list[str]:
    rows = []
    for name, r in rep["results"].items():
        rows.append([name, f(r.get("median_ms"), ".1f"), f"{f(r.get('min_ms'), '.1f')}-{f(r.get('max_ms'), '.1f')}",
                     f(r.get("first_median_ms"), ".1f"), f(r["refused_median"], ".0f"),
                     f(r.get("pylaunchd_ratio")) + "x" if r.get("pylaunchd_ratio") else "-"])
    return table(["manager", f"exec -> all {rep['jobs']} listening, median ms", "min-max", "first socket ms",
                  "refused connections (median)", "pylaunchd / manager"], rows) + [
        "", f"Median of {rep['runs']} runs each. " + " ".join(rep.get("notes", []))]


def activation_md(rep: dict) -> list[str]:
    rows = []
    for r in rep["results"]:
        a, b = r["pylaunchd"], r["systemd-socket-activate"]
        rows.append([r["job"], f"{f(a['p50_ms'])} / {f(a['p90_ms'])}", f"{f(b['p50_ms'])} / {f(b['p90_ms'])}",
                     f"{r['ratio_p50']:.2f}x", f"{r['ratio_p90']:.2f}x"])
    return table(["job", "pylaunchd p50 / p90 ms", "systemd-socket-activate p50 / p90 ms", "p50 ratio", "p90 ratio"],
                 rows) + ["", f"{rep['runs']} cold runs per pair."]


def spawn_md(rep: dict) -> list[str]:
    rows = []
    for mode in ("sequential", "concurrent"):
        res = rep["results"][mode]
        for peer, q in res["ratios"].items():
            rows.append([mode, peer, f(res["pylaunchd"]["conns_per_s"], ".0f"), f(res[peer]["conns_per_s"], ".0f"),
                         f"{q['conns_per_s']:.2f}x", f"{q['p50']:.2f}x"])
    return table(["mode", "peer", "pylaunchd conns/s", "peer conns/s", "conns/s ratio", "p50 latency ratio"], rows) + [
        "", f"sequential {rep['sequential']} connections, {rep['clients']} clients x {rep['per_client']}."]


def list_md(reps: list[dict]) -> list[str]:
    rows = []
    for rep in reps:
        for cmd, r in rep["results"].items():
            rows.append([f"{rep['jobs']:,}", f"`{cmd}`", f(r["p50_ms"], ".1f"), f(r["p90_ms"], ".1f"),
                         f"{r['ratio_to_python_start']:.2f}x"])
    return table(["jobs", "command", "p50 ms", "p90 ms", "x `python -c pass`"], rows)


SECTIONS = (("scale", "N on-demand jobs (`bench/scale.py`)", scale_md),
            ("reload", "Reload latency (`bench/reload.py`)", reload_md),
            ("startup", "Start-up (`bench/startup.py`)", startup_md),
            ("activation", "Cold activation (`bench/activation.py`)", activation_md),
            ("spawn_throughput", "Per-connection spawn throughput (`bench/spawn_throughput.py`)", spawn_md),
            ("list_latency", "`pylaunchctl list` (`bench/list_latency.py`)", list_md))


def markdown(run: dict, plots: list[str]) -> str:
    m = run["machine"]
    out = [BEGIN, "", f"### Last run: {m['date']}", "",
           f"Machine: {m['cpus']} CPUs ({m['cpu'] or m['arch']}), Linux {m['kernel']} {m['arch']}, "
           f"Python {m['python']}. Tree measured: `{run['repo']}` ({run['commit']}). Command: `{run['command']}`, "
           f"{run['wall_s']:.0f} s in all. Peers: {'; '.join(run['versions'])}.", ""]
    for key, title, fn in SECTIONS:
        out += [f"#### {title}", ""]
        res = run["results"].get(key)
        if isinstance(res, dict) and "error" in res and len(res) <= 2:
            out += [f"Did not finish: {res['error']}", ""]
        elif res is None:
            out += ["Not run.", ""]
        else:
            out += fn(res) + [""]
    out += ["#### Peers that cannot do a case", ""] + [f"* {n}" for n in run["cannot"]] + [""]
    out += [f"![{p}](img/{p})" for p in plots] + ["", END]
    return "\n".join(out)


def write_doc(doc: Path, block: str) -> None:
    text = doc.read_text()
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:  # the first run: right after the title
        head, _, rest = text.partition("\n")
        text = f"{head}\n\n## One run, one report (`bench/run_all.py`)\n\n{block}\n{rest}"
    doc.write_text(text)
