"""What a profile run takes: its defaults and bounds (the README's "Profile a service"
documents them), the request bodies of the data file and the concurrency levels, checked."""

from __future__ import annotations

import json
from pathlib import Path

from components.errors import ModelstackError


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
