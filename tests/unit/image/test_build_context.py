"""Rendered images: golden Dockerfiles for every environment kind, and content-derived tags."""

from __future__ import annotations

import tarfile

from components.image.build_context import (
    SERVER_REQUIREMENT,
    build_context,
    context_tarball,
    render_conda_file,
    render_requirements,
    write_context,
)
from tests.workspace import REPO


def context_for(project, stack_values: dict | None = None, service: str = "diabetes"):
    if stack_values is not None:
        project.write_stack("local", stack_values)
    config = project.load("local")
    return build_context(project.root, service, config.services[service], config.models)


def test_pip_environment_golden(project, golden):
    golden("diabetes.Dockerfile", context_for(project).dockerfile)


def test_multi_model_golden(project, golden):
    golden("diabetes-multi.Dockerfile", context_for(project, service="diabetes-multi").dockerfile)


def test_conda_environment_golden(project, golden):
    (project.root / "conda.yml").write_text(
        "name: scoring\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - scikit-learn=1.9.1\n  - pip:\n      - inference-schema==1.8\n"
    )
    context = context_for(
        project, {"services": {"diabetes": {"environment": {"pip_requirements": None, "conda_file": "conda.yml"}}}}
    )
    golden("conda.Dockerfile", context.dockerfile)
    golden("conda.yml", context.environment_files["conda.yml"])


def test_gpu_base_with_extra_steps_golden(project, golden):
    (project.root / "extra.dockerfile").write_text("RUN echo 'extra step' > /tmp/extra\n")
    context = context_for(
        project,
        {
            "services": {
                "diabetes": {
                    "environment": {
                        "enable_gpu": True,
                        "cuda_version": "12.1",
                        "extra_docker_file_steps": "extra.dockerfile",
                    }
                }
            }
        },
    )
    golden("gpu-extra-steps.Dockerfile", context.dockerfile)


def test_private_base_image_is_prefixed_with_its_registry(project, golden):
    (project.root / "stacks" / "Pulumi.local.yaml").write_text(
        "config:\n  modelstack:services:\n    diabetes:\n      environment:\n        base_image: team/python:3.11\n"
        "        base_image_registry:\n          address: myregistry.azurecr.io\n          username: puller\n"
        "          password:\n            secure: v1:c2FsdA==:Y2lwaGVy\n"
    )
    context = context_for(project)
    assert context.base_image == "myregistry.azurecr.io/team/python:3.11"
    golden("private-base.Dockerfile", context.dockerfile)
    assert "Y2lwaGVy" not in context.dockerfile and "puller" not in context.dockerfile, (
        "credentials never reach rendered files"
    )


MODELSTACK_SERVER_PINS = [
    "uvicorn==0.54.0",
    "click==8.5.1",
    "h11==0.16.0",
    "httptools==0.9.0",
    "uvloop==0.23.0",
    "PyJWT==2.15.1",
    "prometheus_client==0.26.0",
    "azureml-inference-server-http==1.5.1",
]


def test_requirements_get_the_scoring_server_unless_pinned():
    # azmlinfsrv: its one package, after the user's
    assert render_requirements("numpy==2.4.6\n", "azmlinfsrv").splitlines()[-1] == SERVER_REQUIREMENT
    pinned = "azureml_inference_server_http==1.4.0\n"
    assert render_requirements(pinned, "azmlinfsrv") == pinned
    # modelstack (the default): uvicorn and its accelerators, and azmlinfsrv for AMLRequest/AMLResponse
    assert render_requirements("numpy==2.4.6\n").splitlines()[-8:] == MODELSTACK_SERVER_PINS
    assert render_requirements("numpy==2.4.6\n", "modelstack") == render_requirements("numpy==2.4.6\n")
    # a package the user pins is theirs; the rest are still added
    mine = render_requirements("uvicorn==0.30.0\nazureml-inference-server-http==1.4.0\n").splitlines()
    assert mine[:2] == ["uvicorn==0.30.0", "azureml-inference-server-http==1.4.0"]
    assert mine[3:] == [
        "click==8.5.1",
        "h11==0.16.0",
        "httptools==0.9.0",
        "uvloop==0.23.0",
        "PyJWT==2.15.1",
        "prometheus_client==0.26.0",
    ]


def test_the_azmlinfsrv_image_carries_no_modelstack_server_packages():
    rendered = render_requirements("numpy==2.4.6\n", "azmlinfsrv")
    assert "uvicorn" not in rendered and "uvloop" not in rendered and "httptools" not in rendered


def test_conda_file_gets_the_scoring_server_in_its_pip_section():
    rendered = render_conda_file("dependencies:\n  - python=3.11\n", "k", "azmlinfsrv")
    assert "- pip\n" in rendered and f"  - {SERVER_REQUIREMENT}" in rendered and "uvicorn" not in rendered
    default = render_conda_file("dependencies:\n  - python=3.11\n", "k")
    assert all(f"  - {pin}" in default for pin in MODELSTACK_SERVER_PINS)


def test_each_server_ships_its_own_files_and_command(project, tmp_path):
    default = context_for(project)
    assert sorted(default.support_files) == [
        f"modelstack/modelstack_server/{name}.py"
        for name in (
            "__init__",
            "__main__",
            "app",
            "bounded_files",
            "contract",
            "cors",
            "entry_script",
            "input_errors",
            "keys",
            "log_capture",
            "memory",
            "metrics",
            "peers",
            "protocol",
            "request_ids",
            "scoring",
            "server",
            "settings",
            "swagger",
            "telemetry",
            "tls",
            "tokens",
        )
    ]
    assert (
        'CMD ["python", "-m", "modelstack_server", "--entry_script", "/var/azureml-app/src/score.py", "--port", "5001"]'
        in default.dockerfile
    )
    assert "ENV PYTHONPATH=/opt/modelstack" in default.dockerfile and "azmlinfsrv_front" not in default.dockerfile
    # azmlinfsrv's image: the front and the standard-library modules of the package it imports
    fallback = context_for(project, {"services": {"diabetes": {"scoring_server": "azmlinfsrv"}}})
    assert sorted(fallback.support_files) == [
        f"modelstack/modelstack_server/{name}.py"
        for name in (
            "__init__",
            "azmlinfsrv_front",
            "bounded_files",
            "contract",
            "cors",
            "keys",
            "settings",
            "tls",
            "tokens",
        )
    ]
    assert (
        "COPY modelstack/modelstack_server/ /opt/modelstack/modelstack_server/\nENV PYTHONPATH=/opt/modelstack\n"
        in fallback.dockerfile
    )
    assert (
        'CMD ["python", "-m", "modelstack_server.azmlinfsrv_front", "--entry_script", "/var/azureml-app/src/score.py", "--port", "5001"]'
        in fallback.dockerfile
    )
    assert "uvicorn" not in fallback.environment_files["requirements.txt"]
    assert fallback.tag != default.tag and fallback.requirements_digest != default.requirements_digest
    # the files travel byte for byte
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    write_context(fallback, tmp_path / "out", wheelhouse)
    front = REPO / "modelstack_server" / "azmlinfsrv_front.py"
    assert (
        tmp_path / "out" / "modelstack" / "modelstack_server" / "azmlinfsrv_front.py"
    ).read_bytes() == front.read_bytes()


def test_the_port_and_the_user_are_rendered_from_the_contract(project, monkeypatch):
    """EXPOSE, the command's --port and the image's user come from modelstack_server/contract.py."""
    from modelstack_server import contract

    dockerfile = context_for(project).dockerfile
    assert (
        "EXPOSE 5001\n" in dockerfile and '"--port", "5001"]' in dockerfile and "RUN useradd --uid 1000 " in dockerfile
    )
    monkeypatch.setattr(contract, "PORT", 6001)
    monkeypatch.setattr(contract, "IMAGE_USER_ID", 1234)
    changed = context_for(project).dockerfile
    assert "EXPOSE 6001\n" in changed and '"--port", "6001"]' in changed and "RUN useradd --uid 1234 " in changed
    assert "5001" not in changed


def test_an_unknown_scoring_server_is_a_config_error(project):
    import pytest

    from components.config.load import ConfigErrors

    project.write_stack("local", {"services": {"diabetes": {"scoring_server": "gunicorn"}}})
    with pytest.raises(ConfigErrors) as error:
        project.load("local")
    assert "modelstack:services.diabetes.scoring_server" in str(error.value)


def test_tag_is_stable_for_the_same_content(project):
    assert context_for(project).tag == context_for(project).tag


def test_model_change_changes_the_tag_and_the_model_version_only(project):
    before = context_for(project)
    model = project.root / "examples" / "diabetes" / "model" / "ridge.joblib"
    model.write_bytes(model.read_bytes() + b"\0")
    after = context_for(project)
    assert after.tag != before.tag
    assert after.model_versions["diabetes-ridge"] != before.model_versions["diabetes-ridge"]
    assert after.environment_files == before.environment_files, "the dependency layers' inputs are untouched"
    assert after.requirements_digest == before.requirements_digest


def test_source_change_changes_the_tag(project):
    before = context_for(project).tag
    (project.root / "examples" / "diabetes" / "src" / "score.py").write_text(
        "def init():\n    pass\n\ndef run(data):\n    return data\n"
    )
    assert context_for(project).tag != before


def test_deploy_parameters_do_not_change_the_image(project):
    before = context_for(project).tag
    assert context_for(project, {"services": {"diabetes": {"deploy": {"port": 7000}}}}).tag == before


def test_context_tarball_holds_models_in_the_azureml_layout(project, tmp_path):
    context = context_for(project, service="diabetes-multi")
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    (wheelhouse / "x-1.0-py3-none-any.whl").write_bytes(b"wheel")
    with tarfile.open(fileobj=context_tarball(context, wheelhouse)) as tar:
        names = set(tar.getnames())
        assert all(m.mtime == 0 for m in tar.getmembers()), "no clock in the context"
    versions = context.model_versions
    assert f"models/diabetes-ridge/{versions['diabetes-ridge']}/ridge.joblib" in names
    assert f"models/diabetes-lasso/{versions['diabetes-lasso']}/lasso.joblib" in names
    assert {
        "Dockerfile",
        "requirements.txt",
        "wheelhouse/x-1.0-py3-none-any.whl",
        "src/score.py",
        "src/score_multi.py",
    } <= names
