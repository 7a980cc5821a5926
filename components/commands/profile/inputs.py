"""What a profile run takes: its defaults and bounds (docs/commands.md, "modelstack profile",
documents them), the request bodies of the data file and the concurrency levels, checked."""

from __future__ import annotations

import json
import math
from pathlib import Path

from components.config import reading
from components.errors import ModelstackError

# --- defaults and bounds (docs/commands.md, "modelstack profile", documents them) ------------

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


# --- inputs -------------------------------------------------------------------------------------


def read_request_bodies(path: Path) -> list[str]:
    """The request bodies of a profiling data file: one JSON document per non-blank line."""
    path = Path(path)
    rule = "the profiling data is a file of request bodies, one JSON document per line (Azure ML's profiling dataset)"
    example = "examples/diabetes/sample-requests.jsonl"
    if not path.exists() and not path.is_symlink():
        raise ModelstackError(
            f"{path} does not exist", key=DATA_KEY, rule=rule, fix=f"pass a file of request bodies, e.g. {example}"
        )
    if path.is_dir():
        raise ModelstackError(
            f"{path} is a folder, not a file",
            key=DATA_KEY,
            rule=rule,
            fix=f"pass a file of request bodies, e.g. {example}",
        )
    try:
        text = reading.read_text(path, limit=reading.MAX_DOCUMENT_BYTES, rule=rule, error=ModelstackError, key=DATA_KEY)
    except FileNotFoundError:  # a dangling link
        raise ModelstackError(
            f"{path} does not exist", key=DATA_KEY, rule=rule, fix=f"pass a file of request bodies, e.g. {example}"
        ) from None
    lines = text.splitlines()
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
        except RecursionError:
            raise ModelstackError(
                f"line {number} of {path} nests too deep to be read",
                key=DATA_KEY,
                rule=rule,
                fix=f"make line {number} a request body of reasonable depth",
            ) from None
        bodies.append(line.strip())
    if not bodies:
        raise ModelstackError(
            f"{path} holds no request bodies",
            key=DATA_KEY,
            rule=rule,
            fix=f"add at least one line with a JSON request body, as in {example}",
        )
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
            raise ModelstackError(
                f"'{item}' is not a level or a range",
                key=CONCURRENCY_KEY,
                rule=rule,
                fix=f"write it as {DEFAULT_CONCURRENCY} or 1-16",
            ) from None
        if not 1 <= first <= last <= MAX_CONCURRENCY:
            raise ModelstackError(
                f"'{item}' is out of range",
                key=CONCURRENCY_KEY,
                rule=rule,
                fix=f"use levels between 1 and {MAX_CONCURRENCY}, low end first",
            )
        level = first
        while level < last:
            levels.add(level)
            level *= 2
        levels.add(last)
    if len(levels) > MAX_LEVELS:
        raise ModelstackError(
            f"{len(levels)} levels asked for",
            key=CONCURRENCY_KEY,
            rule=rule,
            fix="profile fewer levels; the doubling range 1-256 is 9 levels",
        )
    return sorted(levels)


def check_limits(
    cpu: float, memory_gb: float, duration: float, host_cpus: int, host_memory_gb: float | None = None
) -> None:
    """The container's limits and the run's length, before anything starts."""
    for option, value in (("--cpu", cpu), ("--memory-gb", memory_gb), ("--duration", duration)):
        if not math.isfinite(value):
            raise ModelstackError(
                f"{option} {value:g} is not a finite number",
                key=option,
                rule="sizes and durations are finite numbers (nan and inf are not)",
                fix=f"give {option} a number, e.g. {option} 1",
            )
    if not 0.01 <= cpu <= host_cpus:
        raise ModelstackError(
            f"--cpu {cpu:g} is outside what this machine has",
            key="--cpu",
            rule=f"the container's CPU limit is between 0.01 and this machine's {host_cpus} cores",
            fix=f"pick --cpu between 0.01 and {host_cpus}; profile larger sizes on a larger machine",
        )
    if memory_gb < MIN_MEMORY_GB:
        raise ModelstackError(
            f"--memory-gb {memory_gb:g} is too small",
            key="--memory-gb",
            rule=f"the container needs at least {MIN_MEMORY_GB} GB to start the scoring server",
            fix=f"pick --memory-gb {MIN_MEMORY_GB} or more",
        )
    if host_memory_gb is not None and memory_gb > host_memory_gb:
        raise ModelstackError(
            f"--memory-gb {memory_gb:g} is more than this machine has",
            key="--memory-gb",
            rule=f"the container's memory limit is at most this machine's {host_memory_gb:.0f} GB",
            fix=f"pick --memory-gb up to {host_memory_gb:.0f}; profile larger sizes on a larger machine",
        )
    if not MIN_DURATION_SECONDS <= duration <= MAX_DURATION_SECONDS:
        raise ModelstackError(
            f"--duration {duration:g} is out of range",
            key="--duration",
            rule=f"each level runs for {MIN_DURATION_SECONDS:g} to {MAX_DURATION_SECONDS:g} seconds (docker stats reads about once a second)",
            fix="pick a duration in that range (the default, 5 s, keeps a run well under 2 minutes)",
        )
