"""The largest request body a worker can hold, from the replica's memory.

A JSON body costs far more memory than its size once it is parsed: Python objects for every
number (a float is 24 bytes plus 8 for the list's pointer, for 2 to 20 bytes of text), then
the arrays inference-schema or the script build from them. Measured on the diabetes example
(BENCHMARKS.md, "Scoring server memory"), peak worker memory grew by up to
DEFAULT_MEMORY_PER_BODY_BYTE bytes per byte of body. A body the replica cannot hold is refused
with 413 before it is read, instead of the worker being killed for running out of memory
halfway through (which drops every other request it held and restarts init()).

The replica's memory: MODELSTACK_MEMORY_LIMIT_BYTES when set, else the container's cgroup
memory limit (what ACI's memory_gb and Kubernetes' memory limit set), else unknown (then only
MODELSTACK_MAX_REQUEST_BYTES applies). Each of WORKER_COUNT workers gets an equal share, less
what the worker already holds once init() has run.
"""

from __future__ import annotations

import math
import os

# Measured on the diabetes example (BENCHMARKS.md, "Scoring server memory"): 9.4 bytes per byte of
# body for bodies of 8 to 95 MiB, 10.8 for 1 MiB; rounded up.
DEFAULT_MEMORY_PER_BODY_BYTE = 12.0
# Kept free of bodies: the interpreter's own growth, the response, a second request's headers.
HEADROOM_BYTES = 32 * 1024 * 1024
CGROUP_LIMIT_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
# cgroup v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages); anything past this is none.
NO_LIMIT_ABOVE = 1 << 60


def read_cgroup_limit(paths=CGROUP_LIMIT_FILES) -> int | None:
    """The container's memory limit in bytes, None when there is none (or no cgroup to ask)."""
    for path in paths:
        try:
            with open(path) as handle:
                text = handle.read(64).strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return value if 0 < value < NO_LIMIT_ABOVE else None
    return None


def resident_bytes() -> int:
    """This process's resident memory now."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def body_limit(
    configured_max: int, memory_bytes: int | None, workers: int, held_bytes: int, per_body_byte: float
) -> int:
    """The largest body a worker accepts: the configured maximum, lowered to what this worker's
    share of the memory can hold. Never below 64 KiB: a replica that cannot hold that is
    misconfigured, and refusing every request would hide it."""
    if memory_bytes is None:
        return configured_max
    share = memory_bytes / max(workers, 1) - held_bytes - HEADROOM_BYTES
    holdable = math.floor(share / per_body_byte) if share > 0 else 0
    return max(min(configured_max, holdable), 64 * 1024)
