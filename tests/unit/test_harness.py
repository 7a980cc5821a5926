"""The test harness itself: `require` (skip locally, fail under CI=true), the leftover report of
tests/conftest.py, and `.ci/run` failing on pytest's exit 5 (no test ran)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import leftovers, require

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_require_skips_outside_ci(monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="no engine here"):
        require(False, "no engine here")
    require(True, "never said")  # a met prerequisite does nothing


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_require_fails_under_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=r"no engine here \(CI=true: a missing prerequisite fails the run"):
        require(False, "no engine here")
    require(1, "never said")


def test_leftovers_lists_only_what_the_session_added():
    start = {
        "docker": (
            {"c-old": ("someones-container", "x")},
            {"sha256:base": ["modelstack/python-base:bookworm"], "sha256:shared": ["localhost:5050/diabetes:abc"]},
        ),
        "registries": {100},
    }
    now = (
        {
            "c-old": ("someones-container", "x"),
            "c-new": ("modelstack-e2e-diabetes", "localhost:41234/diabetes@sha256:" + "1" * 64),
            "c-test": ("modelstack-test-ab12-diabetes", "debian"),
            "c-other-run": ("modelstack-e2e-diabetes", "localhost:39999/diabetes:abc"),  # another run's registry
        },
        {
            "sha256:base": ["modelstack/python-base:bookworm"],
            "sha256:shared": [
                "localhost:5050/diabetes:abc",
                "localhost:41234/diabetes:abc",
            ],  # a new tag on an old image
            "sha256:digestonly": ["localhost:41234/diabetes@sha256:" + "1" * 64],  # pulled by digest: <none>:<none>
            "sha256:profile": ["modelstack/diabetes:0123456789abcdef"],
            "sha256:otherrun": ["localhost:39999/diabetes:abc"],
            "sha256:unrelated": ["debian:bookworm"],
            "sha256:stage": ["<build stage>"],  # an untagged stage on modelstack's base image
        },
    )
    registries = {
        100: "docker-registry serve /old/config.yml",
        200: "docker-registry serve /tmp/pytest-of-root/pytest-7/x/config.yml",
        300: "docker-registry serve /tmp/pytest-of-root/pytest-8/y/config.yml",
    }
    lines = leftovers(start, now, registries, "/tmp/pytest-of-root/pytest-7", {41234})
    assert lines == [
        "container c-new (modelstack-e2e-diabetes)",
        "container c-test (modelstack-test-ab12-diabetes)",
        "image shared (localhost:41234/diabetes:abc)",
        "image digestonly (localhost:41234/diabetes@sha256:" + "1" * 64 + ")",
        "image profile (modelstack/diabetes:0123456789abcdef)",
        "image stage (<build stage>)",
        "registry process 200: docker-registry serve /tmp/pytest-of-root/pytest-7/x/config.yml",
    ]


def test_leftovers_is_empty_when_nothing_was_added():
    snapshot = ({"c": ("x", "y")}, {"sha256:i": ["localhost:5050/diabetes:abc"]})
    assert (
        leftovers({"docker": snapshot, "registries": {1}}, snapshot, {1: "docker-registry serve c"}, None, {5050}) == []
    )
    assert leftovers({"docker": None, "registries": set()}, snapshot, {}, None) == []  # no Docker at the start


def test_session_registry_ports_come_from_the_configs_under_basetemp(tmp_path):
    from components.targets.local.registry_server import render_config
    from tests.conftest import session_registry_ports

    for port in (41234, 41235):
        folder = tmp_path / f"p{port}" / "state"
        folder.mkdir(parents=True)
        (folder / "config.yml").write_text(render_config(port, str(tmp_path / "storage")))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.yml").write_text("addr: 127.0.0.1:5999\n")  # not a registry's config
    assert session_registry_ports(str(tmp_path)) == {41234, 41235}
    assert session_registry_ports(None) == set()


@pytest.mark.parametrize(
    ("pytest_exit", "ci_exit", "message"), [(0, 0, None), (1, 1, None), (5, 1, "pytest ran no test (exit 5)")]
)
def test_ci_run_fails_when_no_test_ran(tmp_path, pytest_exit, ci_exit, message):
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts").mkdir()
    stub = tmp_path / "scripts" / "test.sh"
    stub.write_text(f"#!/usr/bin/env bash\necho 'stub test.sh'\nexit {pytest_exit}\n")
    stub.chmod(0o755)
    done = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "CI": "true"},
    )
    assert done.returncode == ci_exit, done.stdout + done.stderr
    assert "stub test.sh" in done.stdout and "CI finished in" in done.stdout
    if message:
        assert message in done.stderr


def test_only_untagged_images_on_modelstacks_base_are_build_stages():
    from tests.conftest import _is_our_stage

    ours = {"org.opencontainers.image.title": "modelstack-python-base"}
    assert _is_our_stage({"RepoTags": None, "RepoDigests": [], "Labels": ours})
    assert _is_our_stage(
        {"RepoTags": ["<none>:<none>"], "RepoDigests": ["<none>@<none>"], "Labels": ours}
    )  # as Docker 20.10 lists it
    assert _is_our_stage(
        {
            "RepoTags": [],
            "Labels": {
                "modelstack.context-digest": "0" * 64,
                "org.opencontainers.image.title": "modelstack-python-runtime",
            },
        }
    )
    assert not _is_our_stage({"RepoTags": ["modelstack/python-base:bookworm"], "Labels": ours})  # tagged
    assert not _is_our_stage({"RepoTags": [], "Labels": {"org.opencontainers.image.title": "someone-else"}})
    assert not _is_our_stage({"RepoTags": [], "Labels": None})
