"""The CrossGuard pack run by the engine: `pulumi preview --policy-pack policies` fails on a
mandatory violation and passes once the stack is fixed.

The violation is a real rule of the pack made mandatory for this stack by its policy config, as a
team does for prod: `promoted-release-in-production` (a release stack runs a release promoted from
the stage before, it builds nothing of its own). The fix is the stack pinning a release
(`modelstack:release`, as `modelstack promote` writes it). Previews only: nothing is built or run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.engine import Engine
from tests.workspace import copy_project, derive_local_stack

STACK = "e2e-policy"  # an e2e stack: local settings whatever backend the developer has (scripts/pulumi-env.sh)
PINNED = "localhost:5999/{service}@sha256:" + "0" * 64

pytestmark = [pytest.mark.engine]


class PolicyEngine(Engine):
    """The engine, with the policy pack's configuration that its previews pass."""

    policy_config: Path


@pytest.fixture(scope="module")
def engine(tmp_path_factory, trained_example):
    home = tmp_path_factory.mktemp("policy-engine")
    root = copy_project(home / "project", runnable=True)
    derive_local_stack(root, STACK)
    (home / "policy-config.json").write_text(
        json.dumps(
            {
                "all": "mandatory",
                "promoted-release-in-production": {"enforcementLevel": "mandatory", "release_stacks": [STACK]},
            }
        )
    )
    runner = PolicyEngine(root, home, STACK)
    runner.run("stack", "init")
    runner.policy_config = home / "policy-config.json"
    yield runner
    runner.run("stack", "rm", "--yes", "--force", check=False)


def preview_with_pack(engine):
    return engine.run(
        "preview",
        "--policy-pack",
        str(engine.root / "policies"),
        "--policy-pack-config",
        str(engine.policy_config),
        check=False,
    )


def test_a_mandatory_violation_fails_the_preview(engine):
    result = preview_with_pack(engine)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "promoted-release-in-production" in output and "mandatory" in output, output[-3000:]
    assert (
        f"service diabetes in stack {STACK} builds its own image; promote the release that ran in the stage before"
        in output
    ), output[-3000:]


def test_the_fixed_stack_passes_the_same_pack(engine):
    path = engine.root / "stacks" / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["modelstack:release"] = {
        service: {"image": PINNED.format(service=service), "model_versions": {}, "source_stack": "local"}
        for service in ("diabetes", "diabetes-multi")
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = preview_with_pack(engine)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Policies:" in output and "promoted-release-in-production" not in output, output[-3000:]
