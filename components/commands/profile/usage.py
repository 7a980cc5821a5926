"""The container's CPU and memory while load runs: `docker stats` readings, sampled on a
thread, and what they add up to over one level."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


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


class UsageSampler:
    """Reads a container's `docker stats` stream in a thread until stopped or the container goes."""

    def __init__(self, client, container_id: str):
        self.client = client
        self.container_id = container_id
        self.samples: list[UsageSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"stats-{container_id[:12]}", daemon=True)

    def start(self) -> UsageSampler:
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
