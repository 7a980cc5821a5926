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

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.commands.profile.container import _container_alive, ensure_profile_image, preflight, profiled_container
from components.commands.profile.inputs import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CPU,
    DEFAULT_DURATION_SECONDS,
    DEFAULT_MEMORY_GB,
    GB,
    WARMUP_SECONDS,
    check_limits,
    parse_concurrency,
    read_request_bodies,
)
from components.commands.profile.recommend import (
    LevelResult,
    Recommendation,
    deploy_suggestion,
    profile_fields,
    recommend,
)
from components.commands.profile.usage import UsageSampler, usage_between
from components.commands.profile.wrk import require_wrk, run_wrk, write_wrk_files
from components.errors import ConfigError


def server_concurrency(service_spec) -> dict[str, Any]:
    """How the image's server serves requests, as the stack deploys it (pure).

    Both servers (services.<name>.scoring_server) run WORKER_COUNT worker processes, each with
    its own init() and one run() at a time; AKS sets WORKER_COUNT from
    replica_max_concurrent_requests, ACI and local run one worker. Requests beyond the workers
    wait: in modelstack's server on their open connection, in azmlinfsrv's gunicorn in the
    listen backlog."""
    from components.config.schema import AksDeploy

    workers = service_spec.deploy.replica_max_concurrent_requests if isinstance(service_spec.deploy, AksDeploy) else 1
    return {"scoringServer": service_spec.scoring_server, "workers": workers, "concurrentRuns": workers}


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
    server: dict[str, Any] = field(default_factory=dict)  # server_concurrency()

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
            "server": self.server,
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
    from components.config.load import load_from_files
    from components.image.docker_client import docker_client

    started = time.monotonic()
    levels_wanted = concurrency or parse_concurrency(DEFAULT_CONCURRENCY)
    bodies = read_request_bodies(data)
    check_limits(
        cpu, memory_gb, duration, os.cpu_count() or 1, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    )
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
    server = server_concurrency(config.services[service])
    levels: list[LevelResult] = []
    with tempfile.TemporaryDirectory(prefix="modelstack-profile-") as scratch:
        bodies_file, script = write_wrk_files(Path(scratch), bodies)
        with profiled_container(
            client, image, service, cpu, memory_gb, log, environment={"WORKER_COUNT": str(server["workers"])}
        ) as (container, port, cold_start):
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
                    log(
                        f"  {load.queries_per_second:.0f} req/s, p50 {load.latency_ms['p50']:.1f} ms, p99 {load.latency_ms['p99']:.1f} ms, {usage.cpu_mean:.2f} cores, {usage.memory_max_bytes / GB:.2f} GB"
                    )
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
        service=service,
        stack=stack,
        image=image,
        image_built=built,
        data=str(data),
        bodies=len(bodies),
        cpu=cpu,
        memory_gb=memory_gb,
        duration=duration,
        levels=levels,
        recommendation=recommendation,
        idle_memory_bytes=idle_memory,
        cold_start_seconds=cold_start,
        run_seconds=time.monotonic() - started,
        machine=machine,
        server=server,
    )
