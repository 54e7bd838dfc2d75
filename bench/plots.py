"""The PNG plots of bench/run_all.py (matplotlib, from the `bench` extra)."""

from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def matplotlib_ticker():
    import matplotlib.ticker

    return matplotlib.ticker


def cost_per_job(scale: dict, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    bound_ms = scale["bringup_timeout_s"] * 1000
    for name, style, color in (("pylaunchd", "o-", "C0"), ("pylaunchd warm", "o:", "C0"),
                               ("pylaunchd-python", "d--", "C3"), ("xinetd", "s-", "C1"), ("circus", "^--", "C2")):
        pts = [(int(n), by[name]["per_job_ms"]) for n, by in scale["results"].items()
               if by.get(name, {}).get("per_job_ms")]
        dnf = [int(n) for n, by in scale["results"].items()
               if name in by and by[name].get("bringup_s") is None and "error" not in by[name]]
        if pts:
            ax.plot(*zip(*pts), style, color=color, label=name)
        for n in dnf:  # a lower bound: the bring-up took longer than the bound
            ax.plot([n], [bound_ms / n], "^", color=color, mfc="none", ms=9)
            ax.annotate(f"{name}: did not finish\nin {bound_ms / 1000:g} s (at least this)", (n, bound_ms / n),
                        textcoords="offset points", xytext=(-110, 8), fontsize=7, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib_ticker().ScalarFormatter())
    ax.set_xlabel("on-demand jobs")
    ax.set_ylabel("bring-up / jobs (ms per job)")
    ax.set_title("Cost per job: exec of the manager -> every socket listening")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def distributions(groups: list[tuple[str, list[float]]], title: str, ylabel: str, path: Path) -> None:
    """One box (with the samples over it) per (label, samples in ms)."""
    plt = _plt()
    groups = [(label, data) for label, data in groups if data]
    fig, ax = plt.subplots(figsize=(max(6.4, 0.9 * len(groups)), 4.2))
    if groups:
        ax.boxplot([d for _, d in groups], whis=(0, 100))
        for i, (_, data) in enumerate(groups, 1):
            ax.plot([i + 0.08 * ((k % 5) - 2) / 2 for k in range(len(data))], data, ".", alpha=0.35, ms=3)
        ax.set_xticks(range(1, len(groups) + 1), [label for label, _ in groups], rotation=30, ha="right",
                      fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def make_all(results: dict, img: Path) -> list[str]:
    """Every plot the results allow; the file names written (under *img*)."""
    img.mkdir(parents=True, exist_ok=True)
    made = []
    if isinstance(results.get("scale"), dict) and "results" in results["scale"]:
        cost_per_job(results["scale"], img / "scale-cost-per-job.png")
        made.append("scale-cost-per-job.png")
    rel = results.get("reload")
    if isinstance(rel, dict) and "results" in rel:
        groups = [(f"{case}\n{name}", by[name]["samples_ms"]) for case, by in rel["results"].items()
                  for name in ("pylaunchd", "xinetd") if by.get(name, {}).get("samples_ms")]
        distributions(groups, "Reload: file written/deleted -> socket accepts/refuses", "ms", img / "reload-latency.png")
        made.append("reload-latency.png")
    act = results.get("activation")
    if isinstance(act, dict) and "results" in act:
        groups = [(f"{r['job']}\n{name}", r[name].get("samples_ms", [])) for r in act["results"]
                  for name in ("pylaunchd", "pylaunchd-python", "systemd-socket-activate") if name in r]
        distributions(groups, "Cold activation: connect -> first reply byte", "ms", img / "activation-latency.png")
        made.append("activation-latency.png")
    return made
