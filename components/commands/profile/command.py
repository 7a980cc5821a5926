"""`modelstack profile SERVICE --stack NAME --data FILE`: Azure ML's Model.profile, locally.

Registered on the `modelstack` app with `app.command()(profile)`; until then it also runs as
`python -m components.commands.profile.command SERVICE --stack NAME --data FILE`. The work is done by
components.commands.profile.run; this module parses the options and prints the report. Errors meant for
the user (a ModelstackError) are printed without a traceback and exit 1; bad usage (an
option's value: a missing or malformed data file, a bad concurrency list) exits 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from components.commands.profile.inputs import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CPU,
    DEFAULT_DURATION_SECONDS,
    DEFAULT_MEMORY_GB,
    parse_concurrency,
)
from components.commands.profile.recommend import deploy_snippet, deploy_suggestion
from components.commands.profile.report import write_report_files
from components.commands.profile.run import ProfileReport, run_profile
from components.config.schema import STATE_DIR
from components.errors import ConfigErrors, ModelstackError

EXIT_ERROR, EXIT_USAGE = 1, 2
PROFILES_DIR = Path(STATE_DIR) / "profiles"


def _consoles() -> tuple[Console, Console]:
    out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    return out, err


def _fail(err: Console, error: ModelstackError) -> None:
    """Print the error(s); exit 2 when an option of the command is at fault, 1 otherwise."""
    errors = error.errors if isinstance(error, ConfigErrors) else [error]
    err.print(f"[bold red]{len(errors)} error{'s' if len(errors) > 1 else ''}[/]")
    for one in errors:
        err.print(f"- {one}", markup=False)
    raise typer.Exit(EXIT_USAGE if (error.key or "").startswith("--") else EXIT_ERROR)


def _fields_table(report: ProfileReport) -> Table:
    rec = report.recommendation
    table = Table(
        title=f"profile of {report.service} (stack {report.stack}): {report.cpu:g} CPU, {report.memory_gb:g} GB",
        title_justify="left",
    )
    table.add_column("field (Azure ML)")
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    where = f"at concurrency {rec.level.concurrency} (the recommended level)"
    about = {
        "recommendedCpu": "lower bound: CPU-bound" if rec.cpu_bound else "cores used there + 20%",
        "recommendedMemoryInGB": "peak working set + 30%",
        "recommendationLatencyInMs": f"p95 {where}",
        "averageLatencyInMs": where,
        "measuredQueriesPerSecond": where,
        "maxUtilizedCpu": "peak of the run (docker stats)",
        "maxUtilizedMemoryInGB": "peak of the run (docker stats)",
        "totalQueries": "all levels",
        "successRate": "percent",
    }
    for name, value in report.fields().items():
        table.add_row(name, f"{value:g}" if isinstance(value, float) else str(value), about.get(name, ""))
    return table


def _levels_table(report: ProfileReport) -> Table:
    table = Table(title="by concurrency level", title_justify="left")
    for column in (
        "concurrency",
        "req/s",
        "mean ms",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "failed",
        "cores",
        "GB",
        "throttled",
    ):
        table.add_column(column, justify="right")
    for level in report.levels:
        load, usage = level.load, level.usage
        marker = " *" if level is report.recommendation.level else ""
        table.add_row(
            f"{level.concurrency}{marker}",
            f"{load.queries_per_second:.0f}",
            f"{load.latency_ms['mean']:.2f}",
            f"{load.latency_ms['p50']:.2f}",
            f"{load.latency_ms['p95']:.2f}",
            f"{load.latency_ms['p99']:.2f}",
            str(load.total - load.succeeded),
            f"{usage.cpu_mean:.2f}",
            f"{usage.memory_max_bytes / 1024**3:.2f}",
            f"{usage.throttled_share:.0%}",
        )
    return table


def server_line(server: dict) -> str:
    """What concurrency the profiled server serves (components.commands.profile.run.server_concurrency)."""
    workers = server["workers"]
    return (
        f"server: {server['scoringServer']}, {workers} worker{'s' if workers != 1 else ''} (WORKER_COUNT), each running one request at a time: "
        f"{workers} request{'s' if workers != 1 else ''} scored at once, levels above that queue in the container"
    )


def _print_report(out: Console, report: ProfileReport) -> None:
    out.print(_fields_table(report))
    out.print(_levels_table(report))
    out.print("* the recommended level: the lowest concurrency within 85% of the best throughput", style="dim")
    if report.server:
        out.print(server_line(report.server), markup=False)
    for note in report.recommendation.notes:
        out.print(f"[yellow]note:[/] {note}")
    out.print("\nSuggested deploy parameters:")
    out.print(deploy_snippet(report.stack, report.service, deploy_suggestion(report.recommendation)), markup=False)
    out.print(f"\nreport: {report.files['json']}\nchart:  {report.files['chart']}", markup=False)
    built = "built" if report.image_built else "reused"
    out.print(
        f"profiled in {report.run_seconds:.1f}s (image {built}, cold start {report.cold_start_seconds:.1f}s)",
        markup=False,
    )


def profile(
    service: str = typer.Argument(..., help="The service to profile (declared in Pulumi.yaml or the stack's file)."),
    stack: str = typer.Option(
        ..., "--stack", help="The stack whose config to use (a file stacks/Pulumi.<stack>.yaml)."
    ),
    data: Path = typer.Option(
        ..., "--data", help="Request bodies, one JSON document per line (Azure ML's profiling dataset)."
    ),
    cpu: float = typer.Option(DEFAULT_CPU, "--cpu", help="CPU cores the container may use (docker's --cpus)."),
    memory_gb: float = typer.Option(
        DEFAULT_MEMORY_GB, "--memory-gb", help="Memory limit of the container in GB (no swap)."
    ),
    duration: float = typer.Option(
        DEFAULT_DURATION_SECONDS, "--duration", help="Seconds of load per concurrency level (2-60)."
    ),
    concurrency: str = typer.Option(
        DEFAULT_CONCURRENCY,
        "--concurrency",
        help="Requests in flight per level: a list (1,4,16) or a doubling range (1-32).",
    ),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Folder for profile.json and profile.png [default: .modelstack/profiles/<stack>-<service>]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (progress still goes to stderr)."),
) -> None:
    """Profile a service locally: its image under CPU and memory limits, a real load generator,
    Azure ML's profile fields, a chart, and the deploy parameters to put in the stack."""
    from components.config.load import find_project_dir
    from components.image.builder import stderr_log

    out, err = _consoles()
    try:
        levels = parse_concurrency(concurrency)
        project_dir = find_project_dir()
        report = run_profile(
            service=service,
            stack=stack,
            data=data,
            cpu=cpu,
            memory_gb=memory_gb,
            duration=duration,
            concurrency=levels,
            project_dir=project_dir,
            log=stderr_log,
        )
        write_report_files(report, out_dir or project_dir / PROFILES_DIR / f"{stack}-{service}")
    except ModelstackError as error:
        _fail(err, error)
    if as_json:
        out.print(json.dumps(report.as_json(), indent=2), markup=False)
    else:
        _print_report(out, report)


if __name__ == "__main__":
    typer.run(profile)
