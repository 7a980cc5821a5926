"""Benchmark: the deployed endpoint against `azmlinfsrv` run bare, same image, side by side.

    venv/bin/python benchmarks/endpoint_vs_bare.py [--concurrency 1,8,32] [--duration 3] [--rounds 5]
                                                   [--starts 3] [--auth] [--env NAME=VALUE] [--json]

Both containers run the example `diabetes` service's image, built from this checkout (or
reused when an image of the same build context exists), with no CPU or memory limit, each
with its port published on 127.0.0.1 as a local webservice is:

- endpoint: the image as it is, with its own ENTRYPOINT and CMD (whatever modelstack puts in
  front of the scoring server: today's wiring, the auth layer once it lands);
- bare: the same image with the entrypoint replaced by `/opt/env/bin/azmlinfsrv --entry_script
  <the image's entry script> --port 5001`: the same venv, entry script and model, nothing else.

Throughput and latency come from wrk (closed loop, one thread) replaying the example's
request bodies at each concurrency level; the two are measured back to back, level by level,
for `--rounds` rounds (the order flips each round). Reported per level: each target's median
round, and the median of the per-round ratios endpoint/bare (each pair measured within seconds
of each other, so the load other work puts on the machine mostly cancels out), with the
lowest and highest ratio to show the noise. Cold
start is container start to `GET /` answering 200, alternately, median of `--starts`.
`--auth` runs the endpoint with key auth on (MODELSTACK_AUTH_ENABLED and a generated
MODELSTACK_PRIMARY_KEY, see modelstack_server/azmlinfsrv_front.py) and sends the key; it first checks
that a request without the key is refused. The front's own cost is also timed in process
(modelstack_server/azmlinfsrv_front.py around an app that does nothing), a figure free of the machine's
noise. The target: the endpoint keeps >= 90% of bare throughput at every level.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from components.commands.profile.container import ensure_profile_image  # noqa: E402
from components.commands.profile.inputs import read_request_bodies  # noqa: E402
from components.commands.profile.wrk import run_wrk, write_wrk_files  # noqa: E402
from components.config.load import load_from_files  # noqa: E402
from components.image.docker_client import docker_client  # noqa: E402
from components.targets.local.webservice import free_port  # noqa: E402
from examples.diabetes.train import train  # noqa: E402
from modelstack_server.contract import PORT as CONTAINER_PORT  # noqa: E402
from tests.workspace import copy_project  # noqa: E402

TARGET_SHARE = 0.9
HEALTH_TIMEOUT = 120


def quiet(_message: str) -> None:
    pass


def bare_command(image_attrs: dict) -> tuple[list[str], list[str]]:
    """(entrypoint, command) that run the image's entry script with azmlinfsrv and nothing else."""
    env = dict(item.split("=", 1) for item in image_attrs["Config"].get("Env") or [])
    entry = env["AZUREML_ENTRY_SCRIPT"]
    if not entry.startswith("/"):
        entry = f"{env.get('AML_APP_ROOT', '/var/azureml-app')}/{entry}"
    return ["/opt/env/bin/azmlinfsrv"], ["--entry_script", entry, "--port", str(CONTAINER_PORT)]


def front_overhead_us(auth: bool, calls: int = 100_000) -> float | None:
    """Microseconds the image's front (modelstack_server/azmlinfsrv_front.py) adds to one request, in
    process, around an app that does nothing: a figure the machine's noise does not blur.
    None when there is no front, or its interface changed."""
    import importlib
    import timeit

    try:
        front = importlib.import_module("modelstack_server.azmlinfsrv_front")
        key = "k" * 43
        settings = front.FrontSettings.from_environ(
            {"MODELSTACK_AUTH_ENABLED": "true", "MODELSTACK_PRIMARY_KEY": key} if auth else {}
        )
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/score",
            "CONTENT_LENGTH": "90",
            "HTTP_AUTHORIZATION": f"Bearer {key}",
        }

        def app(environ, start_response):
            start_response("200 OK", [])
            return [b"[]"]

        fronted = front.ScoringFront(app, settings)
        assert fronted(dict(environ), lambda *a: None) == [b"[]"]
    except Exception:
        return None
    plain = min(timeit.repeat(lambda: app(dict(environ), lambda *a: None), number=calls, repeat=3))
    wrapped = min(timeit.repeat(lambda: fronted(dict(environ), lambda *a: None), number=calls, repeat=3))
    return (wrapped - plain) / calls * 1e6


def start(client, image: str, name: str, *, bare: bool, environment: dict[str, str]):
    port = free_port()
    options = {}
    if bare:
        entrypoint, command = bare_command(client.images.get(image).attrs)
        options = {"entrypoint": entrypoint, "command": command}
    started = time.monotonic()
    container = client.containers.run(
        image,
        name=name,
        detach=True,
        ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", port)},
        environment={} if bare else environment,
        labels={"modelstack.benchmark": "endpoint-vs-bare"},
        **options,
    )
    deadline = started + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return container, port, time.monotonic() - started
        except requests.RequestException:
            pass
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.05)
    tail = container.logs(tail=20).decode(errors="replace")
    container.remove(force=True)
    raise SystemExit(f"{name} did not become healthy:\n{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement (default 3)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=3, help="cold starts per target (default 3)")
    parser.add_argument(
        "--auth", action="store_true", help="key auth on in the endpoint (the auth layer), the key sent by wrk"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra environment of the endpoint container"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    environment = dict(item.split("=", 1) for item in args.env)
    headers: dict[str, str] = {}
    if args.auth:
        key = secrets.token_urlsafe(32)
        environment.update({"MODELSTACK_AUTH_ENABLED": "true", "MODELSTACK_PRIMARY_KEY": key})
        headers["Authorization"] = f"Bearer {key}"

    client = docker_client()
    workdir = Path(tempfile.mkdtemp(prefix="modelstack-vs-bare-"))
    root = copy_project(workdir / "project")
    train(root / "examples" / "diabetes" / "model")
    config = load_from_files("local", root)
    image, built = ensure_profile_image(client, root, config, "diabetes", quiet)
    bodies = read_request_bodies(root / "examples" / "diabetes" / "sample-requests.jsonl")
    bodies_file, script = write_wrk_files(workdir / "wrk", bodies)
    load_before = os.getloadavg()
    targets = ("endpoint", "bare")
    cold: dict[str, list[float]] = {t: [] for t in targets}
    runs: dict[str, dict[int, list]] = {t: {c: [] for c in levels} for t in targets}
    suffix = os.getpid()
    try:
        for index in range(args.starts):
            for target in targets if index % 2 == 0 else reversed(targets):
                container, _, seconds = start(
                    client, image, f"modelstack-bench-{target}-{suffix}", bare=target == "bare", environment=environment
                )
                cold[target].append(seconds)
                container.remove(force=True)
        running = {
            t: start(client, image, f"modelstack-bench-{t}-{suffix}", bare=t == "bare", environment=environment)
            for t in targets
        }
        if args.auth:
            refused = requests.post(
                f"http://127.0.0.1:{running['endpoint'][1]}/score", data=bodies[0], timeout=5
            ).status_code
            if refused != 401:
                raise SystemExit(
                    f"--auth: the endpoint answered {refused} to a request without a key; the auth layer is not on"
                )
        for target in targets:  # warm both (lazy imports on the first requests)
            run_wrk(
                f"http://127.0.0.1:{running[target][1]}",
                bodies_file,
                script,
                1,
                1,
                headers=headers if target == "endpoint" else None,
            )
        for round_ in range(args.rounds):
            for concurrency in levels:
                for target in targets if round_ % 2 == 0 else reversed(targets):
                    port = running[target][1]
                    load = run_wrk(
                        f"http://127.0.0.1:{port}",
                        bodies_file,
                        script,
                        concurrency,
                        args.duration,
                        headers=headers if target == "endpoint" else None,
                    )
                    if load.succeeded != load.total:
                        raise SystemExit(
                            f"{target} at concurrency {concurrency}: {load.total - load.succeeded} failed requests"
                        )
                    runs[target][concurrency].append(load)
        for container, _, _ in running.values():
            container.remove(force=True)
    finally:
        for target in targets:
            for container in client.containers.list(all=True, filters={"name": f"modelstack-bench-{target}-{suffix}"}):
                container.remove(force=True)
        shutil.rmtree(workdir, ignore_errors=True)

    def median_run(loads):
        return sorted(loads, key=lambda load: load.queries_per_second)[len(loads) // 2]

    rows = []
    for concurrency in levels:
        row: dict[str, Any] = {"concurrency": concurrency}
        for target in targets:
            load = median_run(runs[target][concurrency])
            row[target] = {
                "rps": round(load.queries_per_second),
                "p50_ms": round(load.latency_ms["p50"], 2),
                "p99_ms": round(load.latency_ms["p99"], 2),
                "rps_all_rounds": [round(r.queries_per_second) for r in runs[target][concurrency]],
            }
        ratios = sorted(
            e.queries_per_second / b.queries_per_second
            for e, b in zip(runs["endpoint"][concurrency], runs["bare"][concurrency], strict=True)
        )
        row["throughput_share"] = round(statistics.median(ratios), 3)
        row["share_range"] = [round(ratios[0], 3), round(ratios[-1], 3)]
        rows.append(row)
    overhead = front_overhead_us(args.auth)
    result = {
        "image": image,
        "image_built": built,
        "auth": args.auth,
        "front_overhead_us_per_request": round(overhead, 2) if overhead is not None else None,
        "cold_start_s": {
            t: {"median": round(statistics.median(cold[t]), 2), "all": [round(s, 2) for s in cold[t]]} for t in targets
        },
        "levels": rows,
        "target_met": all(row["throughput_share"] >= TARGET_SHARE for row in rows),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"image {image[:19]} ({'built' if built else 'reused'}), auth {'on' if args.auth else 'as the image defaults'}"
    )
    if overhead is not None:
        service_us = 1e6 / rows[0]["bare"]["rps"]
        print(
            f"the front in process: {overhead:.1f} us per request ({overhead / service_us:.2%} of the {service_us:.0f} us a request takes bare at concurrency {rows[0]['concurrency']})"
        )
    print(
        f"cold start to Healthy: endpoint {result['cold_start_s']['endpoint']['median']}s, bare {result['cold_start_s']['bare']['median']}s (medians of {args.starts})"
    )
    print(
        f"{'concurrency':>11} {'endpoint rps':>12} {'p50':>7} {'p99':>7} {'bare rps':>9} {'p50':>7} {'p99':>7} {'share':>6}  (lowest-highest of {args.rounds} pairs)"
    )
    for row in rows:
        e, b = row["endpoint"], row["bare"]
        low, high = row["share_range"]
        print(
            f"{row['concurrency']:>11} {e['rps']:>12} {e['p50_ms']:>6}ms {e['p99_ms']:>6}ms {b['rps']:>9} {b['p50_ms']:>6}ms {b['p99_ms']:>6}ms {row['throughput_share']:>6}  ({low}-{high})"
        )
    print(
        f"load average before {result['load_average_before']}, after {result['load_average_after']}; target: median share >= {TARGET_SHARE} at every level: {'met' if result['target_met'] else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
