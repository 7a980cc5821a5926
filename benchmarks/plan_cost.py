"""Benchmark: the cost of planning a stack (`check`) against the floor of Pulumi's mock runtime.

    venv/bin/python benchmarks/plan_cost.py [--services 10,100,1000] [--rounds 3] [--json]

For each size N, a scratch copy of the project gets a stack of N local services (each one
the example `diabetes` service under another name), and two things are timed in this one
process, alternately, best of `--rounds` (small stacks as the mean of a batch of runs):

- ours: what `modelstack check` does after the interpreter has started: read and validate
  the stack's config (`load_from_files`), evaluate it under the mock runtime
  (`components.offline.evaluate`), and run the policies over the planned resources;
- floor: a bare Pulumi program that registers the same number of Kubernetes resources
  (Deployment, Service, HorizontalPodAutoscaler from pulumi-kubernetes, one of each per
  service, in turn) under the same mock runtime with trivial mocks, and nothing else.

The ratio ours/floor is the overhead our code adds to what any Pulumi program of that size
pays; the target is <= 1.25x. A stricter floor is reported beside it: the same number of
registrations as bare `pulumi.CustomResource`s with small untyped inputs (no SDK classes),
the runtime's own minimum per resource.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pulumi  # noqa: E402
import pulumi_kubernetes as k8s  # noqa: E402
from pulumi.runtime import mocks as pulumi_mocks  # noqa: E402

from components.config.load import load_from_files  # noqa: E402
from components.offline.evaluate import evaluate  # noqa: E402
from components.policy.settings import evaluate_policies  # noqa: E402
from components.policy.types import Resource  # noqa: E402
from tests.workspace import copy_project  # noqa: E402

TARGET_RATIO = 1.25
# Small stacks are timed in batches of about this many resources per sample: one evaluation
# of 10 services takes tens of milliseconds, the size of this machine's noise.
BATCH_RESOURCES = 600


def write_stack(root: Path, stack: str, services: int) -> None:
    """stacks/Pulumi.<stack>.yaml with `services` local services (no fixed ports)."""
    template = {
        "models": ["diabetes-ridge"],
        "source_directory": "examples/diabetes/src",
        "entry_script": "score.py",
        "environment": {"pip_requirements": "examples/diabetes/requirements.txt"},
        "target": "local",
    }
    declared: dict[str, dict[str, Any] | None] = {f"svc-{i:04d}": dict(template) for i in range(services)}
    declared.update({name: None for name in ("diabetes", "diabetes-multi")})  # drop Pulumi.yaml's two: exactly N
    document = {"config": {"modelstack:registry": {"kind": "local", "port": 5050}, "modelstack:services": declared}}
    (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def plan_with_modelstack(root: Path, stack: str) -> tuple[dict[str, float], int]:
    """Seconds of each step of `check` (config, evaluation, policies) and the resource count."""
    started = time.perf_counter()
    config = load_from_files(stack, root)
    loaded = time.perf_counter()
    plan = evaluate(config)
    evaluated = time.perf_counter()
    evaluate_policies([Resource(r.urn, r.type, r.name, r.inputs) for r in plan.resources])
    done = time.perf_counter()
    steps = {
        "config": loaded - started,
        "evaluate": evaluated - loaded,
        "policies": done - evaluated,
        "total": done - started,
    }
    return steps, len(plan.resources)


class _BareMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi_mocks.MockCallArgs):
        return {}


def _kubernetes_resource(index: int) -> None:
    name = f"svc-{index // 3:04d}"
    labels = {"app": name}
    kind = index % 3
    if kind == 0:
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            spec={
                "selector": {"match_labels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": name,
                                "image": "localhost:5050/diabetes@sha256:" + "0" * 64,
                                "ports": [{"container_port": 5001}],
                                "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}},
                            }
                        ]
                    },
                },
            },
        )
    elif kind == 1:
        k8s.core.v1.Service(f"{name}-service", spec={"selector": labels, "ports": [{"port": 80, "target_port": 5001}]})
    else:
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            spec={
                "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": name},
                "min_replicas": 1,
                "max_replicas": 10,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "average_utilization": 70}},
                    }
                ],
            },
        )


def _untyped_resource(index: int) -> None:
    """The same registrations without the SDK's typed classes: the runtime's own minimum."""
    name = f"svc-{index // 3:04d}"
    kind = (
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    )[index % 3]
    pulumi.CustomResource(kind, f"{name}-{index % 3}", {"spec": {"selector": {"app": name}, "replicas": 1}})


def plan_floor(resources: int, stack: str, *, typed: bool = True) -> float:
    started = time.perf_counter()
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(_BareMocks(), project="bare", stack=stack, preview=False)
    register = _kubernetes_resource if typed else _untyped_resource

    @pulumi.runtime.test
    def _declare():
        for index in range(resources):
            register(index)

    _declare()
    return time.perf_counter() - started


def measure(sizes: list[int], rounds: int) -> list[dict]:
    workdir = Path(tempfile.mkdtemp(prefix="modelstack-plan-cost-"))
    rows = []
    try:
        root = copy_project(workdir / "project")
        from examples.diabetes.train import train

        train(root / "examples" / "diabetes" / "model")
        # Warm both paths once (imports, the first evaluation's one-off costs) before timing.
        write_stack(root, "warm", 2)
        plan_with_modelstack(root, "warm")
        plan_floor(6, "warm")
        for size in sizes:
            stack = f"gen{size}"
            write_stack(root, stack, size)
            ours: list[dict[str, float]] = []
            floor, untyped = [], []
            count = plan_with_modelstack(root, stack)[1]
            batch = max(1, BATCH_RESOURCES // count)
            for _ in range(rounds):
                gc.collect()
                runs = [plan_with_modelstack(root, stack)[0] for _ in range(batch)]
                ours.append({k: sum(r[k] for r in runs) / batch for k in runs[0]})
                gc.collect()
                floor.append(sum(plan_floor(count, stack) for _ in range(batch)) / batch)
                gc.collect()
                untyped.append(sum(plan_floor(count, stack, typed=False) for _ in range(batch)) / batch)
            best = min(ours, key=lambda s: s["total"])
            rows.append(
                {
                    "services": size,
                    "resources": count,
                    "ours_s": round(best["total"], 3),
                    "floor_s": round(min(floor), 3),
                    "ratio": round(best["total"] / min(floor), 3),
                    "untyped_floor_s": round(min(untyped), 3),
                    "ratio_to_untyped": round(best["total"] / min(untyped), 3),
                    "ours_steps_s": {k: round(v, 3) for k, v in best.items() if k != "total"},
                    "ours_all_s": [round(s["total"], 3) for s in ours],
                    "floor_all_s": [round(s, 3) for s in floor],
                    "untyped_all_s": [round(s, 3) for s in untyped],
                }
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", default="10,100,1000", help="comma-separated stack sizes (default 10,100,1000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per size; the best is reported (default 3)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    import os

    load_before = os.getloadavg()
    rows = measure([int(s) for s in args.services.split(",")], args.rounds)
    result = {
        "rows": rows,
        "target_ratio": TARGET_RATIO,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{'services':>8} {'resources':>9} {'ours':>9} {'floor':>9} {'ratio':>6} {'untyped':>9} {'ratio':>6}  ours: config/evaluate/policies"
    )
    for row in rows:
        steps = "/".join(f"{v:.3f}" for v in row["ours_steps_s"].values())
        print(
            f"{row['services']:>8} {row['resources']:>9} {row['ours_s']:>8.3f}s {row['floor_s']:>8.3f}s {row['ratio']:>5.2f}x {row['untyped_floor_s']:>8.3f}s {row['ratio_to_untyped']:>5.2f}x  {steps} s"
        )
    print(
        f"load average before {result['load_average_before']}, after {result['load_average_after']}; target <= {TARGET_RATIO}x"
    )


if __name__ == "__main__":
    main()
