"""Every malformed file we could think of, fed to `check`, `package`, `plan-summary` and
`profile` as subprocesses under resource limits (2 GiB of address space, 30 s of CPU): each
exits 1 (bad input) or 2 (bad usage), prints no traceback, and finishes in bounded time."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from tests.workspace import REPO

PYTHON = str(REPO / "venv" / "bin" / "python")
MEMORY_LIMIT = 2 * 1024**3
CPU_SECONDS = 30
WALL_SECONDS = 60  # only stops a hang: a command still running then is killed and fails the test

BILLION_LAUGHS = (
    "".join(f"{chr(97 + n)}: &{chr(97 + n)} [{', '.join([f'*{chr(96 + n)}' if n else '1'] * 9)}]\n" for n in range(10))
    + "config:\n  modelstack:tags: *j\n"
)


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def run(root: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """The command as a subprocess; one still running after WALL_SECONDS (a hang) is killed and
    fails the test (subprocess.TimeoutExpired)."""
    return subprocess.run(
        [PYTHON, "-m", "components.commands.cli", *args],
        input=stdin,
        capture_output=True,
        cwd=root,
        env={"MODELSTACK_PROJECT_DIR": str(root), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        preexec_fn=_limits,
        timeout=WALL_SECONDS,
    )


def _write(text: str | bytes):
    def make(path: Path) -> None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return make


def _replace(make_other):
    def make(path: Path) -> None:
        path.unlink(missing_ok=True)
        make_other(path)

    return make


# name -> how to turn the file at a path into that malformed file
MALFORMED = {
    "binary": _write(bytes(range(256)) * 4),
    "latin-1": _write("config:\n  modelstack:location: \xe9t\xe9\n".encode("latin-1")),
    "empty": _write(b""),
    "nul bytes": _write(b"config:\x00\n"),
    "huge": _write(b"config: {}\n#" + b"x" * (3 * 1024 * 1024)),
    "deep yaml": _write("config:\n  modelstack:tags: " + "[" * 50_000 + "]" * 50_000 + "\n"),
    "deep json": _write("[" * 200_000),
    "alias bomb": _write(BILLION_LAUGHS),
    "recursive alias": _write("a: &a [*a]\nconfig: {}\n"),
    "duplicate keys": _write("config: {}\nconfig: {}\n"),
    "config list": _write("config:\n  - a\n  - b\n"),
    "config scalar": _write("config: 3\n"),
    "top-level list": _write("- 1\n- 2\n"),
    "top-level int keys": _write("1: a\n2: b\nconfig: {}\n"),
    "bad yaml": _write("config: {\n  : :\n"),
    "models as list": _write("config:\n  modelstack:models: [1, 2]\n"),
    "services as text": _write("config:\n  modelstack:services: everything\n"),
    "service as list": _write("config:\n  modelstack:services:\n    diabetes: [1]\n"),
    "deploy as list": _write("config:\n  modelstack:services:\n    diabetes:\n      deploy: [1]\n"),
    "deploy numbers as bools": _write("config:\n  modelstack:services:\n    diabetes:\n      deploy: {port: true}\n"),
    "nan port": _write("config:\n  modelstack:services:\n    diabetes:\n      deploy: {port: .nan}\n"),
    "registry as list": _write("config:\n  modelstack:registry: [local]\n"),
    "registry kind int": _write("config:\n  modelstack:registry: {kind: 3}\n"),
    "clusters wrong": _write("config:\n  modelstack:clusters: {c: {agent_count: .inf}}\n"),
    "secret as map": _write(
        "config:\n  modelstack:services:\n    diabetes:\n      deploy: {primary_key: {secure: [1]}}\n"
    ),
    "key with no namespace": _write("config:\n  services: {}\n"),
    "device": _replace(lambda p: p.symlink_to("/dev/zero")),
    "dev null": _replace(lambda p: p.symlink_to("/dev/null")),
    "fifo": _replace(lambda p: os.mkfifo(p)),
    "directory": _replace(lambda p: p.mkdir()),
    "dangling link": _replace(lambda p: p.symlink_to("/nonexistent/file")),
    "symlink loop": _replace(lambda p: p.symlink_to(p)),
}


def assert_refused(result, codes=(1, 2)) -> None:
    output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    assert "Traceback" not in output, output[-3000:]
    assert result.returncode in codes, f"exit {result.returncode}: {output[-2000:]}"


@pytest.fixture
def corpus_project(tmp_path, trained_example):
    from tests.workspace import copy_project

    return copy_project(tmp_path / "project")


# An empty stack file is a stack that overrides nothing: valid.
VALID_STACK_FILES = {"empty"}
PACKAGED = {
    "binary",
    "huge",
    "alias bomb",
    "deep yaml",
    "device",
    "fifo",
    "directory",
    "deploy as list",
    "nan port",
    "secret as map",
}


@pytest.mark.parametrize("name", sorted(MALFORMED.keys() - VALID_STACK_FILES))
def test_a_malformed_stack_file_for_check_and_package(corpus_project, name):
    MALFORMED[name](corpus_project / "stacks" / "Pulumi.local.yaml")
    assert_refused(run(corpus_project, "check", "--stack", "local", "--json"), codes=(1,))
    if name in PACKAGED:  # package reads the files the same way; a sample keeps the suite quick
        assert_refused(
            run(corpus_project, "package", "diabetes", "--stack", "local", "--out", str(corpus_project.parent / "out")),
            codes=(1,),
        )


@pytest.mark.parametrize(
    "name",
    [
        "binary",
        "latin-1",
        "huge",
        "deep yaml",
        "alias bomb",
        "duplicate keys",
        "config list",
        "config scalar",
        "top-level list",
        "device",
        "fifo",
        "directory",
    ],
)
def test_a_malformed_pulumi_yaml_for_check(corpus_project, name):
    MALFORMED[name](corpus_project / "Pulumi.yaml")
    result = run(corpus_project, "check", "--stack", "local")
    assert_refused(result)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_preview_and_policies_for_plan_summary(corpus_project, name):
    preview = corpus_project / "preview.json"
    MALFORMED[name](preview)
    assert_refused(run(corpus_project, "plan-summary", str(preview)), codes=(1,))
    good = corpus_project / "good.json"
    good.write_text('{"steps": []}')
    assert_refused(run(corpus_project, "plan-summary", str(good), "--policies", str(preview)), codes=(2,))


@pytest.mark.parametrize(
    "document",
    [
        '{"steps": [1]}',
        '{"steps": [{"urn": "x"}]}',
        '{"steps": {}}',
        '{"steps": [], "changeSummary": {"create": "many"}}',
        '{"steps": [{"urn": "urn:pulumi:s::p::azure-native:containerservice:ManagedCluster::c", "op": "create", "newState": {"type": "azure-native:containerservice:ManagedCluster", "inputs": {"agentPoolProfiles": [{"vmSize": "Standard_D2s_v5", "count": "three"}]}}}]}',
        '{"steps": [{"urn": "urn:pulumi:s::p::azure-native:containerservice:ManagedCluster::c", "op": "create", "newState": {"type": "azure-native:containerservice:ManagedCluster", "inputs": {"agentPoolProfiles": "all"}}}]}',
    ],
)
def test_plan_summary_on_json_of_the_wrong_shape(corpus_project, document):
    assert_refused(run(corpus_project, "plan-summary", "-", stdin=document.encode()), codes=(1,))


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_profile_data_file(corpus_project, name):
    data = corpus_project / "requests.jsonl"
    MALFORMED[name](data)
    assert_refused(run(corpus_project, "profile", "diabetes", "--stack", "local", "--data", str(data)), codes=(2,))


@pytest.mark.parametrize(
    "option, value",
    [
        ("--memory-gb", "nan"),
        ("--memory-gb", "inf"),
        ("--memory-gb", "-1"),
        ("--cpu", "nan"),
        ("--cpu", "inf"),
        ("--duration", "nan"),
        ("--cpu", "many"),
    ],
)
def test_profile_with_sizes_that_are_not_finite(corpus_project, option, value):
    data = corpus_project / "requests.jsonl"
    data.write_text('{"data": [[1, 2]]}\n')
    assert_refused(
        run(corpus_project, "profile", "diabetes", "--stack", "local", "--data", str(data), option, value), codes=(2,)
    )
