"""The files a profile run leaves: the report as JSON and a chart of latency and throughput
against concurrency."""

from __future__ import annotations

import json
from pathlib import Path

from components.commands.profile.run import ProfileReport

# --- report files ---------------------------------------------------------------------------------


def write_chart(report: ProfileReport, path: Path) -> Path:
    """A PNG of throughput and latency (p50, p95, p99) against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = report.levels
    x = [level.concurrency for level in levels]
    figure, throughput_axis = plt.subplots(figsize=(9, 5), dpi=100)
    throughput_axis.plot(
        x, [level.load.queries_per_second for level in levels], "o-", color="tab:blue", label="throughput (req/s)"
    )
    throughput_axis.set_xlabel("concurrency (requests in flight)")
    throughput_axis.set_ylabel("requests per second", color="tab:blue")
    throughput_axis.set_ylim(bottom=0)
    if len(x) > 1 and max(x) / min(x) >= 4:
        throughput_axis.set_xscale("log", base=2)
    throughput_axis.set_xticks(x, [str(c) for c in x])
    latency_axis = throughput_axis.twinx()
    for name, style, colour in (("p50", "s--", "tab:green"), ("p95", "^--", "tab:orange"), ("p99", "v--", "tab:red")):
        latency_axis.plot(
            x, [level.load.latency_ms[name] for level in levels], style, color=colour, label=f"{name} latency (ms)"
        )
    latency_axis.set_ylabel("latency (ms)")
    latency_axis.set_ylim(bottom=0)
    throughput_axis.axvline(
        report.recommendation.level.concurrency, color="grey", linestyle=":", label="recommended level"
    )
    handles = throughput_axis.get_legend_handles_labels()[0] + latency_axis.get_legend_handles_labels()[0]
    labels = throughput_axis.get_legend_handles_labels()[1] + latency_axis.get_legend_handles_labels()[1]
    throughput_axis.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=5, fontsize="small", frameon=False
    )
    throughput_axis.set_title(
        f"{report.service} ({report.stack}): {report.cpu:g} CPU, {report.memory_gb:g} GB, {report.duration:g}s per level"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def write_report_files(report: ProfileReport, out_dir: Path) -> dict[str, str]:
    """profile.json and profile.png in `out_dir`; records their paths in the report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = write_chart(report, out_dir / "profile.png")
    document = out_dir / "profile.json"
    report.files = {"json": str(document), "chart": str(chart)}
    document.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    return report.files
