"""The pure parts of drift and promote: changed fields, live states, refusals, pins in files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.commands.drift import changed_fields, drift_from_events, live_parts
from components.commands.engine import engine_failure
from components.commands.promote import live_states, refuse_unhealthy, split_reference, write_pins
from components.errors import ModelstackError

REPO = Path(__file__).resolve().parents[3]
DATA = Path(__file__).parent / "data"

DIGEST = "sha256:" + "ab" * 32


def test_changed_fields_mask_secrets_and_skip_the_provider():
    old = {
        "state": "Healthy",
        "key": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "k1"},
        "__provider": "a",
    }
    new = {
        "state": "Failed",
        "key": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "k2"},
        "__provider": "b",
    }
    assert changed_fields(old, new) == {"key": ("[secret]", "[secret]"), "state": ("Healthy", "Failed")}


def test_live_states_take_what_the_refresh_found():
    services = {
        "diabetes": {"state": "Healthy"},
        "diabetes-multi": {"state": "Healthy"},
        "batch": {},
        "other": {"state": "Healthy"},
    }
    parts = {"diabetes": ["Healthy", "Failed"], "diabetes-multi": ["Healthy", "gone"], "batch": ["Transitioning"]}
    assert live_states(services, parts) == {
        "diabetes": "Failed",
        "diabetes-multi": "gone",
        "batch": "Transitioning",
        "other": "Healthy",
    }


def recorded(name: str) -> list:
    """A refresh preview's engine events as the engine writes them to its event log (one JSON
    object per line, read by the Automation API with EngineEvent.from_json). Azure cannot be
    reached from here, so these were written by hand in that format, with the outputs the
    azure-native and kubernetes providers record for a container group and a Deployment."""
    from pulumi.automation.events import EngineEvent

    lines = (DATA / name).read_text().splitlines()
    return [EngineEvent.from_json(json.loads(line)) for line in lines]


def test_an_aks_service_is_as_healthy_as_its_worst_version_in_a_refresh():
    parts = live_parts(recorded("refresh-aks-one-version-unhealthy.jsonl"))
    assert parts == {"diabetes": ["Healthy", "Unhealthy"], "diabetes-multi": ["Healthy"]}
    services = {"diabetes": {"state": "Healthy"}, "diabetes-multi": {"state": "Healthy"}}
    with pytest.raises(ModelstackError) as caught:
        refuse_unhealthy("staging", live_states(services, parts))
    assert caught.value.detail == "stack staging has services that are not Healthy: diabetes (Unhealthy)"


def test_a_stopped_or_deleted_aci_group_blocks_promotion():
    parts = live_parts(recorded("refresh-aci-stopped-and-gone.jsonl"))
    assert parts == {"diabetes": ["Unhealthy"], "diabetes-multi": ["gone"]}
    services = {"diabetes": {"state": "Healthy"}, "diabetes-multi": {"state": "Healthy"}}
    with pytest.raises(ModelstackError) as caught:
        refuse_unhealthy("dev", live_states(services, parts))
    assert (
        caught.value.detail
        == "stack dev has services that are not Healthy: diabetes (Unhealthy), diabetes-multi (gone)"
    )


def test_drift_on_recorded_azure_output_names_the_changed_fields():
    drifted = drift_from_events(recorded("refresh-aci-stopped-and-gone.jsonl"))
    assert drifted[0].fields["instanceView.state"] == ("Running", "Stopped")
    assert [(d.name, d.op, sorted(d.fields)) for d in drifted] == [
        ("diabetes-group", "update", ["instanceView.state"]),
        (
            "diabetes-multi-group",
            "delete",
            ["instanceView", "ipAddress", "location", "name", "osType", "provisioningState", "tags"],
        ),
    ]


# The engine's own words, as it printed them on this machine (pulumi 3.259.0) for a stack whose
# state names azure-native v3.29.0 while the plugin is not installed: with automatic plugin
# downloads off (local mode), and on (a user's shell) with no way to the download site.
NOT_FOUND = (
    "error: could not load provider for resource urn:pulumi:staging::modelstack::azure-native:resources:ResourceGroup::resource-group: "
    "could not create provider urn:pulumi:staging::modelstack::pulumi:providers:azure-native::default_3_29_0::prov-id: load plugin for "
    "azure-native provider 'urn:pulumi:staging::modelstack::pulumi:providers:azure-native::default_3_29_0': no resource plugin "
    "'pulumi-resource-azure-native' found in the workspace at version v3.29.0 or on your $PATH"
)
NOT_DOWNLOADED = (
    "error: could not load provider for resource urn:pulumi:staging::modelstack::azure-native:resources:ResourceGroup::resource-group: "
    "could not create provider urn:pulumi:staging::modelstack::pulumi:providers:azure-native::default_3_29_0::prov-id: load plugin for "
    "azure-native provider 'urn:pulumi:staging::modelstack::pulumi:providers:azure-native::default_3_29_0': Could not automatically "
    "download and install resource plugin 'pulumi-resource-azure-native' at version v3.29.0, install the plugin using `pulumi plugin "
    "install resource azure-native v3.29.0`: error downloading provider azure-native to file: failed to download plugin: azure-native-3.29.0: "
    "failed all 5 attempts"
)


@pytest.mark.parametrize("engine_said", [NOT_FOUND, NOT_DOWNLOADED], ids=["not-found", "not-downloaded"])
def test_a_missing_provider_plugin_is_named_with_the_pinned_version_and_the_install_command(engine_said):
    error = engine_failure(
        f"code: 255\n stdout: Previewing refresh (staging):\n\n stderr: {engine_said}\n",
        project_dir=REPO,
        stack="staging",
        command="drift",
    )
    assert str(error) == (
        "the Pulumi provider plugin azure-native v3.29.0 is not installed, so stack staging's live resources cannot be read\n"
        "  Rule: drift refreshes the stack through the provider plugins its resources were created with; the project pins "
        "pulumi-azure-native==3.29.0 (requirements.txt)\n"
        "  Fix: pulumi plugin install resource azure-native 3.29.0, then run `modelstack drift ...` again"
    )


def test_a_plugin_version_other_than_the_pin_is_told(tmp_path):
    (tmp_path / "requirements.txt").write_text("pulumi==3.259.0\npulumi-azure-native==3.30.0  # newer\n")
    error = engine_failure(NOT_FOUND, project_dir=tmp_path, stack="prod", command="promote", home="/p/home")
    assert error.rule is not None and error.rule.endswith(
        "the project pins pulumi-azure-native==3.30.0 (requirements.txt); the stack's state was written with v3.29.0"
    )
    assert (
        error.fix
        == "PULUMI_HOME=/p/home pulumi plugin install resource azure-native 3.29.0, then run `modelstack promote ...` again"
    )


def test_other_engine_failures_keep_the_engines_error_line():
    error = engine_failure(
        "code: 255\n stderr: warning: something\nerror: the stack is locked\n",
        project_dir=REPO,
        stack="dev",
        command="drift",
    )
    assert error.detail == "the engine failed while drift read stack dev: error: the stack is locked"


def test_promotion_refuses_unhealthy_services_and_names_them():
    refuse_unhealthy("staging", {"a": "Healthy"})
    with pytest.raises(ModelstackError) as caught:
        refuse_unhealthy("staging", {"diabetes": "Failed", "diabetes-multi": "Healthy"})
    assert str(caught.value) == (
        "stack staging has services that are not Healthy: diabetes (Failed)\n"
        "  Rule: only a release that runs Healthy is promoted\n"
        "  Fix: repair staging (`pulumi up --stack staging`), check it, then promote again"
    )


def test_references_must_be_by_digest():
    assert split_reference(f"localhost:5050/diabetes@{DIGEST}") == ("localhost:5050/diabetes", DIGEST)
    with pytest.raises(ModelstackError):
        split_reference("localhost:5050/diabetes:latest")


def test_pins_are_written_keeping_comments_and_order(tmp_path):
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(
        "# prod: the real thing\nconfig:\n  modelstack:location: westeurope  # EU only\n  modelstack:registry:\n    kind: local\n"
    )
    write_pins(
        stack_file,
        {
            "diabetes": {
                "image": f"localhost:5051/diabetes@{DIGEST}",
                "model_versions": {"m": "abc"},
                "source_stack": "staging",
            }
        },
    )
    text = stack_file.read_text()
    assert text.startswith("# prod: the real thing\nconfig:\n  modelstack:location: westeurope  # EU only\n")
    assert f"image: localhost:5051/diabetes@{DIGEST}" in text
    write_pins(stack_file, {"other": {"image": f"r/o@{DIGEST}"}})
    assert "diabetes" not in stack_file.read_text(), "a promotion replaces the whole release"


def test_a_pinned_stack_needs_no_model_files_and_plans_no_build(project):
    """A promoted release carries its models inside its image: the stage it lands in builds nothing."""
    from components.offline.evaluate import evaluate_stack

    pins = {
        name: {
            "image": f"localhost:5050/{name}@{DIGEST}",
            "model_versions": {"diabetes-ridge": "abc"},
            "source_stack": "staging",
        }
        for name in ("diabetes", "diabetes-multi")
    }
    project.write_stack("local", {"registry": {"kind": "local"}, "release": pins})
    for model in (project.root / "examples" / "diabetes" / "model").iterdir():
        model.unlink()
    config, plan = evaluate_stack("local", project.root)
    assert not [r for r in plan.resources if r.type.endswith(":ServiceImage")]
    assert plan.named("diabetes-local").inputs["image"] == pins["diabetes"]["image"]
    assert plan.outputs["services"]["diabetes"]["model_versions"] == {"diabetes-ridge": "abc"}


def test_an_unpinned_service_still_needs_its_model(project):
    from components.errors import ConfigErrors

    pins = {"diabetes": {"image": f"localhost:5050/diabetes@{DIGEST}"}}
    project.write_stack("local", {"registry": {"kind": "local"}, "release": pins})
    (project.root / "examples" / "diabetes" / "model" / "lasso.joblib").unlink()
    with pytest.raises(ConfigErrors) as caught:
        project.load("local")
    assert [e.key for e in caught.value.errors] == ["modelstack:models.diabetes-lasso.path"], (
        "diabetes-multi is built and serves the lasso model"
    )


def test_release_images_list_the_service_then_each_version():
    from components.commands.promote import release_images

    outputs = {
        "image": f"r/diabetes@{DIGEST}",
        "model_versions": {"diabetes-ridge": "r1"},
        "versions": {
            "ridge": {
                "image": f"r/diabetes@{DIGEST}",
                "model_versions": {"diabetes-ridge": "r1"},
                "traffic_percentile": 90,
            },
            "lasso": {
                "image": "r/diabetes@sha256:" + "cd" * 32,
                "model_versions": {"diabetes-lasso": "l1"},
                "traffic_percentile": 10,
            },
        },
    }
    assert release_images(outputs) == [
        (None, f"r/diabetes@{DIGEST}", {"diabetes-ridge": "r1"}),
        ("lasso", "r/diabetes@sha256:" + "cd" * 32, {"diabetes-lasso": "l1"}),
        ("ridge", f"r/diabetes@{DIGEST}", {"diabetes-ridge": "r1"}),
    ]
    assert release_images({"image": f"r/x@{DIGEST}"}) == [(None, f"r/x@{DIGEST}", {})]


VERSIONS = [
    {"version_name": "ridge", "is_default": True, "is_control_version_type": True, "traffic_percentile": 90},
    {"version_name": "lasso", "models": ["diabetes-lasso"], "traffic_percentile": 10},
]


def pinned_prod(project, release: dict) -> None:
    import yaml

    path = project.root / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["modelstack:services"]["diabetes"]["versions"] = VERSIONS
    document["config"]["modelstack:release"] = release
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_a_pinned_service_whose_version_has_its_own_models_needs_that_versions_pin(project):
    from components.errors import ConfigErrors

    pinned_prod(project, {"diabetes": {"image": f"r/diabetes@{DIGEST}"}})
    with pytest.raises(ConfigErrors) as caught:
        project.load("prod")
    assert [str(e) for e in caught.value.errors] == [
        "modelstack:release.diabetes.versions: version 'lasso' serves diabetes-lasso, and the release pins no image for it\n"
        "  Rule: a promoted service builds nothing: each version with models of its own runs the image the release pins for it\n"
        "  Fix: promote again from the stack that ran version 'lasso' (`modelstack promote`), or declare the version only after promoting a release that has it"
    ]


def test_a_pin_of_an_undeclared_version_is_refused(project):
    from components.errors import ConfigErrors

    versions = {"lasso": {"image": f"r/diabetes@{DIGEST}"}, "elastic": {"image": f"r/diabetes@{DIGEST}"}}
    pinned_prod(project, {"diabetes": {"image": f"r/diabetes@{DIGEST}", "versions": versions}})
    with pytest.raises(ConfigErrors) as caught:
        project.load("prod")
    assert [e.key for e in caught.value.errors] == ["modelstack:release.diabetes.versions.elastic"]


def test_a_version_pin_must_be_by_digest(project):
    from components.errors import ConfigErrors

    pinned_prod(
        project, {"diabetes": {"image": f"r/diabetes@{DIGEST}", "versions": {"lasso": {"image": "r/diabetes:latest"}}}}
    )
    with pytest.raises(ConfigErrors) as caught:
        project.load("prod")
    assert [e.key for e in caught.value.errors] == ["modelstack:release.diabetes.versions.lasso.image"]


def test_a_built_service_needs_the_model_files_of_its_versions(project):
    from components.errors import ConfigErrors

    pinned_prod(
        project, {"diabetes-multi": {"image": f"r/diabetes-multi@{DIGEST}"}}
    )  # not built: only diabetes's lasso version needs the file
    (project.root / "examples" / "diabetes" / "model" / "lasso.joblib").unlink()
    with pytest.raises(ConfigErrors) as caught:
        project.load("prod")
    assert [e.key for e in caught.value.errors] == ["modelstack:models.diabetes-lasso.path"]


def test_changed_fields_name_the_leaf_that_changed_and_skip_what_the_cluster_keeps():
    from components.commands.drift import KUBERNETES_BOOKKEEPING

    old = {
        "__inputs": {"spec": {"replicas": 1}},
        "metadata": {"name": "d", "resourceVersion": "1", "labels": {"a": "1"}},
        "spec": {"replicas": 1, "template": {"x": [1, 2]}},
        "status": {"readyReplicas": 1},
    }
    new = {
        "__inputs": {"spec": {"replicas": 2}},
        "metadata": {"name": "d", "resourceVersion": "9", "labels": {"a": "1", "b": "2"}},
        "spec": {"replicas": 2, "template": {"x": [1, 3]}},
        "status": {"readyReplicas": 2},
    }
    assert changed_fields(old, new, KUBERNETES_BOOKKEEPING) == {
        "metadata.labels.b": (None, "2"),
        "spec.replicas": (1, 2),
        "spec.template.x": ([1, 2], [1, 3]),
    }
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": {"primary_key": "a2V5"}}
    edited = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": {"primary_key": "ZWRpdGVk"},
    }
    assert changed_fields({"data": secret}, {"data": edited}) == {"data": ("[secret]", "[secret]")}


def test_kubernetes_drift_names_the_service_by_its_label_and_ignores_status_only_changes():
    from components.commands.drift import service_of

    assert service_of({"metadata": {"labels": {"app.kubernetes.io/name": "diabetes"}}}) == "diabetes"
    assert service_of({"service": "diabetes-multi", "state": "Healthy"}) == "diabetes-multi"
    assert service_of({"metadata": {"labels": {}}}) is None


def test_a_secret_changed_by_hand_is_drift_known_from_the_engines_diffs():
    """In the events of a refresh preview secrets read "[secret]" before and after; the engine's
    own `diffs` say that the Secret's data changed."""
    from pulumi.automation.events import EngineEvent

    labels = {"app.kubernetes.io/name": "diabetes"}
    # as the engine writes them: a secret keeps its marker, its value reads "[secret]"
    data = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "[secret]"}
    outputs: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "data": data,
        "metadata": {"name": "diabetes-keys", "labels": labels, "resourceVersion": "1"},
    }
    live = {**outputs, "metadata": {**outputs["metadata"], "resourceVersion": "2"}}
    event = EngineEvent.from_json(
        {
            "sequence": 1,
            "timestamp": 1,
            "resOutputsEvent": {
                "metadata": {
                    "op": "update",
                    "urn": "urn:pulumi:s::modelstack::kubernetes:core/v1:Secret::diabetes-keys",
                    "type": "kubernetes:core/v1:Secret",
                    "old": {"type": "kubernetes:core/v1:Secret", "urn": "u", "custom": True, "outputs": outputs},
                    "new": {"type": "kubernetes:core/v1:Secret", "urn": "u", "custom": True, "outputs": live},
                    "detailedDiff": {
                        "data.primary_key": {"diffKind": "update-replace", "inputDiff": False},
                        "metadata.resourceVersion": {"diffKind": "update", "inputDiff": False},
                    },
                    "provider": "",
                }
            },
        }
    )
    drifted = drift_from_events([event])
    assert [(d.name, d.service, d.fields) for d in drifted] == [
        ("diabetes-keys", "diabetes", {"data.primary_key": ("[secret]", "[secret]")})
    ]
