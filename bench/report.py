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
        for name in ("pylaunchd", "pylaunchd warm", "pylaunchd-python", "xinetd", "circus"):
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
                 "wakeups/min", "SIGTERM -> exit s", "unix socket files left / made", "`list` shows all, from exec"], rows)
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
                     f(r.get("xinetd_ratio")) + "x" if r.get("xinetd_ratio") else "-"])
    return table(["manager", f"exec -> all {rep['jobs']} listening, median ms", "min-max", "first socket ms",
                  "refused connections (median)", "manager / xinetd"], rows) + [
        "", f"Median of {rep['runs']} runs each. `pylaunchd`: the installed command (its C front end binds the "
            "sockets, then runs the Python manager), a cold start (no boot cache: a first boot, or every plist "
            "changed); `pylaunchd warm`: the same plists after one earlier run, its boot cache current; "
            "`pylaunchd-python`: the Python manager alone (no C front end), cold. "
            + " ".join(rep.get("notes", []))]


def _against_peer(rep: dict, peer: str, head: list[str]) -> list[str]:
    """One row per job: pylaunchd's p50 / p90 beside the peer's of the same run, and the ratios."""
    rows = []
    for r in rep["results"]:
        if peer not in r:
            continue  # a case only pylaunchd can do (activation's fork-path keys)
        a, b = r["pylaunchd"], r[peer]
        rows.append([r["job"], f"{f(a['p50_ms'])} / {f(a['p90_ms'])}", f"{f(b['p50_ms'])} / {f(b['p90_ms'])}",
                     f"{r['ratio_p50']:.2f}x", f"{r['ratio_p90']:.2f}x"])
    return table([*head, "p50 ratio", "p90 ratio"], rows)


def activation_md(rep: dict) -> list[str]:
    return _against_peer(rep, "systemd-socket-activate", ["job", "pylaunchd p50 / p90 ms",
                                                          "systemd-socket-activate p50 / p90 ms"]) + [
        "", f"{rep['runs']} cold runs per pair."] + spawn_paths_md(rep)


def spawn_paths_md(rep: dict) -> list[str]:
    """The same run's second pylaunchd (PYLAUNCHD_SPAWN=python), and the jobs
    with the keys that once needed the fork path, against the plain tiny job."""
    paths = rep.get("spawn_paths")
    if not paths:
        return []
    rows = []
    for r in rep["results"]:
        a, b = r.get("pylaunchd") or {}, r.get("pylaunchd-python") or {}
        keyed = "vs_plain_p50" in r
        rows.append([r["job"], f(a.get("p50_ms")), f(b.get("p50_ms")), ratio(a.get("p50_ms"), b.get("p50_ms")),
                     f"{r['vs_plain_p50']:.2f}x / {r['python_vs_plain_p50']:.2f}x" if keyed else "-",
                     f"{r['vs_posix_spawn_p50']:.2f}x" if keyed else "-"])
    keys = "; ".join(f"{name}: {', '.join(k)}" for name, k in rep.get("keys", {}).items())
    head = ["job", "pylaunchd p50 ms", "PYLAUNCHD_SPAWN=python p50 ms", "ratio", "keyed / plain tiny, each path",
            "keyed (default path) / plain tiny by posix_spawn"]
    return ["", *table(head, rows), "", f"Spawn paths: pylaunchd {paths.get('pylaunchd')}; the second manager "
                f"{paths.get('pylaunchd-python')}. Keys added to the tiny job: {keys or 'none'}."]


def bus_activation_md(rep: dict) -> list[str]:
    return _against_peer(rep, "dbus-daemon", ["service", "pylaunchd (`MachServices`) p50 / p90 ms",
                                              "dbus-daemon (classic `Exec=`) p50 / p90 ms"]) + [
        "", f"First call to an unowned name -> reply; {rep['runs']} cold calls per pair, interleaved, on one "
            "private bus; the same program both ways (tiny: C, no D-Bus library; python: jeepney). "
            + " ".join(rep.get("notes", []))]


def spawn_md(rep: dict) -> list[str]:
    rows = []
    for mode in ("sequential", "concurrent"):
        res = rep["results"][mode]
        for peer, q in res["ratios"].items():
            py = res.get("pylaunchd-python")
            rows.append([mode, peer, f(res["pylaunchd"]["conns_per_s"], ".0f"), f(res[peer]["conns_per_s"], ".0f"),
                         f"{q['conns_per_s']:.2f}x", f"{q['p50']:.2f}x",
                         f"{f(py['conns_per_s'], '.0f')} ({ratio(py['conns_per_s'], res[peer]['conns_per_s'])})"
                         if py else "-"])
    return table(["mode", "peer", "pylaunchd conns/s", "peer conns/s", "conns/s ratio", "p50 latency ratio",
                  "PYLAUNCHD_SPAWN=python conns/s (ratio)"], rows) + [
        "", f"sequential {rep['sequential']} connections, {rep['clients']} clients x {rep['per_client']}."]


def list_md(reps: list[dict]) -> list[str]:
    rows = []
    for rep in reps:
        if "error" in rep:
            rows.append([f"{rep['jobs']:,}" if rep.get("jobs") else "-", "`pylaunchctl list`", rep["error"], "-", "-"])
            continue
        for cmd, r in rep["results"].items():
            rows.append([f"{rep['jobs']:,}", f"`{cmd}`", f(r["p50_ms"], ".1f"), f(r["p90_ms"], ".1f"),
                         f"{r['ratio_to_python_start']:.2f}x"])
    return table(["jobs", "command", "p50 ms", "p90 ms", "x `python -c pass`"], rows)


def boot_md(rep: dict) -> list[str]:
    rows = []
    for name, r in rep["results"].items():
        if not r.get("boot_s"):
            rows.append([name, "did not boot", "-", "-", "-", "-", "-", "-"])
            continue
        spread = "-" if r.get("first_running_s") is None else f"{r['first_running_s']:.2f}-{r['last_running_s']:.2f}"
        rows.append([name, f(r["boot_s"], ".3f"), f"{r['boot_min_s']:.2f}-{r['boot_max_s']:.2f}",
                     f(r["x_critical_path"], ".3f") + "x", f(r["refused_services"], ".0f"),
                     f(r["refused_probe"], ".0f"), f(r.get("last_refusal_s"), ".3f"), spread])
    ratios = ", ".join(f"{n} {q:.2f}x" for n, q in (rep.get("ratios_pylaunchd_to") or {}).items())
    notes = [f"skipped {n}: {why}" for n, why in (rep.get("skipped") or {}).items()] + list(rep.get("notes", []))
    return table(["runner", "boot s", "min-max s", "x critical path", "refused (services)", "refused (probe)",
                  "last refusal s", "jobs running s"], rows) + [
        "", f"{rep['services']} services, {rep['dependencies']} dependencies, longest chain {rep['longest_chain']} x "
            f"{rep['start_ms']} ms = critical path {rep['critical_path_s']:.2f} s; {rep['service']} services, median of "
            f"{rep['repeat']} runs. pylaunchd / peer: {ratios or '-'}. " + " ".join(notes)]


SECTIONS = (("scale", "N on-demand jobs (`bench/scale.py`)", scale_md),
            ("reload", "Reload latency (`bench/reload.py`)", reload_md),
            ("startup", "Start-up (`bench/startup.py`)", startup_md),
            ("activation", "Cold activation (`bench/activation.py`)", activation_md),
            ("bus_activation", "Bus activation, first call (`bench/bus_activation.py`)", bus_activation_md),
            ("spawn_throughput", "Per-connection spawn throughput (`bench/spawn_throughput.py`)", spawn_md),
            ("list_latency", "`pylaunchctl list` (`bench/list_latency.py`)", list_md),
            ("boot", "Parallel boot of interdependent services (`bench/boot.py`)", boot_md))


def markdown(run: dict, plots: list[str]) -> str:
    m = run["machine"]
    out = [BEGIN, "", f"### Last run: {m['date']}", "",
           f"Machine: {m['cpus']} CPUs ({m['cpu'] or m['arch']}), Linux {m['kernel']} {m['arch']}, "
           f"Python {m['python']}. Tree measured: `{run['repo']}` ({run['commit']}). Command: `{run['command']}`, "
           f"{run['wall_s']:.0f} s in all. Peers: {'; '.join(run['versions'])}.", ""]
    out += ["#### Issue 13's goals in this run", ""] + goals_md(run["results"]) + [""]
    for key, title, fn in SECTIONS:
        out += [f"#### {title}", ""]
        res = run["results"].get(key)
        if isinstance(res, dict) and "error" in res and "results" not in res:
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


def write_block(doc: Path, key: str, block: str, heading: str) -> None:
    """Put *block* between the *key* markers of *doc* (a benchmark run on its own,
    outside run_all); the first time, at the end under *heading*."""
    begin, end = f"<!-- {key}:begin (written by bench/{key}.py --write; edit outside these markers) -->", \
        f"<!-- {key}:end -->"
    text = doc.read_text()
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: f"{begin}\n\n{block}\n\n{end}", text,
                      flags=re.S)
    else:
        text = f"{text.rstrip()}\n\n{heading}\n\n{begin}\n\n{block}\n\n{end}\n"
    doc.write_text(text)


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, (dict, list)):
            return None
        try:
            d = d[k]
        except (KeyError, IndexError, TypeError):
            return None
    return d


def _verdict(value, ok) -> str:
    return "-" if value is None else ("met" if ok(value) else "**not met**")


def _scale_goals(sc: dict) -> list[list[str]]:
    big, one_k = _get(sc, "results", "10000") or {}, _get(sc, "results", "1000") or {}
    pl, xi = big.get("pylaunchd") or {}, big.get("xinetd") or {}
    loading = " (still loading)" if pl and pl.get("bringup_s") is None else ""
    term, xterm = pl.get("sigterm") or {}, xi.get("sigterm") or {}
    bring = pl.get("bringup_s")
    rows = [["10,000 jobs: bring-up", "<= 2.5 s", f(bring, ".2f") + " s" if bring else pl.get("note", "-"),
             f(xi.get("bringup_s"), ".2f") + " s", _verdict(bring if pl else None, lambda v: v <= 2.5) if bring
             else ("**not met**" if pl else "-")],
            ["10,000 jobs: PSS", "<= 100 MiB", f(pl.get("pss_mib"), ".1f") + loading, f(xi.get("pss_mib"), ".1f"),
             "unknown" if loading else _verdict(pl.get("pss_mib"), lambda v: v <= 100)],
            ["10,000 jobs: idle CPU", "0.00 %", f(_get(pl, "idle", "cpu_pct")) + loading, f(_get(xi, "idle", "cpu_pct")),
             _verdict(_get(pl, "idle", "cpu_pct"), lambda v: v < 0.005)],
            ["10,000 jobs: wakeups per minute idle", "<= 1", f(_get(pl, "idle", "wakeups_per_min"), ".1f"),
             f(_get(xi, "idle", "wakeups_per_min"), ".1f"), _verdict(_get(pl, "idle", "wakeups_per_min"), lambda v: v <= 1)],
            ["10,000 jobs: SIGTERM -> exit 0", "<= 2 s", f"{f(term.get('exit_s'), '.2f')} s, status {term.get('status', '-')}"
             if term.get("exit_s") is not None else term.get("note", "-"), f(xterm.get("exit_s"), ".2f") + " s",
             _verdict(term or None, lambda t: t.get("exit_s") is not None and t["exit_s"] <= 2 and t["status"] == 0)],
            ["10,000 jobs: socket files removed", "all", f"{pl['socket_files_left']} left (of those made)"
             if pl.get("socket_files_left") else "-", "n/a",
             "unknown" if loading or pl.get("socket_files_made") != pl.get("socket_files_expected")
             else _verdict(pl.get("socket_files_left"), lambda v: v.startswith("0/"))]]
    warm = _get(big, "pylaunchd warm", "bringup_s")
    if warm:
        rows.insert(1, ["10,000 jobs: bring-up, warm (boot cache current)", "<= 2.5 s", f(warm, ".2f") + " s",
                        f(xi.get("bringup_s"), ".2f") + " s", _verdict(warm, lambda v: v <= 2.5)])
    b = _get(one_k, "xinetd", "bringup_s")
    for name, label in (("pylaunchd", "1,000 jobs: bring-up"), ("pylaunchd warm", "1,000 jobs: bring-up, warm"),
                        ("pylaunchd-python", "1,000 jobs: bring-up, Python manager alone (no C front end)")):
        a = _get(one_k, name, "bringup_s")
        if a or name == "pylaunchd":
            rows.append([label, "<= 2x xinetd", ratio(a, b), f(b, ".2f") + " s",
                         _verdict(a / b if a and b else None, lambda v: v <= 2)])
    costs = [(int(n), _get(by, "pylaunchd", "per_job_ms")) for n, by in (sc.get("results") or {}).items()]
    costs = [c for c in costs if c[1]]
    if len(costs) >= 2:
        rows.append([f"cost per job, {costs[-1][0]:,} / {costs[0][0]:,} jobs", "flat (about 1x)",
                     f"{costs[-1][1] / costs[0][1]:.2f}x" + (" (10,000 did not finish)" if _get(sc, "results", "10000")
                                                             and costs[-1][0] < 10000 else ""),
                     "-", "see the plot"])
    return rows


def goals_md(results: dict) -> list[str]:
    """Issue 13's goals against this run: the figure, the peer's, and whether it is met."""
    rows = _scale_goals(results.get("scale") or {})
    rl = _get(results, "reload", "results") or {}
    for case, label in (("new (rename)", "new plist (editor save) -> accepts, p50"),
                        ("port change", "changed plist -> new port accepts, p50"), ("delete", "plist deleted -> refused, p50")):
        a = _get(rl, case, "pylaunchd", "p50_ms")
        rows.append([label, "<= 5 ms", f(a) + " ms", f(_get(rl, case, "xinetd", "p50_ms")) + " ms (SIGHUP)",
                     _verdict(a, lambda v: v <= 5)])
    c = _get(results, "reload", "log_checks") or {}
    if c:
        rows.append(["editor save -> reloads", "exactly 1", f"{c['reload_lines']} for {c['expected_reloads']}", "n/a",
                     _verdict(c["reload_lines"], lambda v: v == c["expected_reloads"])])
    st = _get(results, "startup", "results") or {}
    a, b = _get(st, "pylaunchd", "median_ms"), _get(st, "xinetd", "median_ms")
    rows.append(["exec -> 60 sockets listening, median (cold: no boot cache)", "<= 100 ms", f(a, ".1f") + " ms",
                 f(b, ".1f") + " ms", _verdict(a, lambda v: v <= 100)])
    w = _get(st, "pylaunchd warm", "median_ms")
    if w:
        rows.append(["exec -> 60 sockets listening, median (warm: boot cache current)", "<= 100 ms",
                     f(w, ".1f") + " ms", f(b, ".1f") + " ms", _verdict(w, lambda v: v <= 100)])
    p = _get(st, "pylaunchd-python", "median_ms")
    if p:
        rows.append(["exec -> 60 sockets listening, median (Python manager alone, cold)", "<= 100 ms",
                     f(p, ".1f") + " ms", f(b, ".1f") + " ms", _verdict(p, lambda v: v <= 100)])
    b = _get(st, "xinetd", "refused_median")
    for name, label in (("pylaunchd", "refused connections during start-up"),
                        ("pylaunchd-python", "refused connections during start-up (Python manager alone)")):
        a = _get(st, name, "refused_median")
        if a is not None or name == "pylaunchd":
            rows.append([label, "<= xinetd's", f(a, ".0f"), f(b, ".0f"),
                         _verdict(a if b is not None else None, lambda v: v <= b)])
    for r in _get(results, "activation", "results") or []:
        if r["job"] == "tiny":
            rows.append(["cold LISTEN_FDS activation, tiny C job, p50", "<= 1.2x systemd-socket-activate",
                         f"{r['ratio_p50']:.2f}x", f(r["systemd-socket-activate"]["p50_ms"]) + " ms",
                         _verdict(r["ratio_p50"], lambda v: v <= 1.2)])
    keyed = [r for r in _get(results, "activation", "results") or [] if "vs_posix_spawn_p50" in r]
    if keyed:
        worst = max(keyed, key=lambda r: r["vs_posix_spawn_p50"])
        rows.append([f"jobs with {', '.join(r['job'] for r in keyed)} (once the fork path), p50",
                     "<= 2x the posix_spawn path", f"{worst['vs_posix_spawn_p50']:.2f}x ({worst['job']})",
                     f(next((_get(r, "pylaunchd-python", "p50_ms") for r in _get(results, "activation", "results")
                             if r["job"] == "tiny"), None)) + " ms (plain tiny, posix_spawn)",
                     _verdict(worst["vs_posix_spawn_p50"], lambda v: v <= 2)])
    for mode, label in (("sequential", "1 client"), ("concurrent", "8 clients")):
        q = _get(results, "spawn_throughput", "results", mode, "ratios") or {}
        best = min((v["conns_per_s"] for v in q.values()), default=None)
        rows.append([f"inetd spawns/s, {label}", ">= 1.0x the best peer", f(best) + "x" if best else "-", "-",
                     _verdict(best, lambda v: v >= 1.0)])
    big = [r for r in results.get("list_latency") or [] if r.get("jobs") == 10000]
    if big:
        a = _get(big[0], "results", "pylaunchctl list", "p50_ms")
        rows.append(["`pylaunchctl list`, 10,000 jobs", "<= 300 ms", f(a, ".0f") + " ms" if a else big[0].get("error", "-"),
                     f(_get(big[0], "results", "python -c pass", "p50_ms"), ".0f") + " ms (`python -c pass`)" if a else "-",
                     _verdict(a, lambda v: v <= 300) if a else "**not met**"])
    return table(["goal (issue 13)", "target", "pylaunchd", "peer, same run", "verdict"], rows)
