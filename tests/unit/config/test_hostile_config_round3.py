"""Configuration that was accepted though it cannot work, or that crashed `check`: files read
without bounds (kubeconfig_file, requirements, conda and steps files, folders holding fifos and
sockets), impossible paths, values the target refuses later, values YAML 1.1 reads otherwise than
the engine, and misleading errors. Each is refused before any resource exists, with the key, the
rule and the fix."""

from __future__ import annotations

import os
import socket

import pytest

from components.errors import ConfigError, ConfigErrors


def errors_of(project, stack_config: dict | None = None, *, text: str | None = None) -> list[ConfigError]:
    path = project.root / "stacks" / "Pulumi.local.yaml"
    if text is not None:
        path.write_text(text)
    else:
        project.write_stack("local", stack_config)
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("local")
    error = caught.value
    if isinstance(error, ConfigErrors):
        return error.errors
    assert isinstance(error, ConfigError)
    return [error]


def one_error(project, stack_config: dict | None = None, *, key: str, text: str | None = None) -> str:
    found = [str(e) for e in errors_of(project, stack_config, text=text) if e.key == key]
    assert len(found) == 1, [str(e) for e in errors_of(project, stack_config, text=text)]
    assert "Rule: " in found[0] and "Fix: " in found[0]
    return found[0]


KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"
KUBE_KEY = "modelstack:kubernetes_clusters.testcluster.kubeconfig_file"


def kube_stack(kubeconfig_file: str, **cluster) -> dict:
    return {
        "registry": {"kind": "local"},
        "kubernetes_clusters": {
            "testcluster": {"kubeconfig_file": kubeconfig_file, "gateway_class": "traefik", **cluster}
        },
        "services": {
            "diabetes": {"target": "kubernetes", "compute": "testcluster", "deploy": {"num_replicas": 1}},
            "diabetes-multi": None,
        },
    }


def _fifo(path):
    os.mkfifo(path)


def _socket(path):
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()  # the socket file stays


def _two_gib_hole(path):
    """A 2 GiB file that takes no disk space."""
    path.write_bytes(b"")
    os.truncate(path, 2 * 1024**3)


# --- kubeconfig_file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, said",
    [
        ("", "the path is empty"),
        ("   ", "the path is empty"),
        ("k" * 5000, "the path is 5,000 characters long"),
        ("a/" + "b" * 300 + "/c", "a part of the path is 300 bytes long"),
        ("kube\0.yaml", "the path holds a NUL byte"),
    ],
)
def test_a_kubeconfig_file_path_that_cannot_name_a_file_is_refused(project, value, said):
    message = one_error(project, kube_stack(value), key=KUBE_KEY)
    assert said in message


@pytest.mark.parametrize(
    "make, said",
    [
        (lambda p: _fifo(p), "is a fifo"),
        (lambda p: p.symlink_to("/dev/zero"), "is a device"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: _socket(p), "is a socket"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"), "is not UTF-8 text"),
        (lambda p: p.write_text(""), "the kubeconfig holds nothing, not a mapping"),
        (lambda p: p.write_text("- a\n- b\n"), "the kubeconfig holds a list, not a mapping"),
        (lambda p: p.write_text("apiVersion: v1\nclusters: [\n"), "the kubeconfig is not valid YAML"),
        (lambda p: _two_gib_hole(p), "bytes"),
    ],
)
def test_a_kubeconfig_file_that_is_not_a_kubeconfig_is_refused_without_reading_it_whole(project, make, said):
    make(project.root / "kube.yaml")
    message = one_error(project, kube_stack("kube.yaml"), key=KUBE_KEY)
    assert said in message


def test_a_kubeconfig_files_text_is_never_shown(project):
    (project.root / "kube.yaml").write_text("token: s3cr3t-t0ken\nclusters: [\n")
    message = one_error(project, kube_stack("kube.yaml"), key=KUBE_KEY)
    assert "s3cr3t" not in message


def test_a_good_kubeconfig_file_is_accepted(project):
    (project.root / "kube.yaml").write_text(KUBECONFIG)
    project.write_stack("local", kube_stack("kube.yaml"))
    assert project.load("local").kubernetes_clusters["testcluster"].kubeconfig_file == "kube.yaml"


# --- files and folders of a service ---------------------------------------------------------------

ENV_KEY = "modelstack:services.diabetes.environment"


@pytest.mark.parametrize("field", ["pip_requirements", "conda_file", "extra_docker_file_steps"])
@pytest.mark.parametrize(
    "make, said",
    [
        (lambda p: p.write_bytes(bytes(range(256)) * 4), "is not UTF-8 text"),
        (lambda p: _fifo(p), "is a fifo"),
        (lambda p: _socket(p), "is a socket"),
        (lambda p: p.symlink_to("/dev/zero"), None),  # outside the project, or a device
        (lambda p: _two_gib_hole(p), "it is at most 1,048,576 bytes"),
    ],
)
def test_an_environment_file_that_is_not_text_is_refused(project, field, make, said):
    make(project.root / "env.file")
    environment: dict[str, str | None] = {field: "env.file"}
    if field == "conda_file":
        environment["pip_requirements"] = None
    message = one_error(project, {"services": {"diabetes": {"environment": environment}}}, key=f"{ENV_KEY}.{field}")
    assert said is None or said in message


@pytest.mark.parametrize("field", ["pip_requirements", "conda_file", "extra_docker_file_steps"])
@pytest.mark.parametrize(
    "value, said",
    [
        ("r" * 5000, "the path is 5,000 characters long"),
        ("r" * 300 + ".txt", "a part of the path is 304 bytes long"),
        ("req\0.txt", "the path holds a NUL byte"),
        ("", "the path is empty"),
    ],
)
def test_an_environment_file_path_that_cannot_name_a_file_is_refused(project, field, value, said):
    environment = {field: value}
    if field == "conda_file":
        environment["pip_requirements"] = None
    assert said in one_error(
        project, {"services": {"diabetes": {"environment": environment}}}, key=f"{ENV_KEY}.{field}"
    )


@pytest.mark.parametrize(
    "line",
    [
        "-r /etc/passwd",
        "-r../../etc/passwd",
        "--requirement=/etc/passwd",
        "-c /etc/shadow",
        "  --constraint ../x.txt",
        "/etc/passwd",
        "file:///etc/passwd",
        "-e ../outside",
        "./local-package",
    ],
)
def test_a_requirements_file_that_makes_pip_read_another_file_is_refused(project, line):
    (project.root / "req.txt").write_text(f"numpy\n{line}\n")
    message = one_error(
        project,
        {"services": {"diabetes": {"environment": {"pip_requirements": "req.txt"}}}},
        key=f"{ENV_KEY}.pip_requirements",
    )
    assert "line 2 " in message
    assert "passwd" not in message and "shadow" not in message, "the line is not shown"


def test_a_conda_files_pip_section_is_held_to_the_same_rule(project):
    (project.root / "conda.yml").write_text("dependencies:\n  - python=3.11\n  - pip:\n    - -r /etc/passwd\n")
    message = one_error(
        project,
        {"services": {"diabetes": {"environment": {"pip_requirements": None, "conda_file": "conda.yml"}}}},
        key=f"{ENV_KEY}.conda_file",
    )
    assert "includes another file" in message


@pytest.mark.parametrize(
    "text, said",
    [
        ("- a\n- b\n", "holds a list, not a mapping"),
        ("dependencies: numpy\n", "is not a list"),
        ("dependencies: [{pip: numpy}]\n", "is not a list"),
    ],
)
def test_a_conda_file_of_the_wrong_shape_is_refused(project, text, said):
    (project.root / "conda.yml").write_text(text)
    message = one_error(
        project,
        {"services": {"diabetes": {"environment": {"pip_requirements": None, "conda_file": "conda.yml"}}}},
        key=f"{ENV_KEY}.conda_file",
    )
    assert said in message


def test_a_requirements_file_of_packages_and_urls_is_accepted(project):
    (project.root / "req.txt").write_text(
        "numpy==2.0\n# a comment\n--index-url https://index.example.com/simple\nscikit-learn @ https://example.com/sk.whl\n"
    )
    project.write_stack("local", {"services": {"diabetes": {"environment": {"pip_requirements": "req.txt"}}}})
    assert project.load("local").services["diabetes"].environment.pip_requirements == "req.txt"


MODEL_KEY = "modelstack:models.diabetes-ridge.path"
SOURCE_KEY = "modelstack:services.diabetes.source_directory"


@pytest.mark.parametrize(
    "key, config",
    [
        (MODEL_KEY, lambda v: {"models": {"diabetes-ridge": {"path": v}}}),
        (SOURCE_KEY, lambda v: {"services": {"diabetes": {"source_directory": v}}}),
    ],
)
@pytest.mark.parametrize(
    "value, said",
    [
        ("m" * 5000, "the path is 5,000 characters long"),
        ("examples/" + "m" * 256, "a part of the path is 256 bytes long"),
        ("examples/\0model", "the path holds a NUL byte"),
    ],
)
def test_a_model_or_source_path_that_cannot_name_a_file_is_refused(project, key, config, value, said):
    assert said in one_error(project, config(value), key=key)


@pytest.mark.parametrize("make, kind", [(_fifo, "a fifo"), (_socket, "a socket")])
@pytest.mark.parametrize(
    "folder, key, config",
    [
        ("model", MODEL_KEY, {"models": {"diabetes-ridge": {"path": "model"}}}),
        ("src", SOURCE_KEY, {"services": {"diabetes": {"source_directory": "src"}}}),
    ],
)
def test_a_fifo_or_socket_inside_a_copied_folder_is_refused(project, make, kind, folder, key, config):
    root = project.root / folder
    root.mkdir()
    (root / "score.py").write_text("def init(): pass\ndef run(data): return data\n")
    (root / "model.bin").write_bytes(b"weights")
    (root / "sub").mkdir()
    make(root / "sub" / "pipe")
    message = one_error(project, config, key=key)
    assert f"'{folder}/sub/pipe' is {kind}" in message


def test_a_model_path_that_is_a_fifo_is_refused(project):
    _fifo(project.root / "model.pipe")
    assert "model path 'model.pipe' is a fifo" in one_error(
        project, {"models": {"diabetes-ridge": {"path": "model.pipe"}}}, key=MODEL_KEY
    )


# --- values accepted though they cannot work --------------------------------------------------------

DEPLOY = "modelstack:services.diabetes.deploy"


def aks_stack(deploy: dict, **service) -> dict:
    return {
        "registry": {"kind": "acr"},
        "clusters": {"aks-dev": {"cluster_purpose": "DevTest", "agent_count": 1, "vm_size": "Standard_D4s_v5"}},
        "services": {
            "diabetes": {"target": "aks", "compute": "aks-dev", "deploy": {"num_replicas": 1, **deploy}, **service},
            "diabetes-multi": None,
        },
    }


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kube-public", "kube-node-lease"])
def test_a_namespace_of_kubernetes_itself_is_refused(project, namespace):
    message = one_error(project, aks_stack({"namespace": namespace}), key=f"{DEPLOY}.namespace")
    assert f"namespace '{namespace}' belongs to Kubernetes itself" in message


def test_ten_thousand_cors_origins_are_refused(project):
    origins = [f"https://app{n}.example.com" for n in range(10_000)]
    message = one_error(
        project, aks_stack({"access_control_allow_origins": origins}), key=f"{DEPLOY}.access_control_allow_origins"
    )
    assert "characters" in message


def test_a_few_cors_origins_are_fine(project):
    project.write_stack(
        "local", aks_stack({"access_control_allow_origins": [f"https://app{n}.example.com" for n in range(50)]})
    )
    assert len(project.load("local").services["diabetes"].deploy.access_control_allow_origins) == 50


def test_metadata_over_kubernetes_annotation_limit_is_refused(project):
    tags = {f"tag{n}": "x" * 1000 for n in range(300)}
    message = one_error(project, aks_stack({"tags": tags}), key=f"{DEPLOY}")
    assert "262,144" in message


def test_a_gateway_class_longer_than_a_kubernetes_name_is_refused(project):
    (project.root / "kube.yaml").write_text(KUBECONFIG)
    message = one_error(
        project,
        kube_stack("kube.yaml", gateway_class="a" * 300),
        key="modelstack:kubernetes_clusters.testcluster.gateway_class",
    )
    assert "at most 253 characters" in message


def test_gpu_cores_on_a_cluster_without_gpus_are_refused(project):
    message = one_error(project, aks_stack({"gpu_cores": 1}), key=f"{DEPLOY}.gpu_cores")
    assert "Standard_D4s_v5" in message and "no GPU" in message


def test_a_million_workers_are_refused(project):
    message = one_error(
        project,
        aks_stack({"replica_max_concurrent_requests": 1_000_000}),
        key=f"{DEPLOY}.replica_max_concurrent_requests",
    )
    assert "worker" in message


def test_workers_that_fit_the_replicas_memory_are_fine(project):
    project.write_stack("local", aks_stack({"replica_max_concurrent_requests": 4, "memory_gb": 1}))
    assert project.load("local").services["diabetes"].deploy.replica_max_concurrent_requests == 4


@pytest.mark.parametrize("value", ["1", "yes", "'yes'", "on", "y", "0", "'true'"])
def test_booleans_are_strict(project, value):
    text = (
        "config:\n  modelstack:registry: {kind: acr}\n  modelstack:clusters: {aks-dev: {cluster_purpose: DevTest, agent_count: 1, vm_size: Standard_D4s_v5}}\n"
        f"  modelstack:services:\n    diabetes-multi: null\n    diabetes:\n      target: aks\n      compute: aks-dev\n      deploy: {{num_replicas: 1, token_auth_enabled: {value}}}\n"
    )
    message = one_error(project, key=f"{DEPLOY}.token_auth_enabled", text=text)
    assert "true or false" in message


@pytest.mark.parametrize(
    "text, key",
    [
        ("config:\n  modelstack:services:\n    diabetes:\n      deploy:\n        port: 1:30\n", f"{DEPLOY}.port"),
        ("config:\n  modelstack:registry: {kind: local, port: 1:30}\n", "modelstack:registry.port"),
    ],
)
def test_a_sexagesimal_number_is_text_as_for_the_engine(project, text, key):
    message = one_error(project, key=key, text=text)
    assert "1:30" in message and "90" not in message.split("Rule")[0]


def test_check_and_the_engine_read_the_stack_file_alike(project):
    """The values the mock runtime hands the program (what `check` evaluates) are those the
    engine would: YAML 1.2 scalars, as Go's yaml.v3 reads them."""
    from components.config.load import engine_values_from_files

    project.root.joinpath("stacks", "Pulumi.local.yaml").write_text(
        "config:\n  modelstack:tags: {a: 1:30, b: yes, c: on, d: 0o17, e: 2001-12-14, f: true, g: 1_000}\n"
    )
    values, _ = engine_values_from_files("local", project.root)
    assert (
        values["modelstack:tags"]
        == '{"a": "1:30", "b": "yes", "c": "on", "d": 15, "e": "2001-12-14", "f": true, "g": 1000}'
    )


@pytest.mark.parametrize(
    "stack, key",
    [
        (
            {
                "services": {"diabetes": {"target": "aci", "deploy": {"auth_enabled": True, "primary_key": ""}}},
                "registry": {"kind": "acr"},
            },
            f"{DEPLOY}.primary_key",
        ),
        ({"app_insights": {"connection_string": ""}}, "modelstack:app_insights.connection_string"),
    ],
)
def test_an_empty_key_or_connection_string_is_refused(project, stack, key):
    message = one_error(project, stack, key=key)
    assert "empty" in message


@pytest.mark.parametrize("value", ["42", "[1]", "{a: b}", "true", "''"])
def test_a_secure_value_that_is_not_ciphertext_is_refused(project, value):
    text = f"config:\n  modelstack:app_insights:\n    connection_string:\n      secure: {value}\n"
    message = one_error(project, key="modelstack:app_insights.connection_string", text=text)
    assert "secure" in message


# --- misleading errors --------------------------------------------------------------------------------


def test_a_gateway_class_given_as_a_secret_is_not_checked_as_its_placeholder(project):
    (project.root / "kube.yaml").write_text(KUBECONFIG)
    project.write_stack("local", kube_stack("kube.yaml"))
    path = project.root / "stacks" / "Pulumi.local.yaml"
    path.write_text(path.read_text().replace("gateway_class: traefik", "gateway_class:\n          secure: v1:abc:def"))
    assert "secure" in path.read_text()
    project.load("local")  # no error about '[secret]'


@pytest.mark.parametrize("tag", ["password", "primary_key", "connection_string", "kubeconfig"])
def test_a_tag_named_like_a_secret_is_a_tag(project, tag):
    project.write_stack("local", {"tags": {tag: "team-a"}, "services": {"diabetes": {"tags": {tag: "x"}}}})
    assert project.load("local").services["diabetes"].tags == {tag: "x"}


@pytest.mark.parametrize(
    "make, said", [(_fifo, "is a fifo"), (lambda p: p.write_bytes(b"\xff\xfe-----BEGIN"), "is not UTF-8 text")]
)
def test_a_pem_file_that_is_not_text_is_refused(project, make, said):
    make(project.root / "cert.pem")
    (project.root / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    stack = {
        "registry": {"kind": "acr"},
        "services": {
            "diabetes": {
                "target": "aci",
                "deploy": {
                    "ssl_enabled": True,
                    "ssl_cert_pem_file": "cert.pem",
                    "ssl_key_pem_file": "key.pem",
                    "ssl_cname": "ml.example.com",
                },
            },
            "diabetes-multi": None,
        },
    }
    assert said in one_error(project, stack, key=f"{DEPLOY}.ssl_cert_pem_file")
