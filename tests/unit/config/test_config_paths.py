"""Every path in the config resolves inside the project (symlinks followed), entry_script inside
source_directory; symlink loops and empty models are errors, never tracebacks."""

from __future__ import annotations

import pytest

from components.errors import ConfigError, ConfigErrors

OUTSIDE_RULE = (
    "Rule: paths in the config are relative to Pulumi.yaml's folder and resolve (symlinks followed) inside the project"
)


def errors_of(project, stack_config: dict) -> str:
    project.write_stack("local", {"registry": {"kind": "local", "port": 5050}, **stack_config})
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("local")
    return str(caught.value)


def model_errors(project, path: str) -> str:
    return errors_of(project, {"models": {"diabetes-ridge": {"path": path}}})


@pytest.mark.parametrize(
    "path, where",
    [("/", "/"), ("/etc/passwd", "/etc/passwd"), ("../../../../../../etc", "/etc"), (".", "the folder itself")],
)
def test_a_model_path_outside_the_project_is_refused(project, path, where):
    text = model_errors(project, path)
    assert (
        f"modelstack:models.diabetes-ridge.path: '{path}' resolves to {where}, not to something inside the project"
        in text
    )
    assert OUTSIDE_RULE in text


def test_a_symlink_out_of_the_project_is_refused(project):
    (project.root / "examples" / "escape").symlink_to("/etc")
    text = model_errors(project, "examples/escape")
    assert "'examples/escape' resolves to /etc, not to something inside the project" in text


@pytest.mark.parametrize("loop", [("a", "a"), ("a", "b")])
def test_a_symlink_loop_is_an_error_not_a_traceback(project, loop):
    first, second = (project.root / name for name in loop)
    first.symlink_to(second.name)
    if second != first:
        second.symlink_to(first.name)
    text = model_errors(project, loop[0])
    assert f"modelstack:models.diabetes-ridge.path: '{loop[0]}' is a symlink loop" in text
    assert "Fix: point the link at a real file or folder, or correct the path" in text


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.write_bytes(b""),
        lambda p: p.mkdir(),
        lambda p: (p.mkdir(), (p / "sub").mkdir(), (p / "sub" / "empty.bin").write_bytes(b"")),
    ],
)
def test_an_empty_model_is_an_error(project, make):
    make(project.root / "examples" / "empty-model")
    text = model_errors(project, "examples/empty-model")
    assert "modelstack:models.diabetes-ridge.path: model path 'examples/empty-model' is empty" in text
    assert "Rule: a model is a non-empty file, or a folder holding at least one non-empty file" in text


@pytest.mark.parametrize("source", ["/", "/etc", "..", "../.."])
def test_source_directory_outside_the_project_is_refused(project, source):
    text = errors_of(project, {"services": {"diabetes": {"source_directory": source}}})
    assert f"modelstack:services.diabetes.source_directory: '{source}' resolves to " in text
    assert OUTSIDE_RULE in text


@pytest.mark.parametrize("script", ["../score_multi.py", "../../../Pulumi.yaml", "src/../../x.py"])
def test_entry_script_stays_inside_source_directory(project, script):
    text = errors_of(project, {"services": {"diabetes": {"entry_script": script}}})
    assert "modelstack:services.diabetes.entry_script: " in text


def test_entry_script_linked_out_of_source_directory_is_refused(project):
    (project.root / "examples" / "diabetes" / "src" / "linked.py").symlink_to(project.root / "Pulumi.yaml")
    text = errors_of(project, {"services": {"diabetes": {"entry_script": "linked.py"}}})
    assert "modelstack:services.diabetes.entry_script: 'linked.py' resolves to " in text
    assert "not to something inside source_directory 'examples/diabetes/src'" in text
    assert "Rule: the path is relative to source_directory 'examples/diabetes/src' and stays inside it" in text


@pytest.mark.parametrize("field", ["pip_requirements", "conda_file", "extra_docker_file_steps"])
@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../../../../../etc/passwd"])
def test_environment_files_stay_inside_the_project(project, field, path):
    text = errors_of(
        project,
        {
            "services": {
                "diabetes": {
                    "environment": {field: path, **({"pip_requirements": None} if field == "conda_file" else {})}
                }
            }
        },
    )
    assert (
        f"modelstack:services.diabetes.environment.{field}: '{path}' resolves to /etc/passwd, not to something inside the project"
        in text
    )


@pytest.mark.parametrize("field", ["ssl_cert_pem_file", "ssl_key_pem_file"])
def test_aci_certificate_files_stay_inside_the_project(project, field):
    deploy = {
        "ssl_enabled": True,
        "ssl_cname": "x.example.com",
        "ssl_cert_pem_file": "cert.pem",
        "ssl_key_pem_file": "key.pem",
        field: "/etc/ssl/private/x.pem",
    }
    text = errors_of(
        project, {"registry": {"kind": "acr"}, "services": {"diabetes": {"target": "aci", "deploy": deploy}}}
    )
    assert (
        f"modelstack:services.diabetes.deploy.{field}: '/etc/ssl/private/x.pem' resolves to /etc/ssl/private/x.pem, not to something inside the project"
        in text
    )


def test_cluster_certificate_files_stay_inside_the_project(project):
    cluster = {
        "ssl_cname": "x.example.com",
        "ssl_cert_pem_file": "/etc/hostname",
        "ssl_key_pem_file": "key.pem",
        "cluster_purpose": "DevTest",
        "agent_count": 1,
        "vm_size": "Standard_D2s_v5",
    }
    text = errors_of(project, {"registry": {"kind": "acr"}, "clusters": {"c": cluster}})
    assert (
        "modelstack:clusters.c.ssl_cert_pem_file: '/etc/hostname' resolves to /etc/hostname, not to something inside the project"
        in text
    )


FOLDER_LINK_RULE = "Rule: a link inside a folder that is copied into the image (a model, source_directory) names a file inside the project"


def model_folder(project):
    """A model folder with one real file, the config pointing at it."""
    folder = project.root / "examples" / "folder-model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x01\x02")
    return folder


@pytest.mark.parametrize(
    "target, problem",
    [
        ("/etc/passwd", "links to /etc/passwd, outside the project"),
        ("../../../../../../../../etc/hostname", "links to /etc/hostname, outside the project"),
        ("missing.bin", "is a broken link (to missing.bin)"),
    ],
)
def test_a_link_inside_a_model_folder_must_name_a_file_inside_the_project(project, target, problem):
    folder = model_folder(project)
    (folder / "nested").mkdir()
    (folder / "nested" / "extra.bin").symlink_to(target)
    text = model_errors(project, "examples/folder-model")
    assert f"modelstack:models.diabetes-ridge.path: 'folder-model/nested/extra.bin' {problem}" in text
    assert FOLDER_LINK_RULE in text
    assert "Fix: copy the file into the folder instead of linking it, or remove the link" in text


def test_a_link_loop_inside_a_model_folder_is_an_error_not_a_traceback(project):
    folder = model_folder(project)
    (folder / "a").symlink_to("b")
    (folder / "b").symlink_to("a")
    text = model_errors(project, "examples/folder-model")
    assert "modelstack:models.diabetes-ridge.path: 'folder-model/a' is a symlink loop" in text


def test_a_link_to_a_folder_inside_a_model_folder_is_refused(project):
    folder = model_folder(project)
    (folder / "shared").symlink_to(project.root / "examples" / "diabetes")
    text = model_errors(project, "examples/folder-model")
    assert "'folder-model/shared' links to a folder (the copy into the image does not follow folder links)" in text


def test_a_link_to_a_file_inside_the_project_is_accepted(project):
    folder = model_folder(project)
    (folder / "linked.bin").symlink_to(folder / "weights.bin")
    project.write_stack(
        "local",
        {"registry": {"kind": "local", "port": 5050}, "models": {"diabetes-ridge": {"path": "examples/folder-model"}}},
    )
    assert project.load("local").models["diabetes-ridge"].path == "examples/folder-model"


@pytest.mark.parametrize("target", ["/etc/passwd", "/root/.ssh"])
def test_a_link_inside_source_directory_out_of_the_project_is_refused(project, target):
    (project.root / "examples" / "diabetes" / "src" / "leak").symlink_to(target)
    text = errors_of(project, {"services": {"diabetes": {}}})
    assert "modelstack:services.diabetes.source_directory: 'src/leak' " in text
    assert FOLDER_LINK_RULE in text
