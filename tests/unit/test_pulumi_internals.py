"""components.pulumi_internals against the installed Pulumi SDK: each of its jobs, for real.

When the SDK is upgraded, these tests say first whether the internals still work the way
modelstack relies on them; the version test makes the upgrade a deliberate step.
"""

from __future__ import annotations

from importlib.metadata import version

import pulumi
import pytest

from components import pulumi_internals
from components.config.schema import StackConfig
from components.offline.evaluate import evaluate
from components.plan_values import SECRET_PLACEHOLDER, UNKNOWN_PLACEHOLDER, sanitize


def test_the_sdk_is_the_release_the_internals_were_checked_against():
    installed = version("pulumi")
    assert installed == pulumi_internals.TESTED_WITH, (
        f"the Pulumi SDK is {installed}, components/pulumi_internals.py was checked against {pulumi_internals.TESTED_WITH}: "
        "run tests/unit/test_pulumi_internals.py, fix what fails, then update TESTED_WITH"
    )


def test_engine_config_lists_every_key_of_a_namespace():
    pulumi.runtime.set_all_config(
        {
            "modelstack:services": '{"a": {"models": ["m"]}}',
            "modelstack:tagz": '"typo"',
            "modelstack:plain": "not json",
            "aws:region": "x",
        },
        [],
    )
    try:
        assert pulumi_internals.engine_config("modelstack") == {
            "services": {"a": {"models": ["m"]}},
            "tagz": "typo",
            "plain": "not json",
        }
    finally:
        pulumi.runtime.set_all_config({}, [])


class Thing(pulumi.CustomResource):
    def __init__(self, name, props, opts=None):
        super().__init__("test:index:Thing", name, props, opts)


def config(stack: str) -> StackConfig:
    return StackConfig(stack=stack, project_dir="/nonexistent")


def test_the_recording_monitor_sees_inputs_secrets_unknowns_and_options():
    def program(_):
        first = Thing("first", {"plain": "x", "secret": pulumi.Output.secret("s3cr3t"), "number": 2})
        Thing(
            "second",
            {"later": "y", "first_id": first.id},
            pulumi.ResourceOptions(ignore_changes=["plain"], replace_on_changes=["later"], delete_before_replace=True),
        )
        Thing("third", {"after": "z"}, pulumi.ResourceOptions(depends_on=[first]))

    plan = evaluate(config("internals"), program)
    first, second = plan.named("first"), plan.named("second")
    assert first.inputs == {"number": 2, "plain": "x", "secret": SECRET_PLACEHOLDER}
    assert sanitize(first.raw_inputs, reveal=True)["secret"] == {SECRET_PLACEHOLDER: "s3cr3t"}
    assert pulumi_internals.is_secret_wire(first.raw_inputs["secret"])
    first_urn = "urn:pulumi:internals::modelstack::pulumi:pulumi:Stack$test:index:Thing::first"
    # "second" waits for "first" through its input, "third" through depends_on
    assert second.options == {
        "ignore_changes": ["plain"],
        "replace_on_changes": ["later"],
        "delete_before_replace": True,
        "dependencies": [first_urn],
    }
    assert plan.named("third").options["dependencies"] == [first_urn]
    assert first.options["dependencies"] == []
    assert first.urn == "urn:pulumi:internals::modelstack::pulumi:pulumi:Stack$test:index:Thing::first"
    assert second.inputs["first_id"].startswith("first-"), "an id the mocks made up"


def test_unknowns_are_told_apart_from_values():
    assert pulumi_internals.is_unknown(pulumi_internals.UNKNOWN_WIRE_VALUE)
    assert not pulumi_internals.is_unknown("04da6b54-80e4-46f7-96ec-b56ff0331ba9x")
    assert sanitize({"a": pulumi_internals.UNKNOWN_WIRE_VALUE}) == {"a": UNKNOWN_PLACEHOLDER}


def test_each_evaluation_has_its_own_root_stack_and_outputs():
    def exporting(name):
        def program(_):
            Thing(name, {})
            pulumi.export(name, pulumi.Output.secret(f"{name}-value") if name == "two" else f"{name}-value")

        return program

    one = evaluate(config("one"), exporting("one"))
    two = evaluate(config("two"), exporting("two"))
    assert one.outputs == {"one": "one-value"}
    assert two.outputs == {"two": SECRET_PLACEHOLDER}, (
        "the second stack neither inherits the first's outputs nor shows a secret"
    )
    assert [r.parent for r in two.resources] == ["urn:pulumi:two::modelstack::pulumi:pulumi:Stack::modelstack-two"]


@pytest.mark.parametrize(
    "value, secret",
    [
        ({"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "x"}, True),
        ({"plain": 1}, False),
        ("text", False),
    ],
)
def test_secret_markers_of_the_wire_format(value, secret):
    assert pulumi_internals.is_secret_wire(value) is secret
