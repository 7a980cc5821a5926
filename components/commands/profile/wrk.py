"""Closed-loop load with wrk: the Lua script that replays the data file's bodies and prints a
summary line, running it at one concurrency level, and reading its figures back."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from components.commands.profile.inputs import REQUEST_TIMEOUT_SECONDS
from components.errors import ModelstackError

LATENCY_FIELDS = ("p50", "p90", "p95", "p99", "p999")

WRK_MARKER = "MODELSTACK-WRK "

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
            raw = json.loads(line[len(WRK_MARKER) :])
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


def run_wrk(
    url: str,
    bodies_file: Path,
    script: Path,
    concurrency: int,
    seconds: float,
    path: str = "/score",
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """One closed-loop level with wrk against `url`, cycling through the bodies."""
    command = [
        require_wrk(),
        "-t",
        "1",
        "-c",
        str(concurrency),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        f"{REQUEST_TIMEOUT_SECONDS}s",
        "-s",
        str(script),
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += [url, "--", str(bodies_file), path]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT_SECONDS + 20)
    except subprocess.TimeoutExpired:
        raise ModelstackError(
            f"wrk did not finish a {seconds:g}s level",
            key="wrk",
            rule="each level ends after its duration",
            fix="check the machine's load and run again",
        ) from None
    if done.returncode != 0:
        raise ModelstackError(
            f"wrk failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-400:]}",
            key="wrk",
            rule="wrk must reach the service on 127.0.0.1",
            fix="check that the container is running and the port is free",
        )
    return parse_wrk_output(done.stdout)


def write_wrk_files(folder: Path, bodies: list[str]) -> tuple[Path, Path]:
    """The bodies (one per line) and the Lua script wrk runs, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    bodies_file, script = folder / "bodies.jsonl", folder / "replay.lua"
    bodies_file.write_text("\n".join(bodies) + "\n")
    script.write_text(WRK_SCRIPT)
    return bodies_file, script
