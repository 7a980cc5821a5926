"""The pure parts of drift and promote: changed fields, live states, refusals, pins in files."""

from __future__ import annotations

import pytest

from components.commands.drift import Drifted, changed_fields
from components.errors import ModelstackError
from components.commands.promote import live_states, refuse_unhealthy, split_reference, write_pins

DIGEST = "sha256:" + "ab" * 32


def test_changed_fields_mask_secrets_and_skip_the_provider():
    old = {"state": "Healthy", "key": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "k1"}, "__provider": "a"}
    new = {"state": "Failed", "key": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "k2"}, "__provider": "b"}
    assert changed_fields(old, new) == {"key": ("[secret]", "[secret]"), "state": ("Healthy", "Failed")}


def test_live_states_take_what_the_refresh_found():
    services = {"diabetes": {"state": "Healthy"}, "diabetes-multi": {"state": "Healthy"}, "batch": {}}
    drifted = [Drifted("urn:a", "t", "diabetes-local", "update", {"state": ("Healthy", "Failed")}, "diabetes"), Drifted("urn:b", "t", "diabetes-multi-local", "delete", {}, "diabetes-multi")]
    assert live_states(services, drifted) == {"diabetes": "Failed", "diabetes-multi": "gone", "batch": "not deployed"}


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
    stack_file.write_text("# prod: the real thing\nconfig:\n  modelstack:location: westeurope  # EU only\n  modelstack:registry:\n    kind: local\n")
    write_pins(stack_file, {"diabetes": {"image": f"localhost:5051/diabetes@{DIGEST}", "model_versions": {"m": "abc"}, "source_stack": "staging"}})
    text = stack_file.read_text()
    assert text.startswith("# prod: the real thing\nconfig:\n  modelstack:location: westeurope  # EU only\n")
    assert f"image: localhost:5051/diabetes@{DIGEST}" in text
    write_pins(stack_file, {"other": {"image": f"r/o@{DIGEST}"}})
    assert "diabetes" not in stack_file.read_text(), "a promotion replaces the whole release"


def test_a_pinned_stack_needs_no_model_files_and_plans_no_build(project):
    """A promoted release carries its models inside its image: the stage it lands in builds nothing."""
    from components.offline.evaluate import evaluate_stack

    pins = {name: {"image": f"localhost:5050/{name}@{DIGEST}", "model_versions": {"diabetes-ridge": "abc"}, "source_stack": "staging"} for name in ("diabetes", "diabetes-multi")}
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
    assert [e.key for e in caught.value.errors] == ["modelstack:models.diabetes-lasso.path"], "diabetes-multi is built and serves the lasso model"
