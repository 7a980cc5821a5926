"""Crash consistency of the local stack through the real engine: `pulumi up` killed with SIGKILL
(its whole process tree, tests/e2e/killing.py) at a kill point, then `modelstack recover` and the
next `up` give a Healthy stack, `preview --expect-no-changes` passes and nothing is leaked
(containers, registry tags, orphaned plugins, locks, pending operations compared with the state);
a service serving before the killed model-change `up` keeps answering while recovery runs.

The kill points are a sample chosen afresh each run; the seed is printed, and
MODELSTACK_KILL_SEED=N replays it. The full matrix is benchmarks/kill_recovery.py (BENCHMARKS.md).
"""

from __future__ import annotations

import os
import random

import pytest

from tests.e2e.engine import Engine, tear_down_local_stack
from tests.e2e.killing import (
    FROM_NOTHING,
    MODEL_CHANGE,
    change_model,
    kill_recover_converge,
    reset_to_nothing,
    scoring_uris,
)
from tests.workspace import copy_project, derive_local_stack

STACK = "e2e-kill"
# The kill points of the local stack's `up` (benchmarks/kill_recovery.py lists them): from nothing,
# 9 resource steps, 2 images pushed and 2 containers started; a model change of one service, its
# image and container replaced.
FROM_NOTHING_POINTS = 13
MODEL_CHANGE_POINTS = 8

pytestmark = [pytest.mark.engine]


def seed() -> int:
    chosen = int(os.environ.get("MODELSTACK_KILL_SEED") or random.SystemRandom().randrange(1_000_000))
    print(f"kill points chosen with MODELSTACK_KILL_SEED={chosen}")
    return chosen


SEED = seed()
CHOICE = random.Random(SEED)
FROM_NOTHING_AT = CHOICE.randint(1, FROM_NOTHING_POINTS)
MODEL_CHANGE_AT = CHOICE.randint(1, MODEL_CHANGE_POINTS)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, trained_example, docker_client):
    home = tmp_path_factory.mktemp("kill")
    root = copy_project(home / "project", runnable=True)
    registry_port = derive_local_stack(root, STACK)["config"]["modelstack:registry"]["port"]
    engine = Engine(root, home, STACK)
    # The copy's own program in the engine's processes too (as benchmarks/local_up.py does).
    engine.env["PYTHONPATH"] = str(root)
    engine.run("stack", "init")
    yield engine, registry_port
    tear_down_local_stack(engine, docker_client, registry_port)
    from components.targets.local.registry_server import stop

    stop(str(root / ".modelstack" / "registry" / str(registry_port) / "run"))  # one a failed run left unrecorded


def report(point) -> str:
    return (
        f"seed {SEED}: {point.scenario} killed at {point.at} ({point.step}); found {point.leaked_before}; "
        f"recover did {point.found}; left {point.leaked_after}"
    )


def test_up_from_nothing_killed_recovers_and_converges(stack, docker_client):
    engine, registry_port = stack
    reset_to_nothing(engine, docker_client, registry_port)
    point = kill_recover_converge(engine, docker_client, registry_port, FROM_NOTHING, FROM_NOTHING_AT)
    print(report(point))
    assert point.leaked_after == [], report(point)


def test_model_change_up_killed_recovers_while_serving(stack, docker_client):
    engine, registry_port = stack
    if not scoring_uris(engine):  # the stack is up (the test above leaves it so)
        engine.run("up", "--yes", "--skip-preview")
    change_model(engine.root, 0.3 + SEED % 1000 / 10_000)
    point = kill_recover_converge(engine, docker_client, registry_port, MODEL_CHANGE, MODEL_CHANGE_AT)
    print(report(point))
    assert "diabetes" in point.serving, f"the unchanged service answered before recovery: {report(point)}"
    assert point.failed_during_recover == 0, f"{point.failed_during_recover} failed requests during recovery"
    assert point.leaked_after == [], report(point)
