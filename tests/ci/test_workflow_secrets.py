"""No job that runs a pull request's code is given a secret.

A workflow triggered by a pull request event runs the pull request's code in every job (a checkout
of it, its scripts, its Python), so any secret such a job can read, the pull request can print or
send away. A job is given a secret by: `env:` at the workflow, job or step level naming one, a
`secrets.*` expression anywhere in the job (`with:`, `run:`, `if:`, a container's credentials...),
or a reusable workflow called with `secrets: inherit` or a `secrets:` mapping. Each job of every
other workflow may hold only the secrets it uses, named at the step that uses them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
# Events whose runs check out and run code of the pull request (pull_request_target too: a job that
# checks out the head ref runs it with the base's secrets).
PULL_REQUEST_EVENTS = {
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "pull_request_review_comment",
}
SECRET_REFERENCE = re.compile(r"\bsecrets\s*(\.|\[)", re.IGNORECASE)


def triggers(workflow: dict) -> set[str]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return {str(event) for event in on}
    return {str(event) for event in (on or {})}


def runs_pull_request_code(workflow: dict) -> bool:
    return bool(triggers(workflow) & PULL_REQUEST_EVENTS)


def mentions_a_secret(value) -> bool:
    return SECRET_REFERENCE.search(yaml.safe_dump(value, default_flow_style=True)) is not None


def secrets_given(workflow: dict) -> dict[str, list[str]]:
    """{job: [where a secret reaches it]} for every job of the workflow that is given one."""
    found: dict[str, list[str]] = {}
    workflow_env = workflow.get("env") or {}
    for name, job in (workflow.get("jobs") or {}).items():
        where = []
        if mentions_a_secret(workflow_env):
            where.append("the workflow's env")
        if job.get("secrets") is not None:
            where.append(f"secrets: {job['secrets']}")
        if mentions_a_secret(job.get("env") or {}):
            where.append("the job's env")
        for index, step in enumerate(job.get("steps") or []):
            if mentions_a_secret(step):
                where.append(f"step {step.get('name') or step.get('uses') or index}")
        rest = {k: v for k, v in job.items() if k not in ("env", "steps", "secrets")}
        if mentions_a_secret(rest):
            where.append("the job's settings")
        if where:
            found[name] = where
    return found


def violations(text: str) -> dict[str, list[str]]:
    workflow = yaml.safe_load(text)
    return secrets_given(workflow) if runs_pull_request_code(workflow) else {}


def test_there_are_workflows_and_one_runs_pull_request_code():
    assert WORKFLOWS, "no workflow found"
    assert any(runs_pull_request_code(yaml.safe_load(path.read_text())) for path in WORKFLOWS)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_no_job_that_runs_pull_request_code_is_given_a_secret(path):
    assert violations(path.read_text()) == {}, f"{path.name}: jobs running pull-request code are given secrets"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_secrets_are_named_at_the_steps_that_use_them(path):
    """Elsewhere a secret is never given to a whole workflow or job: each step names its own."""
    workflow = yaml.safe_load(path.read_text())
    assert not mentions_a_secret(workflow.get("env") or {}), f"{path.name}: a secret in the workflow's env"
    for name, job in (workflow.get("jobs") or {}).items():
        assert not mentions_a_secret(job.get("env") or {}), f"{path.name}: a secret in job {name}'s env"
        assert job.get("secrets") is None, f"{path.name}: job {name} passes secrets on"


# The check can fail: each way a secret reaches a job, in a pull request's workflow.
PULL_REQUEST_WORKFLOW = """\
name: plan
on:
  pull_request:
    branches: [main]
{workflow_env}
jobs:
  check:
    runs-on: ubuntu-latest
{job}
    steps:
      - uses: actions/checkout@v4
{step}
"""
WAYS = {
    # as pull-request.yml had it: every job held the passphrase
    "workflow env": {"workflow_env": "env:\n  PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"},
    "job env": {"job": "    env:\n      TOKEN: ${{ secrets.TOKEN }}"},
    "step env": {"step": "      - run: make\n        env:\n          KEY: ${{ secrets['KEY'] }}"},
    "step input": {
        "step": "      - uses: azure/login@v2\n        with:\n          creds: ${{ secrets.AZURE_CREDENTIALS }}"
    },
    "run script": {"step": '      - run: echo "${{ secrets.GITHUB_TOKEN }}" | gh auth login --with-token'},
    "condition": {"step": "      - run: make\n        if: ${{ secrets.DEPLOY != '' }}"},
    "container credentials": {
        "job": "    container:\n      image: ghcr.io/x/y\n      credentials:\n        password: ${{ secrets.GHCR }}"
    },
}


@pytest.mark.parametrize("way", WAYS, ids=list(WAYS))
def test_each_way_a_secret_reaches_a_pull_request_job_is_found(way):
    text = PULL_REQUEST_WORKFLOW.format(**{"workflow_env": "", "job": "", "step": "", **WAYS[way]})
    assert violations(text) != {}, text
    assert violations(text.replace("pull_request:", "push:")) == {}, "only pull-request workflows are held to it"


def test_a_reusable_workflow_called_with_secrets_inherit_is_found():
    text = """\
on: [pull_request_target]
jobs:
  preview:
    uses: ./.github/workflows/preview.yml
    secrets: inherit
"""
    assert violations(text) == {"preview": ["secrets: inherit"]}


def test_a_pull_request_workflow_without_secrets_passes():
    text = PULL_REQUEST_WORKFLOW.format(
        workflow_env="env:\n  PULUMI_BACKEND_URL: ${{ vars.PULUMI_BACKEND_URL }}",
        job="    environment: dev",
        step="      - run: echo secrets are not mentioned as an expression here",
    )
    assert violations(text) == {}
