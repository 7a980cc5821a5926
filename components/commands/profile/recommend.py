"""From measured levels to Azure ML's profile fields and a stack's deploy parameters (pure).
The module docstring of components.commands.profile.run says what the figures mean."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from components.commands.profile.inputs import (
    CPU_BOUND_SHARE,
    CPU_HEADROOM,
    CPU_THROTTLED_SHARE,
    DATA_KEY,
    GB,
    KNEE_SHARE,
    MEMORY_BOUND_SHARE,
    MEMORY_HEADROOM,
    STEP,
    TARGET_UTILIZATION_RANGE,
)
from components.commands.profile.usage import Usage
from components.commands.profile.wrk import LATENCY_FIELDS, LoadResult
from components.config.deploy_rules import DEFAULT_TARGET_UTILIZATION
from components.errors import ModelstackError


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
    return min(
        (level for level in answered if level.load.queries_per_second >= KNEE_SHARE * best),
        key=lambda level: level.concurrency,
    )


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


def recommend(
    levels: list[LevelResult], cpu_limit: float, memory_limit_gb: float, idle_memory_bytes: int = 0
) -> Recommendation:
    """Cores, memory and autoscale target for one replica, from the measured levels."""
    level = recommended_level(levels)
    used = level.usage.cpu_mean
    cpu_bound = used >= CPU_BOUND_SHARE * cpu_limit or level.usage.throttled_share >= CPU_THROTTLED_SHARE
    cores = max(STEP, round_up(used * CPU_HEADROOM))
    notes = []
    if level.usage.cpu_max == 0:
        notes.append(
            f"no docker stats reading covered concurrency {level.concurrency}: the CPU figures are missing; profile again with a longer --duration."
        )
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
        notes.append(
            f"memory peaked at {peak_memory / GB:.2f} GB, close to --memory-gb {memory_limit_gb:g}: profile again with more memory before trusting {memory_gb:g} GB."
        )
    failed = sum(lv.load.total - lv.load.succeeded for lv in levels)
    if failed:
        notes.append(
            f"{failed} request(s) failed or timed out: see the levels table; failures are not counted in the throughput."
        )
    return Recommendation(
        level, cores, memory_gb, autoscale_target(level.concurrency), cpu_bound, memory_bound, tuple(notes)
    )


def profile_fields(
    levels: list[LevelResult],
    recommendation: Recommendation,
    cpu_limit: float,
    memory_limit_gb: float,
    idle_memory_bytes: int = 0,
) -> dict[str, Any]:
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
    lines = [
        f"# stacks/Pulumi.{stack}.yaml (target aks; on aci, cpu_cores and memory_gb only)",
        "config:",
        "  modelstack:services:",
        f"    {service}:",
        "      deploy:",
    ]
    lines += [
        f"        {key}: {value:g}" if isinstance(value, float) else f"        {key}: {value}"
        for key, value in suggestion.items()
    ]
    return "\n".join(lines)
