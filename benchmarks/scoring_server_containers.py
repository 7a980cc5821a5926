"""azmlinfsrv against modelstack's scoring server in their real images, side by side in one run.

Two images of the diabetes example are built from the rendered build context, one per
`scoring_server` (modelstack, the default, and azmlinfsrv behind modelstack's front); the image
layers under the server come from the same cache. Each container runs alone, limited to one CPU
and pinned to core 0 (`--cpus 1 --cpuset-cpus 0`), one worker (WORKER_COUNT=1, as ACI and the
AKS default run it), its port published on 127.0.0.1; wrk runs pinned to core 1.

Per server: cold start to Healthy (`docker run` to the first 200 on GET /, median of --starts
containers), with the example's entry script and with one that imports nothing
(cold_start/empty_score.py: the server's own start), next to two floors run in the same image
(cold_start/floor.py: a bare socket after the script's init(), and after nothing: what no server
can go under); memory (the container's cgroup usage and the largest process's RSS, the worker,
once warm), then requests/s, p50 and p99 at concurrency 1, 8 and 32 (wrk, one thread, keep-alive
as wrk does; azmlinfsrv closes every connection itself). With --rounds N the servers alternate
N times and medians are reported. Every container and both images are removed at the end, by ID.

    venv/bin/python examples/diabetes/train.py        # once: the model
    venv/bin/python benchmarks/scoring_server_containers.py [--seconds 5] [--rounds 1] [--starts 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
from docker.models.containers import Container

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.scoring_server import wrk  # noqa: E402 (the same load, host or container)
from components.config.load import load_from_files  # noqa: E402
from components.image.build_context import build_context  # noqa: E402
from components.image.builder import build  # noqa: E402
from components.image.docker_client import docker_client  # noqa: E402
from tests.workspace import free_port  # noqa: E402

EXAMPLE = REPO / "examples" / "diabetes"
SAMPLE = (EXAMPLE / "sample-requests.jsonl").read_text().splitlines()[0]
CONCURRENCY = (1, 8, 32)
SERVERS = ("azmlinfsrv", "modelstack")
RUN = uuid.uuid4().hex[:6]


def build_images(client) -> dict[str, str]:
    config = load_from_files("local", REPO)
    images = {}
    for server in SERVERS:
        service = config.services["diabetes"].model_copy(update={"scoring_server": server})
        context = build_context(REPO, "diabetes", service, config.models)
        repository = f"modelstack-bench/scoring-{server}-{RUN}"
        build(client, context, repository, REPO / ".modelstack", log=lambda line: print(f"  {line}", file=sys.stderr))
        images[server] = f"{repository}:{context.tag}"
    return images


COLD_START = Path(__file__).resolve().parent / "cold_start"
MOUNTED = "/opt/modelstack-bench"
ENTRY_SCRIPT = "/var/azureml-app/src/score.py"
SERVER_COMMANDS = {
    "azmlinfsrv": ["python", "/opt/modelstack/modelstack_front.py"],
    "modelstack": ["python", "-m", "modelstack_server"],
}
# name -> (server whose image runs it, command; None is the image's own)
COLD_STARTS = {
    "floor: container and interpreter only": ("modelstack", ["python", f"{MOUNTED}/floor.py", "--no-script"]),
    "floor: the example's init(), a bare socket": ("modelstack", ["python", f"{MOUNTED}/floor.py", ENTRY_SCRIPT]),
    **{
        f"{kind}: empty entry script": (
            kind,
            SERVER_COMMANDS[kind] + ["--entry_script", f"{MOUNTED}/empty_score.py", "--port", "5001"],
        )
        for kind in SERVERS
    },
    **{f"{kind}: the example": (kind, None) for kind in SERVERS},
}


def start(client, image: str, created: list, command: list[str] | None = None) -> tuple[Container, int, float]:
    port = free_port()
    begun = time.perf_counter()
    container = client.containers.run(
        image,
        command=command,
        detach=True,
        environment={"WORKER_COUNT": "1"},
        ports={"5001/tcp": ("127.0.0.1", port)},
        nano_cpus=1_000_000_000,
        cpuset_cpus="0",
        labels={"modelstack.benchmark": RUN},
        volumes={str(COLD_START): {"bind": MOUNTED, "mode": "ro"}},
    )
    created.append(container.id)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return container, port, time.perf_counter() - begun
        except requests.RequestException:
            time.sleep(0.01)
    raise SystemExit(f"{image} did not become healthy:\n{container.logs(tail=20).decode(errors='replace')}")


def memory_mib(container) -> tuple[float, float]:
    """(the container's cgroup memory usage, the largest process RSS in it), MiB."""
    stats = container.stats(stream=False)
    usage = stats["memory_stats"].get("usage", 0) - stats["memory_stats"].get("stats", {}).get("inactive_file", 0)
    top = container.top(ps_args="-eo pid,rss,args")
    rss_index = top["Titles"].index("RSS")
    largest = max(int(row[rss_index]) for row in top["Processes"])
    return usage / 2**20, largest / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the servers this many times; medians are reported"
    )
    parser.add_argument("--starts", type=int, default=3, help="containers started per kind of cold start (median)")
    args = parser.parse_args()
    if not (EXAMPLE / "model" / "ridge.joblib").exists():
        raise SystemExit("train the example first: venv/bin/python examples/diabetes/train.py")
    client = docker_client()
    load_before = os.getloadavg()
    created: list[str] = []
    images: dict[str, str] = {}
    results: dict[str, dict] = {kind: {"cgroup": [], "rss": [], **{c: [] for c in CONCURRENCY}} for kind in SERVERS}
    cold: dict[str, list[float]] = {name: [] for name in COLD_STARTS}
    try:
        print("building the two images", file=sys.stderr)
        images = build_images(client)
        with tempfile.TemporaryDirectory() as scratch:
            lua = Path(scratch) / "post.lua"
            lua.write_text(
                f"wrk.method = 'POST'\nwrk.body = '{SAMPLE}'\nwrk.headers['Content-Type'] = 'application/json'\n"
            )
            for _ in range(
                args.starts
            ):  # cold starts, alternating: the images are local, the page cache warm after the first
                for name, (kind, command) in COLD_STARTS.items():
                    container, _, seconds = start(client, images[kind], created, command)
                    cold[name].append(seconds)
                    container.remove(force=True)
            for _ in range(args.rounds):
                for kind in SERVERS:
                    print(f"{kind}: load", file=sys.stderr)
                    container, port, _ = start(client, images[kind], created)
                    try:
                        wrk(port, 8, 2, str(lua))  # warm-up
                        cgroup, rss = memory_mib(container)
                        results[kind]["cgroup"].append(cgroup)
                        results[kind]["rss"].append(rss)
                        for connections in CONCURRENCY:
                            results[kind][connections].append(wrk(port, connections, args.seconds, str(lua)))
                    finally:
                        container.remove(force=True)
    finally:
        for container_id in created:
            try:
                client.containers.get(container_id).remove(force=True)
            except Exception:  # already removed
                pass
        for reference in images.values():
            # our tag, then the image by ID unless another tag still holds it (the local stack's
            # image of the same context is the same image)
            image_id = client.images.get(reference).id
            client.images.remove(reference)
            try:
                client.images.remove(str(image_id))
            except Exception:  # still tagged elsewhere, or used by a container we did not make
                pass
    load_after = os.getloadavg()
    print(
        f"\nmachine: {os.cpu_count()} cores, {os.uname().release}; each container --cpus 1 --cpuset-cpus 0, WORKER_COUNT=1; wrk on core 1; "
        f"{args.seconds} s per level, {args.rounds} round(s), {args.starts} cold starts per server; "
        f"load average before {' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in load_after)}\n"
    )
    print("| server | concurrency | requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for kind in SERVERS:
        for connections in CONCURRENCY:
            runs = results[kind][connections]
            rps, p50, p99 = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"| {kind} | {connections} | {rps:.0f} | {p50:.2f} | {p99:.2f} |")
    print("\n| cold start to Healthy | s (median; all) |")
    print("|---|---|")
    for name, times in cold.items():
        print(f"| {name} | {statistics.median(times):.2f} ({', '.join(f'{x:.2f}' for x in times)}) |")
    print("\n| server | container memory MiB | worker RSS MiB |")
    print("|---|---|---|")
    for kind in SERVERS:
        r = results[kind]
        print(f"| {kind} | {statistics.median(r['cgroup']):.1f} | {statistics.median(r['rss']):.1f} |")
    floor = statistics.median(cold["floor: the example's init(), a bare socket"])
    base, ours = results["azmlinfsrv"], results["modelstack"]
    print("\nratios (modelstack / azmlinfsrv):")
    for connections in CONCURRENCY:
        b = [statistics.median(r[i] for r in base[connections]) for i in range(3)]
        o = [statistics.median(r[i] for r in ours[connections]) for i in range(3)]
        print(f"  c={connections}: requests/s {o[0] / b[0]:.2f}x, p50 {o[1] / b[1]:.2f}x, p99 {o[2] / b[2]:.2f}x")
    example = {kind: statistics.median(cold[f"{kind}: the example"]) for kind in SERVERS}
    print(
        f"  cold start {example['modelstack'] / example['azmlinfsrv']:.2f}x, worker RSS {statistics.median(ours['rss']) / statistics.median(base['rss']):.2f}x"
    )
    print(
        "  cold start over the floor (the example's init() and a bare socket): "
        + ", ".join(f"{kind} +{example[kind] - floor:.3f} s" for kind in SERVERS)
    )


if __name__ == "__main__":
    main()
