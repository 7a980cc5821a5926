"""`modelstack check` on files the configuration names that are huge, endless or not files at all
(kubeconfig_file, requirements, conda and steps files, a model), run as a subprocess under the
memory limit of the hostile corpus (2 GiB of address space): each exits 1 naming the key, with no
traceback, without reading the file whole (a 3 GiB file would not fit) and without blocking on a
fifo."""

from __future__ import annotations

import os

import pytest

from tests.unit.test_malformed_corpus import assert_refused, run

HUGE = 3 * 1024**3  # more than the memory limit: reading it whole cannot succeed


def _huge(path):
    path.write_bytes(b"")
    os.truncate(path, HUGE)  # sparse: no disk is used


MAKERS = {
    "fifo": lambda p: os.mkfifo(p),
    "/dev/zero": lambda p: p.symlink_to("/dev/zero"),
    "3 GiB file": _huge,
    "binary": lambda p: p.write_bytes(bytes(range(256)) * 64),
}


@pytest.fixture
def corpus_project(tmp_path, trained_example):
    from tests.workspace import copy_project

    return copy_project(tmp_path / "project")


def write_stack(root, text: str) -> None:
    (root / "stacks" / "Pulumi.local.yaml").write_text(text)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_kubeconfig_file_that_is_not_a_small_text_file(corpus_project, name):
    MAKERS[name](corpus_project / "kube.yaml")
    write_stack(
        corpus_project,
        (
            "config:\n  modelstack:registry: {kind: local}\n"
            "  modelstack:kubernetes_clusters:\n    testcluster: {kubeconfig_file: kube.yaml, gateway_class: traefik}\n"
            "  modelstack:services:\n    diabetes-multi: null\n    diabetes: {target: kubernetes, compute: testcluster, deploy: {num_replicas: 1}}\n"
        ),
    )
    result = run(corpus_project, "check", "--stack", "local")
    assert_refused(result, codes=(1,))
    assert "modelstack:kubernetes_clusters.testcluster.kubeconfig_file: " in result.stderr.decode()


@pytest.mark.parametrize("field", ["pip_requirements", "conda_file", "extra_docker_file_steps"])
@pytest.mark.parametrize("name", ["fifo", "/dev/zero", "3 GiB file"])
def test_an_environment_file_that_is_not_a_small_text_file(corpus_project, field, name):
    MAKERS[name](corpus_project / "env.file")
    extra = "pip_requirements: null, " if field == "conda_file" else ""
    write_stack(
        corpus_project,
        f"config:\n  modelstack:services:\n    diabetes:\n      environment: {{{extra}{field}: env.file}}\n",
    )
    result = run(corpus_project, "check", "--stack", "local")
    assert_refused(result, codes=(1,))
    assert f"modelstack:services.diabetes.environment.{field}: " in result.stderr.decode()


@pytest.mark.parametrize("value", ["k" * 5000, "", "kube\\0.yaml"])
def test_a_kubeconfig_file_path_that_names_no_file(corpus_project, value):
    write_stack(
        corpus_project,
        (
            "config:\n  modelstack:registry: {kind: local}\n"
            f'  modelstack:kubernetes_clusters:\n    testcluster: {{kubeconfig_file: "{value}", gateway_class: traefik}}\n'
            "  modelstack:services:\n    diabetes-multi: null\n    diabetes: {target: kubernetes, compute: testcluster, deploy: {num_replicas: 1}}\n"
        ),
    )
    result = run(corpus_project, "check", "--stack", "local")
    assert_refused(result, codes=(1,))
    assert "modelstack:kubernetes_clusters.testcluster.kubeconfig_file: " in result.stderr.decode()


def test_a_fifo_inside_the_source_directory(corpus_project):
    os.mkfifo(corpus_project / "examples" / "diabetes" / "src" / "pipe")
    result = run(corpus_project, "check", "--stack", "local")
    assert_refused(result, codes=(1,))
    assert "modelstack:services.diabetes.source_directory: 'src/pipe' is a fifo" in result.stderr.decode()
