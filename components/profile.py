"""Profile a service on this machine: Azure ML's `Model.profile`, in about half a minute.

`run_profile` builds (or reuses) the service's image, runs it in local Docker under a CPU and
memory limit, replays the request bodies of a data file with wrk at several concurrency
levels, samples the container's CPU and memory with `docker stats`, and turns the figures
into Azure ML's profile fields and the deploy parameters to put in a stack.

What the figures mean:
- A level is closed-loop load: `concurrency` connections, each sending the next body as soon
  as the previous answer arrived, for `duration` seconds. Bodies are sent in file order,
  round and round.
- The recommended level is the lowest concurrency whose throughput reaches 85% of the best
  level's: past it, more requests in flight only wait in a queue. The latency fields,
  `measuredQueriesPerSecond` and `recommendationLatencyInMs` (its 95th percentile) describe
  that level; the query counts add up every level; `maxUtilized*` are the peaks of the run.
- `recommendedCpu` covers the cores the container used at the recommended level, plus 10%;
  when the container was CPU-bound there (it used 90% of the limit or was throttled in a
  quarter of the scheduler periods) the figure is a lower bound and says so: profile again
  with a larger `--cpu`. `recommendedMemoryInGB` is the peak working set plus 30%.
- `autoscale_target_utilization` (AKS): Azure ML's autoscaler scales on the share of busy
  replicas. How busy a replica may get before requests queue too long depends on how many it
  serves at once, its parallelism: the recommended level's concurrency. The suggestion is the
  highest target (90 down to 30, in steps of 5) at which the expected queueing wait of a
  replica with that parallelism (an M/M/c queue) is no longer than the wait Azure ML's default
  of 70% gives a replica serving one request at a time: 70 for a parallelism of 1, more for more.

The decisions are pure functions (tested without Docker); the rest drives Docker and wrk.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import ConfigError, DeploymentError, ModelstackError
from .deploy_rules import DEFAULT_TARGET_UTILIZATION  # Azure ML's default

# --- defaults and bounds (the README's "Profile a service" documents them) --------------------

DEFAULT_CPU = 1.0
DEFAULT_MEMORY_GB = 1.0
DEFAULT_DURATION_SECONDS = 5.0
DEFAULT_CONCURRENCY = "1,2,4,8"
MAX_CONCURRENCY = 256
MAX_LEVELS = 10
MIN_DURATION_SECONDS = 2.0  # docker stats reads about once a second: a level needs a reading or two
MAX_DURATION_SECONDS = 60.0
MIN_MEMORY_GB = 0.1  # below this the scoring server does not start
WARMUP_SECONDS = 1.0  # first requests pay for lazy imports; not counted
REQUEST_TIMEOUT_SECONDS = 10

KNEE_SHARE = 0.85  # wide enough that run-to-run noise on a shared machine rarely moves the level
CPU_HEADROOM = 1.1
MEMORY_HEADROOM = 1.3
CPU_BOUND_SHARE = 0.9
CPU_THROTTLED_SHARE = 0.25
MEMORY_BOUND_SHARE = 0.9
TARGET_UTILIZATION_RANGE = (30, 90)
STEP = 0.1  # cores and GB are recommended in tenths

GB = 1024**3
DATA_KEY = "--data"
CONCURRENCY_KEY = "--concurrency"
WRK_MARKER = "MODELSTACK-WRK "
LATENCY_FIELDS = ("p50", "p90", "p95", "p99", "p999")

# wrk's Lua hooks: every thread reads the bodies file once and cycles through it; `done`
# prints the summary as one JSON line (latencies in microseconds).
WRK_SCRIPT = r"""
local requests_ = {}
local index = 0

function init(args)
  -- wrk.format replaces wrk.headers (the -H options) with the table it is given: copy them
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = "application/json"
  for line in io.lines(args[1]) do
    if line:match("%S") then
      requests_[#requests_ + 1] = wrk.format("POST", args[2], headers, line)
    end
  end
end

function request()
  index = index % #requests_ + 1
  return requests_[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('MODELSTACK-WRK {"duration_us": %d, "requests": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p95": %d, "p99": %d, "p999": %d}}\n',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


# --- inputs -------------------------------------------------------------------------------------


def read_request_bodies(path: Path) -> list[str]:
    """The request bodies of a profiling data file: one JSON document per non-blank line."""
    path = Path(path)
    rule = "the profiling data is a file of request bodies, one JSON document per line (Azure ML's profiling dataset)"
    example = "examples/diabetes/sample-requests.jsonl"
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ModelstackError(f"{path} {what}", key=DATA_KEY, rule=rule, fix=f"pass a file of request bodies, e.g. {example}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ModelstackError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})", key=DATA_KEY, rule=rule, fix="save the file as UTF-8 JSON lines") from None
    bodies = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except json.JSONDecodeError as exc:
            raise ModelstackError(
                f"line {number} of {path} is not JSON: {exc.msg} (column {exc.colno})",
                key=DATA_KEY,
                rule=rule,
                fix=f"make line {number} one JSON request body on a single line, or remove it",
            ) from None
        bodies.append(line.strip())
    if not bodies:
        raise ModelstackError(f"{path} holds no request bodies", key=DATA_KEY, rule=rule, fix=f"add at least one line with a JSON request body, as in {example}")
    return bodies


def parse_concurrency(text: str) -> list[int]:
    """'1,2,4,8' -> [1, 2, 4, 8]; '1-16' -> [1, 2, 4, 8, 16] (doubling, both ends included)."""
    rule = f"concurrency levels are whole numbers from 1 to {MAX_CONCURRENCY}, as a list (1,4,16) or a doubling range (1-32), at most {MAX_LEVELS} levels"
    levels: set[int] = set()
    for item in (text or "").replace(" ", "").split(","):
        low, dash, high = item.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ModelstackError(f"'{item}' is not a level or a range", key=CONCURRENCY_KEY, rule=rule, fix=f"write it as {DEFAULT_CONCURRENCY} or 1-16") from None
        if not 1 <= first <= last <= MAX_CONCURRENCY:
            raise ModelstackError(f"'{item}' is out of range", key=CONCURRENCY_KEY, rule=rule, fix=f"use levels between 1 and {MAX_CONCURRENCY}, low end first")
        level = first
        while level < last:
            levels.add(level)
            level *= 2
        levels.add(last)
    if len(levels) > MAX_LEVELS:
        raise ModelstackError(f"{len(levels)} levels asked for", key=CONCURRENCY_KEY, rule=rule, fix="profile fewer levels; the doubling range 1-256 is 9 levels")
    return sorted(levels)


def check_limits(cpu: float, memory_gb: float, duration: float, host_cpus: int) -> None:
    """The container's limits and the run's length, before anything starts."""
    if not 0.01 <= cpu <= host_cpus:
        raise ModelstackError(f"--cpu {cpu:g} is outside what this machine has", key="--cpu", rule=f"the container's CPU limit is between 0.01 and this machine's {host_cpus} cores", fix=f"pick --cpu between 0.01 and {host_cpus}; profile larger sizes on a larger machine")
    if memory_gb < MIN_MEMORY_GB:
        raise ModelstackError(f"--memory-gb {memory_gb:g} is too small", key="--memory-gb", rule=f"the container needs at least {MIN_MEMORY_GB} GB to start the scoring server", fix=f"pick --memory-gb {MIN_MEMORY_GB} or more")
    if not MIN_DURATION_SECONDS <= duration <= MAX_DURATION_SECONDS:
        raise ModelstackError(f"--duration {duration:g} is out of range", key="--duration", rule=f"each level runs for {MIN_DURATION_SECONDS:g} to {MAX_DURATION_SECONDS:g} seconds (docker stats reads about once a second)", fix="pick a duration in that range (the default, 5 s, keeps a run well under 2 minutes)")


# --- measurements -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """What wrk measured at one concurrency level."""

    seconds: float
    responses: int  # answers received, any status
    non_2xx: int
    socket_errors: int  # connect, read and write errors: requests that got no answer
    timeouts: int
    latency_ms: dict[str, float]  # mean, max, p50, p90, p95, p99, p999

    @property
    def total(self) -> int:
        return self.responses + self.socket_errors + self.timeouts

    @property
    def succeeded(self) -> int:
        return self.responses - self.non_2xx

    @property
    def queries_per_second(self) -> float:
        return self.succeeded / self.seconds if self.seconds > 0 else 0.0


def parse_wrk_output(stdout: str) -> LoadResult:
    """The summary line our wrk script prints (see WRK_SCRIPT)."""
    for line in stdout.splitlines():
        if line.startswith(WRK_MARKER):
            raw = json.loads(line[len(WRK_MARKER):])
            errors = raw["errors"]
            latency = {name: value / 1000.0 for name, value in raw["latency_us"].items()}
            return LoadResult(
                seconds=raw["duration_us"] / 1e6,
                responses=int(raw["requests"]),
                non_2xx=int(errors["status"]),
                socket_errors=int(errors["connect"] + errors["read"] + errors["write"]),
                timeouts=int(errors["timeout"]),
                latency_ms=latency,
            )
    raise ValueError(f"no '{WRK_MARKER.strip()}' line in wrk's output: {stdout.strip()[-300:]!r}")


@dataclass(frozen=True)
class UsageSample:
    """One `docker stats` reading: the container's use over the interval that ended at `at`."""

    at: float  # time.monotonic() when it arrived
    interval: float  # seconds it covers
    cpu_cores: float
    memory_bytes: int
    periods: int  # CFS scheduler periods in the interval
    throttled_periods: int  # of which the container hit its CPU limit


def memory_working_set(memory_stats: dict[str, Any]) -> int:
    """Memory in use without the reclaimable page cache, as `docker stats` shows it."""
    usage = int(memory_stats.get("usage") or 0)
    stats = memory_stats.get("stats") or {}
    for cache_key in ("inactive_file", "total_inactive_file"):  # cgroup v2, cgroup v1
        if cache_key in stats and stats[cache_key] < usage:
            return usage - int(stats[cache_key])
    return usage


def usage_sample(stats: dict[str, Any], at: float, interval: float) -> UsageSample | None:
    """A reading of docker's stats stream, or None for the first one (it has no previous reading)."""
    cpu, previous = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    system, previous_system = cpu.get("system_cpu_usage"), previous.get("system_cpu_usage")
    if not system or not previous_system:
        return None
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    used = cpu["cpu_usage"]["total_usage"] - previous["cpu_usage"]["total_usage"]
    elapsed = system - previous_system
    cores = used / elapsed * online if elapsed > 0 else 0.0
    throttling, previous_throttling = cpu.get("throttling_data") or {}, previous.get("throttling_data") or {}
    return UsageSample(
        at=at,
        interval=interval,
        cpu_cores=max(0.0, cores),
        memory_bytes=memory_working_set(stats.get("memory_stats") or {}),
        periods=int(throttling.get("periods", 0) - previous_throttling.get("periods", 0)),
        throttled_periods=int(throttling.get("throttled_periods", 0) - previous_throttling.get("throttled_periods", 0)),
    )


@dataclass(frozen=True)
class Usage:
    cpu_mean: float
    cpu_max: float
    memory_max_bytes: int
    throttled_share: float


def usage_between(samples: list[UsageSample], start: float, end: float) -> Usage:
    """The container's use while a level ran: the samples whose interval is mostly inside it."""
    inside = [s for s in samples if start <= s.at - s.interval / 2 <= end]
    if not inside:
        return Usage(0.0, 0.0, 0, 0.0)
    seconds = sum(s.interval for s in inside) or 1.0
    periods = sum(s.periods for s in inside)
    return Usage(
        cpu_mean=sum(s.cpu_cores * s.interval for s in inside) / seconds,
        cpu_max=max(s.cpu_cores for s in inside),
        memory_max_bytes=max(s.memory_bytes for s in inside),
        throttled_share=sum(s.throttled_periods for s in inside) / periods if periods else 0.0,
    )


@dataclass(frozen=True)
class LevelResult:
    concurrency: int
    load: LoadResult
    usage: Usage

    def as_json(self) -> dict[str, Any]:
        load = self.load
        return {
            "concurrency": self.concurrency,
            "seconds": round(load.seconds, 2),
            "totalQueries": load.total,
            "successQueries": load.succeeded,
            "queriesPerSecond": round(load.queries_per_second, 1),
            "averageLatencyInMs": round(load.latency_ms["mean"], 2),
            **{f"latencyPercentile{name[1:]}InMs": round(load.latency_ms[name], 2) for name in LATENCY_FIELDS},
            "maxLatencyInMs": round(load.latency_ms["max"], 2),
            "cpuCoresMean": round(self.usage.cpu_mean, 3),
            "cpuCoresMax": round(self.usage.cpu_max, 3),
            "memoryInGBMax": round(self.usage.memory_max_bytes / GB, 3),
            "cpuThrottledShare": round(self.usage.throttled_share, 3),
        }


# --- the recommendation (pure) ------------------------------------------------------------------


def round_up(value: float, step: float = STEP) -> float:
    """Up to the next multiple of `step` (0.31 -> 0.4), ignoring float noise (0.30000001 -> 0.3)."""
    return round(math.ceil(round(value / step, 6)) * step, 6)


def recommended_level(levels: list[LevelResult]) -> LevelResult:
    """The lowest concurrency whose throughput reaches KNEE_SHARE of the best level's."""
    answered = [level for level in levels if level.load.succeeded > 0]
    if not answered:
        raise ModelstackError(
            "the service answered no request successfully at any concurrency level",
            key=DATA_KEY,
            rule="profiling measures successful answers (HTTP 2xx) to the data file's request bodies",
            fix="check that the bodies are what the entry script's run() expects (see the service's /swagger.json) and that init() succeeds",
        )
    best = max(level.load.queries_per_second for level in answered)
    return min((level for level in answered if level.load.queries_per_second >= KNEE_SHARE * best), key=lambda level: level.concurrency)


def mean_queueing_wait(servers: int, utilization: float) -> float:
    """Mean wait before service in an M/M/c queue, in service times (Erlang C / (c (1 - u)))."""
    if not 0 <= utilization < 1:
        return math.inf
    offered = servers * utilization
    term = total = 1.0
    for k in range(1, servers):
        term *= offered / k
        total += term
    waiting = term * offered / servers / (1 - utilization)  # offered^c / c! / (1 - u)
    return waiting / (total + waiting) / (servers * (1 - utilization))


def autoscale_target(parallelism: int) -> int:
    """The highest target whose queueing wait is within what Azure ML's default gives one slot."""
    allowed = mean_queueing_wait(1, DEFAULT_TARGET_UTILIZATION / 100)
    low, high = TARGET_UTILIZATION_RANGE
    for target in range(high, low - 1, -5):
        if mean_queueing_wait(max(1, parallelism), target / 100) <= allowed + 1e-9:
            return target
    return low


@dataclass(frozen=True)
class Recommendation:
    level: LevelResult
    cpu_cores: float
    memory_gb: float
    autoscale_target_utilization: int
    cpu_bound: bool
    memory_bound: bool
    notes: tuple[str, ...] = ()


def recommend(levels: list[LevelResult], cpu_limit: float, memory_limit_gb: float, idle_memory_bytes: int = 0) -> Recommendation:
    """Cores, memory and autoscale target for one replica, from the measured levels."""
    level = recommended_level(levels)
    used = level.usage.cpu_mean
    cpu_bound = used >= CPU_BOUND_SHARE * cpu_limit or level.usage.throttled_share >= CPU_THROTTLED_SHARE
    cores = max(STEP, round_up(used * CPU_HEADROOM))
    notes = []
    if level.usage.cpu_max == 0:
        notes.append(f"no docker stats reading covered concurrency {level.concurrency}: the CPU figures are missing; profile again with a longer --duration.")
    if cpu_bound:
        cores = max(cores, round_up(cpu_limit * CPU_HEADROOM))
        notes.append(
            f"CPU-bound at --cpu {cpu_limit:g}: the container used {used:.2f} cores and was throttled in "
            f"{level.usage.throttled_share:.0%} of the scheduler periods at concurrency {level.concurrency}; "
            f"{cores:g} cores is a lower bound. Profile again with --cpu {min(round_up(cpu_limit * 2), 64):g} to find the need."
        )
    peak_memory = max([idle_memory_bytes] + [lv.usage.memory_max_bytes for lv in levels])
    memory_gb = max(STEP, round_up(peak_memory / GB * MEMORY_HEADROOM))
    memory_bound = peak_memory >= MEMORY_BOUND_SHARE * memory_limit_gb * GB
    if memory_bound:
        notes.append(f"memory peaked at {peak_memory / GB:.2f} GB, close to --memory-gb {memory_limit_gb:g}: profile again with more memory before trusting {memory_gb:g} GB.")
    failed = sum(lv.load.total - lv.load.succeeded for lv in levels)
    if failed:
        notes.append(f"{failed} request(s) failed or timed out: see the levels table; failures are not counted in the throughput.")
    return Recommendation(level, cores, memory_gb, autoscale_target(level.concurrency), cpu_bound, memory_bound, tuple(notes))


def profile_fields(levels: list[LevelResult], recommendation: Recommendation, cpu_limit: float, memory_limit_gb: float, idle_memory_bytes: int = 0) -> dict[str, Any]:
    """Azure ML's profile result fields, by their Azure ML names."""
    load = recommendation.level.load
    total = sum(level.load.total for level in levels)
    succeeded = sum(level.load.succeeded for level in levels)
    peak_memory = max([idle_memory_bytes] + [level.usage.memory_max_bytes for level in levels])
    return {
        "requestedCpu": cpu_limit,
        "requestedMemoryInGB": memory_limit_gb,
        "recommendedCpu": recommendation.cpu_cores,
        "recommendedMemoryInGB": recommendation.memory_gb,
        "recommendationLatencyInMs": round(load.latency_ms["p95"], 2),
        "maxUtilizedCpu": round(max(level.usage.cpu_max for level in levels), 3),
        "maxUtilizedMemoryInGB": round(peak_memory / GB, 3),
        "averageLatencyInMs": round(load.latency_ms["mean"], 2),
        **{f"latencyPercentile{name[1:]}InMs": round(load.latency_ms[name], 2) for name in LATENCY_FIELDS},
        "measuredQueriesPerSecond": round(load.queries_per_second, 1),
        "totalQueries": total,
        "successQueries": succeeded,
        "successRate": round(100.0 * succeeded / total, 2) if total else 0.0,
    }


def deploy_suggestion(recommendation: Recommendation) -> dict[str, Any]:
    """The deploy parameters (Azure ML names) to put in a stack's service."""
    return {
        "cpu_cores": recommendation.cpu_cores,
        "memory_gb": recommendation.memory_gb,
        "autoscale_target_utilization": recommendation.autoscale_target_utilization,
    }


def deploy_snippet(stack: str, service: str, suggestion: dict[str, Any]) -> str:
    """The suggestion as the lines of stacks/Pulumi.<stack>.yaml it belongs in."""
    lines = [f"# stacks/Pulumi.{stack}.yaml (target aks; on aci, cpu_cores and memory_gb only)", "config:", "  modelstack:services:", f"    {service}:", "      deploy:"]
    lines += [f"        {key}: {value:g}" if isinstance(value, float) else f"        {key}: {value}" for key, value in suggestion.items()]
    return "\n".join(lines)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class ProfileReport:
    service: str
    stack: str
    image: str
    image_built: bool
    data: str
    bodies: int
    cpu: float
    memory_gb: float
    duration: float
    levels: list[LevelResult]
    recommendation: Recommendation
    idle_memory_bytes: int
    cold_start_seconds: float
    run_seconds: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        return profile_fields(self.levels, self.recommendation, self.cpu, self.memory_gb, self.idle_memory_bytes)

    def as_json(self) -> dict[str, Any]:
        rec = self.recommendation
        return {
            "service": self.service,
            "stack": self.stack,
            "image": self.image,
            "data": self.data,
            "requestBodies": self.bodies,
            "profile": self.fields(),
            "recommendation": {
                "concurrency": rec.level.concurrency,
                "cpuBound": rec.cpu_bound,
                "memoryBound": rec.memory_bound,
                "notes": list(rec.notes),
            },
            "deploy": deploy_suggestion(rec),
            "levels": [level.as_json() for level in self.levels],
            "run": {
                "cpuLimit": self.cpu,
                "memoryLimitInGB": self.memory_gb,
                "durationPerLevelSeconds": self.duration,
                "imageBuilt": self.image_built,
                "coldStartSeconds": round(self.cold_start_seconds, 2),
                "idleMemoryInGB": round(self.idle_memory_bytes / GB, 3),
                "runSeconds": round(self.run_seconds, 1),
                "loadGenerator": "wrk (closed loop, 1 thread, on the same machine)",
            },
            "machine": self.machine,
            "files": self.files,
        }


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise ModelstackError(
            "the load generator wrk is not installed",
            key="wrk",
            rule="profiling replays the request bodies with wrk, a real HTTP load generator",
            fix="install it: `sudo scripts/install-system-deps.sh` (Debian/Ubuntu package `wrk`; Homebrew: `brew install wrk`)",
        )
    return found


def run_wrk(url: str, bodies_file: Path, script: Path, concurrency: int, seconds: float, path: str = "/score", headers: dict[str, str] | None = None) -> LoadResult:
    """One closed-loop level with wrk against `url`, cycling through the bodies."""
    command = [require_wrk(), "-t", "1", "-c", str(concurrency), "-d", f"{seconds:g}s", "--timeout", f"{REQUEST_TIMEOUT_SECONDS}s", "-s", str(script)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += [url, "--", str(bodies_file), path]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT_SECONDS + 20)
    except subprocess.TimeoutExpired:
        raise ModelstackError(f"wrk did not finish a {seconds:g}s level", key="wrk", rule="each level ends after its duration", fix="check the machine's load and run again") from None
    if done.returncode != 0:
        raise ModelstackError(f"wrk failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-400:]}", key="wrk", rule="wrk must reach the service on 127.0.0.1", fix="check that the container is running and the port is free")
    return parse_wrk_output(done.stdout)


def write_wrk_files(folder: Path, bodies: list[str]) -> tuple[Path, Path]:
    """The bodies (one per line) and the Lua script wrk runs, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    bodies_file, script = folder / "bodies.jsonl", folder / "replay.lua"
    bodies_file.write_text("\n".join(bodies) + "\n")
    script.write_text(WRK_SCRIPT)
    return bodies_file, script


class UsageSampler:
    """Reads a container's `docker stats` stream in a thread until stopped or the container goes."""

    def __init__(self, client, container_id: str):
        self.client = client
        self.container_id = container_id
        self.samples: list[UsageSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"stats-{container_id[:12]}", daemon=True)

    def start(self) -> "UsageSampler":
        self._thread.start()
        return self

    def _read(self) -> None:
        previous = time.monotonic()
        try:
            for stats in self.client.api.stats(self.container_id, stream=True, decode=True):
                now = time.monotonic()
                sample = usage_sample(stats, now, now - previous)
                previous = now
                if sample is not None:
                    self.samples.append(sample)
                if self._stop.is_set():
                    return
        except Exception:  # the container went away: the stream ends, and so does sampling
            return

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


def find_built_image(client, context_digest: str) -> str | None:
    """An image already built from exactly this build context (by `up` or an earlier profile)."""
    images = client.images.list(filters={"label": f"modelstack.context-digest={context_digest}"})
    return images[0].id if images else None


def ensure_profile_image(client, project_dir: Path, config, service: str, log: Callable[[str], None]) -> tuple[str, bool]:
    """(image id, whether it was built now): the service's image, built only when missing."""
    from .build_context import build_context
    from .image_builder import build

    context = build_context(project_dir, service, config.services[service], config.models)
    existing = find_built_image(client, context.digest)
    if existing:
        log(f"reusing the image of {service} (tag {context.tag}, models {context.model_versions})")
        return existing, False
    # MODELSTACK_NO_CACHE=1 builds without the layer cache, as it does for `up`.
    no_cache = os.environ.get("MODELSTACK_NO_CACHE", "") not in ("", "0")
    report = build(client, context, f"modelstack/{service}", project_dir / ".modelstack", no_cache=no_cache, log=log)
    return report.image_id, True


@contextmanager
def profiled_container(client, image: str, service: str, cpu: float, memory_gb: float, log: Callable[[str], None]) -> Iterator[tuple[Any, int, float]]:
    """The image running under the limits with its port on 127.0.0.1; removed afterwards.
    Yields (container, port, seconds from start to Healthy)."""
    from .local_webservice import CONTAINER_PORT, free_port, wait_until_healthy

    port = free_port()
    memory_bytes = int(memory_gb * GB)
    started = time.monotonic()
    container = client.containers.run(
        image,
        name=f"modelstack-profile-{service}-{uuid.uuid4().hex[:6]}",
        detach=True,
        ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", port)},
        nano_cpus=int(cpu * 1e9),
        mem_limit=memory_bytes,
        memswap_limit=memory_bytes,  # no swap: a profile must see the memory it needs
        labels={"modelstack.profile": service},
    )
    try:
        log(f"started {container.name} with {cpu:g} CPU and {memory_gb:g} GB on port {port}")
        wait_until_healthy(container, port, service)
        yield container, port, time.monotonic() - started
    finally:
        try:
            container.remove(force=True)
        except Exception:  # already gone
            pass


def preflight(port: int, body: str, service: str) -> None:
    """One request before the load: a clear error beats a table of failures."""
    import requests

    try:
        answer = requests.post(f"http://127.0.0.1:{port}/score", data=body.encode(), headers={"Content-Type": "application/json"}, timeout=REQUEST_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise DeploymentError(f"service {service} did not answer the first request body: {exc}", rule="the service answers POST /score", fix="look at the container's log (docker logs) for what init() or run() raised") from None
    if not 200 <= answer.status_code < 300:
        raise ModelstackError(
            f"service {service} answered HTTP {answer.status_code} to the first request body: {answer.text.strip()[:300]}",
            key=DATA_KEY,
            rule="the request bodies are what the entry script's run() accepts",
            fix="fix the data file (see the service's /swagger.json for the expected input), or the entry script",
        )


def _container_alive(container, service: str) -> None:
    container.reload()
    if container.status != "running":
        state = container.attrs.get("State", {})
        why = "it ran out of memory (OOM-killed)" if state.get("OOMKilled") else f"it exited with code {state.get('ExitCode')}"
        tail = container.logs(tail=20).decode(errors="replace").rstrip()
        raise DeploymentError(
            f"service {service} stopped during the profile: {why}. Last log lines:\n{tail}",
            rule="the service must keep running under the profile's limits",
            fix="profile again with a larger --memory-gb" if state.get("OOMKilled") else "fix what the log shows, then profile again",
        )


def run_profile(
    *,
    service: str,
    stack: str,
    data: Path,
    cpu: float = DEFAULT_CPU,
    memory_gb: float = DEFAULT_MEMORY_GB,
    duration: float = DEFAULT_DURATION_SECONDS,
    concurrency: list[int] | None = None,
    project_dir: Path,
    log: Callable[[str], None],
) -> ProfileReport:
    """Profile one service of a stack; raises ModelstackError for anything the user can fix."""
    from .config import load_from_files
    from .docker_client import docker_client

    started = time.monotonic()
    levels_wanted = concurrency or parse_concurrency(DEFAULT_CONCURRENCY)
    bodies = read_request_bodies(data)
    check_limits(cpu, memory_gb, duration, os.cpu_count() or 1)
    config = load_from_files(stack, project_dir)
    if service not in config.services:
        raise ConfigError(
            f"stack {stack} has no service '{service}'",
            key="modelstack:services",
            rule="profile names a service declared in Pulumi.yaml or the stack's file",
            fix=f"use one of: {', '.join(config.services) or '(none declared)'}",
        )
    client = docker_client()
    require_wrk()
    load_before = os.getloadavg()
    image, built = ensure_profile_image(client, project_dir, config, service, log)
    levels: list[LevelResult] = []
    with tempfile.TemporaryDirectory(prefix="modelstack-profile-") as scratch:
        bodies_file, script = write_wrk_files(Path(scratch), bodies)
        with profiled_container(client, image, service, cpu, memory_gb, log) as (container, port, cold_start):
            preflight(port, bodies[0], service)
            sampler = UsageSampler(docker_client(), container.id).start()
            url = f"http://127.0.0.1:{port}"
            try:
                run_wrk(url, bodies_file, script, 1, WARMUP_SECONDS)
                idle_memory = max((s.memory_bytes for s in sampler.samples), default=0)
                for level in levels_wanted:
                    log(f"concurrency {level}: {duration:g}s of load")
                    level_started = time.monotonic()
                    load = run_wrk(url, bodies_file, script, level, duration)
                    level_ended = time.monotonic()
                    _container_alive(container, service)
                    time.sleep(0.3)  # let the stats reading that covers the level's end arrive
                    usage = usage_between(sampler.samples, level_started, level_ended)
                    levels.append(LevelResult(level, load, usage))
                    log(f"  {load.queries_per_second:.0f} req/s, p50 {load.latency_ms['p50']:.1f} ms, p99 {load.latency_ms['p99']:.1f} ms, {usage.cpu_mean:.2f} cores, {usage.memory_max_bytes / GB:.2f} GB")
            finally:
                sampler.stop()
                sampler.client.close()
    recommendation = recommend(levels, cpu, memory_gb, idle_memory)
    machine = {
        "cpus": os.cpu_count(),
        "loadAverageBefore": [round(x, 2) for x in load_before],
        "loadAverageAfter": [round(x, 2) for x in os.getloadavg()],
    }
    return ProfileReport(
        service=service, stack=stack, image=image, image_built=built, data=str(data), bodies=len(bodies),
        cpu=cpu, memory_gb=memory_gb, duration=duration, levels=levels, recommendation=recommendation,
        idle_memory_bytes=idle_memory, cold_start_seconds=cold_start, run_seconds=time.monotonic() - started, machine=machine,
    )


# --- report files ---------------------------------------------------------------------------------


def write_chart(report: ProfileReport, path: Path) -> Path:
    """A PNG of throughput and latency (p50, p95, p99) against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = report.levels
    x = [level.concurrency for level in levels]
    figure, throughput_axis = plt.subplots(figsize=(9, 5), dpi=100)
    throughput_axis.plot(x, [level.load.queries_per_second for level in levels], "o-", color="tab:blue", label="throughput (req/s)")
    throughput_axis.set_xlabel("concurrency (requests in flight)")
    throughput_axis.set_ylabel("requests per second", color="tab:blue")
    throughput_axis.set_ylim(bottom=0)
    if len(x) > 1 and max(x) / min(x) >= 4:
        throughput_axis.set_xscale("log", base=2)
    throughput_axis.set_xticks(x, [str(c) for c in x])
    latency_axis = throughput_axis.twinx()
    for name, style, colour in (("p50", "s--", "tab:green"), ("p95", "^--", "tab:orange"), ("p99", "v--", "tab:red")):
        latency_axis.plot(x, [level.load.latency_ms[name] for level in levels], style, color=colour, label=f"{name} latency (ms)")
    latency_axis.set_ylabel("latency (ms)")
    latency_axis.set_ylim(bottom=0)
    throughput_axis.axvline(report.recommendation.level.concurrency, color="grey", linestyle=":", label="recommended level")
    handles = throughput_axis.get_legend_handles_labels()[0] + latency_axis.get_legend_handles_labels()[0]
    labels = throughput_axis.get_legend_handles_labels()[1] + latency_axis.get_legend_handles_labels()[1]
    throughput_axis.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=5, fontsize="small", frameon=False)
    throughput_axis.set_title(f"{report.service} ({report.stack}): {report.cpu:g} CPU, {report.memory_gb:g} GB, {report.duration:g}s per level")
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
