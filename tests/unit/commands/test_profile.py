"""`modelstack profile`: parsing, the measurements' arithmetic and the recommendation, without Docker."""

from __future__ import annotations

import pytest
import typer
import yaml
from typer.testing import CliRunner

from components.commands.profile.command import profile
from components.commands.profile.inputs import GB, check_limits, parse_concurrency, read_request_bodies
from components.commands.profile.recommend import (
    LevelResult,
    autoscale_target,
    deploy_snippet,
    deploy_suggestion,
    mean_queueing_wait,
    profile_fields,
    recommend,
    recommended_level,
    round_up,
)
from components.commands.profile.usage import Usage, UsageSample, memory_working_set, usage_between, usage_sample
from components.commands.profile.wrk import LoadResult, parse_wrk_output
from components.errors import ModelstackError

AZURE_ML_FIELDS = {
    "recommendedCpu",
    "recommendedMemoryInGB",
    "recommendationLatencyInMs",
    "maxUtilizedCpu",
    "maxUtilizedMemoryInGB",
    "averageLatencyInMs",
    "latencyPercentile50InMs",
    "latencyPercentile90InMs",
    "latencyPercentile95InMs",
    "latencyPercentile99InMs",
    "latencyPercentile999InMs",
    "measuredQueriesPerSecond",
    "totalQueries",
    "successQueries",
    "successRate",
}


def level(concurrency, qps, *, p95=2.0, cpu=0.5, memory_gb=0.2, throttled=0.0, failed=0, seconds=5.0):
    succeeded = int(qps * seconds)
    latency = {
        "mean": p95 * 0.7,
        "max": p95 * 3,
        "p50": p95 * 0.6,
        "p90": p95 * 0.9,
        "p95": p95,
        "p99": p95 * 1.5,
        "p999": p95 * 2,
    }
    load = LoadResult(
        seconds=seconds, responses=succeeded + failed, non_2xx=failed, socket_errors=0, timeouts=0, latency_ms=latency
    )
    return LevelResult(
        concurrency,
        load,
        Usage(cpu_mean=cpu, cpu_max=cpu * 1.1, memory_max_bytes=int(memory_gb * GB), throttled_share=throttled),
    )


# --- the data file --------------------------------------------------------------------------


def test_request_bodies_are_the_non_blank_lines(tmp_path):
    data = tmp_path / "requests.jsonl"
    data.write_text('{"data": [[1, 2]]}\n\n  \n{"data": [[3, 4]]}\n')
    assert read_request_bodies(data) == ['{"data": [[1, 2]]}', '{"data": [[3, 4]]}']


def test_missing_data_file(tmp_path):
    with pytest.raises(ModelstackError) as error:
        read_request_bodies(tmp_path / "nope.jsonl")
    assert error.value.key == "--data"
    assert str(error.value) == (
        f"--data: {tmp_path / 'nope.jsonl'} does not exist\n"
        "  Rule: the profiling data is a file of request bodies, one JSON document per line (Azure ML's profiling dataset)\n"
        "  Fix: pass a file of request bodies, e.g. examples/diabetes/sample-requests.jsonl"
    )


def test_data_file_that_is_a_folder(tmp_path):
    with pytest.raises(ModelstackError, match="is a folder, not a file"):
        read_request_bodies(tmp_path)


@pytest.mark.parametrize("text", ["", "\n\n   \n"])
def test_empty_data_file(tmp_path, text):
    data = tmp_path / "empty.jsonl"
    data.write_text(text)
    with pytest.raises(ModelstackError) as error:
        read_request_bodies(data)
    assert error.value.detail == f"{data} holds no request bodies"
    assert (
        error.value.fix
        == "add at least one line with a JSON request body, as in examples/diabetes/sample-requests.jsonl"
    )


def test_non_json_line_is_named_by_number(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"data": [[1]]}\n\n{"data": [[2]\n')
    with pytest.raises(ModelstackError) as error:
        read_request_bodies(data)
    assert error.value.detail.startswith(f"line 3 of {data} is not JSON: ")
    assert error.value.fix == "make line 3 one JSON request body on a single line, or remove it"


# --- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, levels",
    [
        ("1,2,4,8", [1, 2, 4, 8]),
        ("8, 1, 4, 4", [1, 4, 8]),
        ("1-16", [1, 2, 4, 8, 16]),
        ("1-12", [1, 2, 4, 8, 12]),
        ("3-3", [3]),
        ("1-4,32", [1, 2, 4, 32]),
        ("1-256", [1, 2, 4, 8, 16, 32, 64, 128, 256]),
    ],
)
def test_concurrency_lists_and_doubling_ranges(text, levels):
    assert parse_concurrency(text) == levels


@pytest.mark.parametrize(
    "text, detail",
    [
        ("0", "'0' is out of range"),
        ("1,300", "'300' is out of range"),
        ("8-2", "'8-2' is out of range"),
        ("four", "'four' is not a level or a range"),
        ("", "'' is not a level or a range"),
        ("1,2,3,5,6,7,9,10,11,12,13", "11 levels asked for"),
    ],
)
def test_bad_concurrency(text, detail):
    with pytest.raises(ModelstackError) as error:
        parse_concurrency(text)
    assert error.value.key == "--concurrency"
    assert error.value.detail == detail


@pytest.mark.parametrize(
    "cpu, memory_gb, duration, key",
    [
        (0, 1, 5, "--cpu"),
        (3, 1, 5, "--cpu"),
        (1, 0.05, 5, "--memory-gb"),
        (1, 1, 1.5, "--duration"),
        (1, 1, 61, "--duration"),
    ],
)
def test_limits_out_of_range(cpu, memory_gb, duration, key):
    with pytest.raises(ModelstackError) as error:
        check_limits(cpu, memory_gb, duration, host_cpus=2)
    assert error.value.key == key


def test_limits_in_range():
    check_limits(2, 0.1, 2, host_cpus=2)
    check_limits(0.25, 16, 60, host_cpus=2)


# --- wrk and docker stats ---------------------------------------------------------------------

WRK_STDOUT = """Running 5s test @ http://127.0.0.1:40147
  1 threads and 4 connections
Requests/sec:    720.00
MODELSTACK-WRK {"duration_us": 5000000, "requests": 3600, "errors": {"connect": 1, "read": 2, "write": 0, "status": 10, "timeout": 3}, "latency_us": {"mean": 5450.5, "max": 40000, "p50": 5370, "p90": 6000, "p95": 6980, "p99": 7950, "p999": 30000}}
"""


def test_wrk_summary_line():
    load = parse_wrk_output(WRK_STDOUT)
    assert (load.seconds, load.responses, load.non_2xx, load.socket_errors, load.timeouts) == (5.0, 3600, 10, 3, 3)
    assert load.latency_ms == {
        "mean": 5.4505,
        "max": 40.0,
        "p50": 5.37,
        "p90": 6.0,
        "p95": 6.98,
        "p99": 7.95,
        "p999": 30.0,
    }
    assert (load.total, load.succeeded) == (3606, 3590)
    assert load.queries_per_second == 718.0


def test_wrk_output_without_summary():
    with pytest.raises(ValueError, match="no 'MODELSTACK-WRK' line"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def stats(
    cpu_total,
    pre_cpu_total,
    system,
    pre_system,
    *,
    online=2,
    usage=300 * 2**20,
    inactive=None,
    periods=(10, 0),
    throttled=(4, 0),
):
    memory = {"usage": usage, "stats": {}}
    if inactive is not None:
        memory["stats"]["total_inactive_file"] = inactive
    return {
        "cpu_stats": {
            "cpu_usage": {"total_usage": cpu_total},
            "system_cpu_usage": system,
            "online_cpus": online,
            "throttling_data": {"periods": periods[0], "throttled_periods": throttled[0]},
        },
        "precpu_stats": {
            "cpu_usage": {"total_usage": pre_cpu_total},
            "system_cpu_usage": pre_system,
            "throttling_data": {"periods": periods[1], "throttled_periods": throttled[1]},
        },
        "memory_stats": memory,
    }


def test_stats_reading_in_cores_and_working_set():
    # 0.5 s of CPU time while the whole machine (2 cores) spent 2 s: half a core.
    sample = usage_sample(
        stats(1_500_000_000, 1_000_000_000, 12_000_000_000, 10_000_000_000, inactive=100 * 2**20), at=10.0, interval=1.0
    )
    assert sample is not None
    assert sample.cpu_cores == pytest.approx(0.5)
    assert sample.memory_bytes == 200 * 2**20
    assert (sample.periods, sample.throttled_periods) == (10, 4)


def test_first_stats_reading_has_nothing_to_compare_with():
    first = stats(1, 0, 5, 0)
    first["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    assert usage_sample(first, at=1.0, interval=1.0) is None


@pytest.mark.parametrize(
    "memory_stats, expected",
    [
        ({"usage": 1000, "stats": {"inactive_file": 300}}, 700),  # cgroup v2
        ({"usage": 1000, "stats": {"total_inactive_file": 400}}, 600),  # cgroup v1
        ({"usage": 1000, "stats": {"total_inactive_file": 2000}}, 1000),  # nonsense cache figure: ignored
        ({"usage": 1000}, 1000),
        ({}, 0),
    ],
)
def test_memory_working_set(memory_stats, expected):
    assert memory_working_set(memory_stats) == expected


def test_usage_of_a_level_uses_the_readings_inside_it():
    samples = [
        UsageSample(at=1.0, interval=1.0, cpu_cores=0.1, memory_bytes=100, periods=10, throttled_periods=0),  # before
        UsageSample(at=2.0, interval=1.0, cpu_cores=0.8, memory_bytes=300, periods=10, throttled_periods=2),
        UsageSample(at=3.0, interval=1.0, cpu_cores=0.6, memory_bytes=200, periods=10, throttled_periods=4),
        UsageSample(
            at=4.6, interval=1.0, cpu_cores=0.0, memory_bytes=900, periods=10, throttled_periods=0
        ),  # mostly after
    ]
    usage = usage_between(samples, start=1.2, end=3.9)
    assert usage.cpu_mean == pytest.approx(0.7)
    assert usage.cpu_max == 0.8
    assert usage.memory_max_bytes == 300
    assert usage.throttled_share == pytest.approx(0.3)
    assert usage_between(samples, start=10, end=11) == Usage(0.0, 0.0, 0, 0.0)


# --- the recommendation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, step, expected",
    [(0.31, 0.1, 0.4), (0.3, 0.1, 0.3), (0.1 + 0.2, 0.1, 0.3), (0.0, 0.1, 0.0), (1.04, 0.1, 1.1), (7, 5, 10)],
)
def test_round_up(value, step, expected):
    assert round_up(value, step) == expected


def test_recommended_level_is_the_knee():
    levels = [level(1, 400), level(2, 650), level(4, 760), level(8, 780)]
    assert recommended_level(levels).concurrency == 4  # 760 >= 0.85 x 780 = 663; 650 is not


def test_a_flat_curve_recommends_the_lowest_level():
    """One request at a time (a single sync worker): every level within the noise of the best."""
    assert recommended_level([level(1, 700), level(2, 780), level(4, 720), level(8, 690)]).concurrency == 1


def test_recommended_level_ignores_levels_without_answers():
    failed = LevelResult(
        1,
        LoadResult(5.0, 0, 0, 40, 0, {k: 0.0 for k in ("mean", "max", "p50", "p90", "p95", "p99", "p999")}),
        Usage(0, 0, 0, 0),
    )
    assert recommended_level([failed, level(2, 100)]).concurrency == 2


def test_no_successful_answer_at_all():
    nothing = level(1, 0, failed=50)
    with pytest.raises(ModelstackError) as error:
        recommended_level([nothing])
    assert error.value.key == "--data"
    assert "answered no request successfully" in error.value.detail


def test_queueing_wait_of_one_slot_at_70_percent():
    assert mean_queueing_wait(1, 0.7) == pytest.approx(0.7 / 0.3)
    assert mean_queueing_wait(1, 1.0) == float("inf")


@pytest.mark.parametrize("parallelism, target", [(1, 70), (2, 80), (4, 90), (32, 90), (0, 70)])
def test_autoscale_target_grows_with_parallelism(parallelism, target):
    assert autoscale_target(parallelism) == target


def test_recommendation_when_the_cpu_limit_was_enough():
    rec = recommend([level(1, 750, cpu=0.87), level(2, 700, cpu=0.85)], cpu_limit=1.0, memory_limit_gb=1.0)
    assert (rec.level.concurrency, rec.cpu_cores, rec.cpu_bound) == (1, 1.0, False)  # 0.87 x 1.1 = 0.957 -> 1.0
    assert rec.memory_gb == 0.3  # 0.2 GB x 1.3 = 0.26 -> 0.3
    assert rec.autoscale_target_utilization == 70
    assert rec.notes == ()


def test_recommendation_when_cpu_bound_is_a_lower_bound_above_the_limit():
    rec = recommend(
        [level(1, 180, cpu=0.25, throttled=0.8), level(2, 190, cpu=0.25, throttled=0.9)],
        cpu_limit=0.25,
        memory_limit_gb=1.0,
    )
    assert rec.cpu_bound
    assert rec.cpu_cores == 0.3 and rec.cpu_cores > 0.25
    assert "CPU-bound at --cpu 0.25" in rec.notes[0] and "Profile again with --cpu 0.5" in rec.notes[0]


def test_throttling_alone_marks_cpu_bound():
    rec = recommend([level(1, 300, cpu=0.5, throttled=0.3)], cpu_limit=1.0, memory_limit_gb=1.0)
    assert rec.cpu_bound and rec.cpu_cores == 1.1


def test_recommendation_follows_the_cpu_limit_sensibly():
    """More CPU: more throughput, a recommendation no smaller, and no longer a lower bound."""
    small = recommend(
        [level(1, 180, cpu=0.25, throttled=0.8), level(4, 190, cpu=0.25, throttled=0.9)],
        cpu_limit=0.25,
        memory_limit_gb=1.0,
    )
    large = recommend([level(1, 750, cpu=0.87), level(4, 720, cpu=0.9)], cpu_limit=1.5, memory_limit_gb=1.0)
    assert small.cpu_bound and not large.cpu_bound
    assert large.cpu_cores >= small.cpu_cores


def test_memory_close_to_the_limit_is_flagged():
    rec = recommend([level(1, 100, memory_gb=0.95)], cpu_limit=1.0, memory_limit_gb=1.0)
    assert rec.memory_bound and rec.memory_gb == 1.3
    assert "close to --memory-gb 1" in rec.notes[-1]


def test_a_level_without_a_stats_reading_is_noted():
    unread = LevelResult(1, level(1, 500).load, Usage(0.0, 0.0, 0, 0.0))
    rec = recommend([unread], cpu_limit=1.0, memory_limit_gb=1.0)
    assert rec.cpu_cores == 0.1
    assert rec.notes[0].startswith("no docker stats reading covered concurrency 1")


def test_failures_are_noted():
    rec = recommend([level(1, 100, failed=7)], cpu_limit=1.0, memory_limit_gb=1.0)
    assert rec.notes == (
        "7 request(s) failed or timed out: see the levels table; failures are not counted in the throughput.",
    )


def test_profile_fields_use_azure_ml_names():
    levels = [
        level(1, 400, p95=2.0, cpu=0.4),
        level(2, 780, p95=3.0, cpu=0.8, memory_gb=0.3),
        level(4, 790, p95=6.0, cpu=0.9, failed=10),
    ]
    rec = recommend(levels, cpu_limit=1.0, memory_limit_gb=2.0, idle_memory_bytes=int(0.1 * GB))
    fields = profile_fields(levels, rec, 1.0, 2.0, int(0.1 * GB))
    assert AZURE_ML_FIELDS <= set(fields)
    assert fields["recommendedCpu"] == 0.9  # 0.8 x 1.1 at concurrency 2
    assert fields["recommendationLatencyInMs"] == fields["latencyPercentile95InMs"] == 3.0
    assert fields["measuredQueriesPerSecond"] == 780.0
    assert fields["maxUtilizedCpu"] == pytest.approx(0.99)
    assert fields["maxUtilizedMemoryInGB"] == 0.3
    assert fields["totalQueries"] == 2000 + 3900 + 3960
    assert fields["successQueries"] == 2000 + 3900 + 3950
    assert fields["successRate"] == round(100 * 9850 / 9860, 2)


def test_deploy_snippet_is_the_stack_file_fragment():
    rec = recommend([level(1, 750, cpu=0.87)], cpu_limit=1.0, memory_limit_gb=1.0)
    snippet = deploy_snippet("prod", "diabetes", deploy_suggestion(rec))
    assert yaml.safe_load(snippet) == {
        "config": {
            "modelstack:services": {
                "diabetes": {"deploy": {"cpu_cores": 1.0, "memory_gb": 0.3, "autoscale_target_utilization": 70}}
            }
        }
    }
    assert snippet.startswith("# stacks/Pulumi.prod.yaml")


# --- the command's errors, through a typer app of its own ---------------------------------------


@pytest.fixture
def run_profile_command(project, monkeypatch):
    app = typer.Typer()
    app.command()(profile)
    monkeypatch.setenv("MODELSTACK_PROJECT_DIR", str(project.root))

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args))

    return invoke


def test_command_missing_data_file_is_bad_usage(run_profile_command, tmp_path):
    result = run_profile_command("diabetes", "--stack", "local", "--data", str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2
    assert "1 error" in result.stderr
    assert f"- --data: {tmp_path / 'missing.jsonl'} does not exist" in result.stderr
    assert "Fix: pass a file of request bodies" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_command_empty_data_file(run_profile_command, tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    result = run_profile_command("diabetes", "--stack", "local", "--data", str(tmp_path / "empty.jsonl"))
    assert result.exit_code == 2
    assert "holds no request bodies" in result.stderr


def test_command_non_json_line(run_profile_command, tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"data": [[1]]}\nnot json\n')
    result = run_profile_command("diabetes", "--stack", "local", "--data", str(tmp_path / "bad.jsonl"))
    assert result.exit_code == 2
    assert "line 2 of" in result.stderr and "is not JSON" in result.stderr


def test_command_bad_concurrency(run_profile_command, project):
    result = run_profile_command(
        "diabetes",
        "--stack",
        "local",
        "--data",
        str(project.root / "examples/diabetes/sample-requests.jsonl"),
        "--concurrency",
        "1,x",
    )
    assert result.exit_code == 2
    assert "- --concurrency: 'x' is not a level or a range" in result.stderr


def test_command_unknown_service(run_profile_command, project):
    result = run_profile_command(
        "diabetis", "--stack", "local", "--data", str(project.root / "examples/diabetes/sample-requests.jsonl")
    )
    assert result.exit_code == 1
    assert "- modelstack:services: stack local has no service 'diabetis'" in result.stderr
    assert "Fix: use one of: diabetes, diabetes-multi" in result.stderr


def test_command_docker_not_running(run_profile_command, project, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    result = run_profile_command(
        "diabetes", "--stack", "local", "--data", str(project.root / "examples/diabetes/sample-requests.jsonl")
    )
    assert result.exit_code == 1
    assert "- DOCKER_HOST: the Docker daemon is not reachable" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_command_help_lists_the_options():
    app = typer.Typer()
    app.command()(profile)
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for option in ("--stack", "--data", "--cpu", "--memory-gb", "--duration", "--concurrency", "--out", "--json"):
        assert option in result.output


# --- the server's concurrency -----------------------------------------------------------------


def test_the_profiled_server_serves_what_the_stack_deploys(project):
    from components.commands.profile.command import server_line
    from components.commands.profile.run import server_concurrency

    local = project.load("local").services["diabetes"]
    assert server_concurrency(local) == {"scoringServer": "modelstack", "workers": 1, "concurrentRuns": 1}
    assert server_line(server_concurrency(local)) == (
        "server: modelstack, 1 worker (WORKER_COUNT), each running one request at a time: 1 request scored at once, levels above that queue in the container"
    )
    project.write_stack(
        "aks4",
        {
            "registry": {"kind": "acr"},
            "clusters": {"aks-ml": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}},
            "services": {
                "diabetes": {
                    "target": "aks",
                    "compute": "aks-ml",
                    "scoring_server": "azmlinfsrv",
                    "deploy": {"replica_max_concurrent_requests": 4},
                }
            },
        },
    )
    aks = project.load("aks4").services["diabetes"]
    assert server_concurrency(aks) == {"scoringServer": "azmlinfsrv", "workers": 4, "concurrentRuns": 4}
    assert server_line(server_concurrency(aks)).startswith(
        "server: azmlinfsrv, 4 workers (WORKER_COUNT), each running one request at a time: 4 requests scored at once"
    )
