"""The team path through the real engine, on one local stack whose state is in Azure Blob Storage
(Azurite, started by scripts/azurite.sh for the session). The stack, `team`, is not a throwaway
one: it has a passphrase of its own, kept outside the project as a team's secret store would.

- The pipeline as its workflows run it: scripts/pipeline/pull-request.sh (check every stack, plan,
  the comment's body, the plan as the artifact) and scripts/pipeline/merge.sh (apply that plan, or
  refuse it as stale, with nothing changed, and say what to do).
- Saved plans (`modelstack plan`, `modelstack apply`): an edited plan, an expired one, another
  stack's, and one made before a config edit are refused and change nothing.
- The promotion job, scripts/pipeline/promote.sh: the release pinned by digest in another stack,
  planned and that plan applied, nothing built.
- `preview --expect-no-changes` after the apply, and `destroy`: the blob listing shows the stack's
  checkpoint and its history, and no lock, afterwards.

One module and one stack for all of it: each image build and stack start costs CI minutes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid

import joblib
import pytest
import requests
import yaml

from components.commands.plan_summary import MARKER
from components.state import plans
from components.state.backend import open_backend
from components.state.locks import audit_key
from components.state.plans import plan_id
from tests.azurite import azurite  # noqa: F401  (the session's Azurite)
from tests.e2e.engine import Engine, tear_down_local_stack
from tests.workspace import REPO, copy_project, derive_local_stack, free_port

pytestmark = [pytest.mark.engine]

STACK = "team"
PROD = "team-prod"  # the promotion's destination: a registry and containers of its own
SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])


@pytest.fixture(scope="module")
def engine(tmp_path_factory, trained_example, docker_client, azurite):  # noqa: F811
    home = tmp_path_factory.mktemp("pipeline")
    root = copy_project(home / "project", runnable=True)
    shutil.copytree(REPO / "scripts", root / "scripts")
    (root / ".tools").symlink_to(REPO / ".tools")
    registry_port = derive_local_stack(root, STACK)["config"]["modelstack:registry"]["port"]
    passphrase = home / "passphrase"
    passphrase.write_text(f"{uuid.uuid4().hex}\n")
    url, backend_env = azurite.container("pipeline")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(passphrase))
        patch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
        runner = Engine(root, home, STACK, backend=url, backend_env=backend_env)
    runner.env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(passphrase)
    runner.env.pop("PULUMI_CONFIG_PASSPHRASE", None)
    yield runner
    tear_down_local_stack(runner, docker_client, registry_port)


@pytest.fixture(scope="module")
def prod(engine, docker_client):
    """The promotion's destination: the same project and backend, a registry and containers of its own."""
    registry_port = derive_local_stack(engine.root, PROD)["config"]["modelstack:registry"]["port"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", engine.env["PULUMI_CONFIG_PASSPHRASE_FILE"])
        patch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
        runner = Engine(engine.root, engine.root.parent, PROD, backend=engine.env["PULUMI_BACKEND_URL"])
    runner.env.update({key: engine.env[key] for key in engine.env if key.startswith(("PULUMI_", "AZURE_STORAGE_"))})
    yield runner
    tear_down_local_stack(runner, docker_client, registry_port)


def job(engine: Engine, script: str, *args: str) -> subprocess.CompletedProcess:
    """A pipeline script as a runner runs it: from the checkout, with the stack's backend, account
    and passphrase file in its environment and nothing else of this test's."""
    env = {
        key: value
        for key, value in engine.env.items()
        if key.startswith(("PULUMI_", "AZURE_STORAGE_")) or key in ("HOME", "PATH")
    }
    env["MODELSTACK_PROJECT_DIR"] = str(engine.root)
    env["PATH"] = f"{REPO / 'venv' / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return subprocess.run(
        [str(engine.root / "scripts" / "pipeline" / script), *args],
        cwd=engine.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def exported(engine: Engine) -> dict:
    return json.loads(engine.run("stack", "export").stdout)


def score(engine: Engine, service: str):
    uri = json.loads(engine.run("stack", "output", "--json").stdout)["services"][service]["scoring_uri"]
    response = requests.post(uri, json=SAMPLE, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_1_the_pull_request_job_plans_and_the_merge_job_applies_that_plan(engine):
    artifact = engine.root.parent / "artifact-1"
    reviewed = job(engine, "pull-request.sh", "--stack", STACK, "--out", str(artifact), "--check", f"local {STACK}")
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
    assert "state backend azblob://pipeline" in reviewed.stderr and "from PULUMI_BACKEND_URL" in reviewed.stderr
    assert {path.name for path in artifact.iterdir()} == {
        "check-local.json",
        "check-team.json",
        f"plan-{STACK}.json",
        "summary.md",
    }
    summary = (artifact / "summary.md").read_text()
    plan = json.loads((artifact / f"plan-{STACK}.json").read_text())
    identity = plan_id(plan["body"])
    assert summary.startswith(MARKER) and f"Plan `{identity}` for stack `{STACK}`" in summary
    assert plan["body"]["backend"].startswith("azblob://pipeline")

    merged = job(engine, "merge.sh", "--stack", STACK, "--plan", str(artifact / f"plan-{STACK}.json"))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert f"applied plan {identity} to stack {STACK}" in merged.stdout
    assert score(engine, "diabetes")
    engine.run("preview", "--expect-no-changes")
    backend = open_backend(engine.env["PULUMI_BACKEND_URL"], engine.env)
    audit = backend.read(audit_key("modelstack", STACK)).decode()
    assert f"apply plan {identity} applied" in audit


def test_2_a_reviewed_plan_overtaken_on_main_is_refused_at_merge_with_what_to_do(engine):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Lasso

    lasso = engine.root / "examples" / "diabetes" / "model" / "lasso.joblib"
    released = lasso.read_bytes()
    features, target = load_diabetes(return_X_y=True)
    joblib.dump(Lasso(alpha=0.2).fit(features, target), lasso)
    artifact = engine.root.parent / "artifact-2"
    reviewed = job(engine, "pull-request.sh", "--stack", STACK, "--out", str(artifact), "--check", STACK)
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr

    # Another change reaches the stack first (merged and applied from a checkout without this one).
    retrained = lasso.read_bytes()
    lasso.write_bytes(released)
    stack_file = engine.root / "stacks" / f"Pulumi.{STACK}.yaml"
    stack = yaml.safe_load(stack_file.read_text())
    stack["config"]["modelstack:services"]["diabetes"]["deploy"]["port"] = free_port()
    stack_file.write_text(yaml.safe_dump(stack, sort_keys=False))
    engine.run("up", "--yes", "--skip-preview")
    lasso.write_bytes(retrained)
    before = exported(engine)

    merged = job(engine, "merge.sh", "--stack", STACK, "--plan", str(artifact / f"plan-{STACK}.json"))
    text = merged.stdout + merged.stderr
    assert merged.returncode == 1, text
    assert "is stale" in text and "the stack's state changed" in text, text
    assert "re-run the pull request's plan job" in text and "Traceback" not in text, text
    assert exported(engine) == before, "a refused merge changes nothing"

    missing = job(engine, "merge.sh", "--stack", STACK, "--plan", str(artifact / "absent.json"))
    assert missing.returncode == 1 and "no plan at" in missing.stderr, missing.stderr
    usage = job(engine, "merge.sh", "--stack", STACK)
    assert usage.returncode == 2 and "usage:" in usage.stderr, usage.stderr


def modelstack(engine: Engine, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(REPO / "venv" / "bin" / "modelstack"), *args],
        cwd=engine.root,
        env={**engine.env, "MODELSTACK_PROJECT_DIR": str(engine.root), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=900,
    )


def refused(result: subprocess.CompletedProcess, *phrases: str) -> None:
    text = result.stdout + result.stderr
    assert result.returncode == 1, text
    assert "Traceback" not in text, text
    for phrase in phrases:
        assert phrase in text, text


def test_3_edited_expired_other_stack_and_config_edit_plans_are_refused(engine):
    """The stack now holds the other change and test_2's retrained model, not yet applied."""
    path = engine.root.parent / "to-tamper.json"
    made = modelstack(engine, "plan", "--stack", STACK, "--out", str(path))
    assert made.returncode == 0, made.stdout + made.stderr
    assert "diabetes-multi-image" in made.stdout  # the retrained model, still to apply
    before = exported(engine)

    edited = engine.root.parent / "edited.json"
    tampered = json.loads(path.read_text())
    tampered["body"]["steps"].append({"urn": tampered["body"]["steps"][0]["urn"], "op": "delete"})
    edited.write_text(json.dumps(tampered))
    refused(modelstack(engine, "apply", str(edited), "--stack", STACK), "signature does not match")

    # A plan signed with the stack's key whose time ran out.
    expired = engine.root.parent / "expired.json"
    old = json.loads(path.read_text())
    old["body"]["created"], old["body"]["expires"] = "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"
    old["signature"] = plans.sign(old["body"], plans.signing_key(engine.env, STACK))
    expired.write_text(json.dumps(old))
    refused(modelstack(engine, "apply", str(expired), "--stack", STACK), "expired at 2020-01-02T00:00:00Z")

    refused(modelstack(engine, "apply", str(path), "--stack", "staging"), f"the plan is for stack {STACK}")

    stack_file = engine.root / "stacks" / f"Pulumi.{STACK}.yaml"
    original = stack_file.read_text()
    stack_file.write_text(original.replace("config:", "config:\n  modelstack:tags: {team: ml}", 1))
    refused(
        modelstack(engine, "apply", str(path), "--stack", STACK), "the program or the stack's configuration changed"
    )
    stack_file.write_text(original)

    assert exported(engine) == before, "no refused apply changed the state"
    applied = modelstack(engine, "apply", str(path), "--stack", STACK)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    history = json.loads(engine.run("stack", "history", "--json").stdout)
    assert {op: n for op, n in history[0]["resourceChanges"].items() if op != "same"} == {"replace": 2}
    lasso = engine.root / "examples" / "diabetes" / "model" / "lasso.joblib"
    assert score(engine, "diabetes-multi")["lasso"] == pytest.approx(
        joblib.load(lasso).predict(SAMPLE["data"]).tolist()
    )


def test_3b_the_promotion_job_pins_plans_and_applies_without_building(engine, prod):
    artifact = engine.root.parent / "artifact-promote"
    promoted = job(prod, "promote.sh", "--from", STACK, "--to", PROD, "--out", str(artifact))
    text = promoted.stdout + promoted.stderr
    assert promoted.returncode == 0, text
    assert "[modelstack] building" not in text, "a promotion builds nothing"
    plan = json.loads((artifact / f"plan-{PROD}.json").read_text())
    assert f"applied plan {plan_id(plan['body'])} to stack {PROD}" in promoted.stdout
    source, destination = (
        json.loads(runner.run("stack", "output", "--json").stdout)["services"] for runner in (engine, prod)
    )
    for service in ("diabetes", "diabetes-multi"):
        assert destination[service]["image"].split("@")[1] == source[service]["image"].split("@")[1]
        assert destination[service]["state"] == "Healthy"
    assert score(prod, "diabetes-multi") == score(engine, "diabetes-multi")
    prod.run("destroy", "--yes", "--skip-preview")


def test_4_no_changes_then_destroy_leave_checkpoint_and_history_and_no_lock(engine):
    preview = engine.run("preview", "--expect-no-changes")
    assert "building" not in preview.stdout + preview.stderr
    engine.run("destroy", "--yes", "--skip-preview")
    keys = open_backend(engine.env["PULUMI_BACKEND_URL"], engine.env).list("")
    print("blob listing after the team path and destroy:\n  " + "\n  ".join(keys))
    assert f".pulumi/stacks/modelstack/{STACK}.json" in keys
    history = [k for k in keys if re.fullmatch(rf"\.pulumi/history/modelstack/{STACK}/{STACK}-\d+\.history\.json", k)]
    # the applies of tests 1 and 3, the other person's up of test 2, and the destroy (a preview writes none)
    assert len(history) == 4, keys
    assert [k for k in keys if k.startswith(".pulumi/locks/")] == []
    assert exported(engine)["deployment"].get("resources") in (None, [])
