"""Evaluate a stack offline: the real program under Pulumi's mock runtime.

No engine, no cloud credentials, no Docker: config is read from the project and stack files
(secrets stay encrypted), the program declares its resources, and every registration is
recorded with its type, name, parent and inputs. This is what `modelstack check` prints
and what the unit tests assert on.

The mocks only stand in for what a cloud or a daemon would compute (ids, a registry's
login server, an image digest); they never change the inputs the program sends.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

from components import pulumi_internals
from components.config.load import engine_values_from_files, find_project_dir, load_from_engine
from components.config.reading import UnreadableFileError
from components.config.schema import NAMESPACE, StackConfig
from components.errors import ConfigError, ConfigErrors
from components.plan_values import sanitize
from components.targets import registry
from components.targets.azure import mocks as azure_mocks

# Generated keys under the mock runtime start with this, so tests can tell them from given ones.
MOCK_KEY_PREFIX = "mockkey"


def _stable_id(args: pulumi_mocks.MockResourceArgs) -> str:
    return hashlib.sha256(f"{args.typ}::{args.name}".encode()).hexdigest()[:12]


def _random_password(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    """A generated key: derived from the resource's name, so plans are stable; never real."""
    length = int(args.inputs.get("length", 32))
    return {"result": (MOCK_KEY_PREFIX + hashlib.sha256(args.name.encode()).hexdigest())[:length]}


# What the image's dynamic resources and the generated keys compute (every target uses them).
# Types without an answer echo their inputs.
_SHARED = SimpleNamespace(
    MOCK_OUTPUTS={
        "pulumi-python:dynamic/modelstack:LocalRegistry": lambda a: {
            "address": f"localhost:{int(a.inputs['port'])}",
            "running": True,
        },
        # The digest exists once the image is pushed, so a plan cannot know it.
        "pulumi-python:dynamic/modelstack:ServiceImage": lambda a: {
            "digest": pulumi_internals.UNKNOWN_WIRE_VALUE,
            "image": pulumi_internals.UNKNOWN_WIRE_VALUE,
        },
        "random:index/randomPassword:RandomPassword": _random_password,
    }
)
# What a resource's provider would compute, by type token, and what provider functions (invokes)
# would return, by token: these, the Azure platform's, then each target's for its own types. Each
# function gets the mock args and returns outputs to add to the inputs.
MOCK_OUTPUTS, MOCK_CALLS = registry.mock_answers({__name__: _SHARED, azure_mocks.__name__: azure_mocks})


class OfflineMocks(pulumi.runtime.Mocks):
    """One mock for every provider the program uses, keyed by resource type."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        outputs = dict(args.inputs)
        compute = MOCK_OUTPUTS.get(args.typ)
        computed = compute(args) if compute is not None else {}
        outputs.update(computed)
        # A provider's own id when the table gives one (an Azure resource id), else a stable one.
        return computed.get("id") or f"{args.name}-{_stable_id(args)}", outputs

    def call(self, args: pulumi_mocks.MockCallArgs):
        compute = MOCK_CALLS.get(args.token)
        return compute(args) if compute is not None else {}


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    # As registered, secrets still marked; `inputs` is this sanitized (what `check` shows).
    raw_inputs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # ignore_changes, replace_on_changes, delete_before_replace: what the engine gets besides inputs.
    options: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
        }


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [r.as_json() for r in sorted(self.resources, key=lambda r: r.urn)],
            "outputs": self.outputs,
        }

    def by_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> PlannedResource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}; names: {sorted(r.name for r in self.resources)}")
        return matches[0]


def evaluate(config: StackConfig, program: Callable[[StackConfig], Any] | None = None) -> Plan:
    """Run the program for a loaded config under the mock runtime; returns what it declared."""
    from components.program import declare_stack

    plan = Plan(config.stack)

    def record(
        urn: str,
        type_: str,
        name: str,
        parent: str | None,
        custom: bool,
        inputs: dict[str, Any],
        options: dict[str, Any],
    ) -> None:
        plan.resources.append(
            PlannedResource(urn, type_, name, parent, custom, sanitize(inputs), raw_inputs=inputs, options=options)
        )

    monitor = pulumi_internals.RecordingMonitor(
        OfflineMocks(), project=NAMESPACE, stack=config.stack, on_register=record
    )
    pulumi_internals.reset_root_resource()
    pulumi.runtime.set_mocks(OfflineMocks(), project=NAMESPACE, stack=config.stack, preview=False, monitor=monitor)
    run = program or declare_stack

    @pulumi.runtime.test
    def _declare():
        run(config)

    _declare()
    plan.outputs = sanitize(pulumi_internals.root_stack_outputs())
    return plan


def evaluate_stack(
    stack: str, project_dir: Path | None = None, rule_errors: list[ConfigError] | None = None
) -> tuple[StackConfig, Plan]:
    """Load a stack's config from its files as the engine would hand it over, and evaluate it.

    With `rule_errors`, a stack that is well typed but breaks cross-field rules is still
    evaluated (the errors are appended to the list), so that `check` reports rule errors and
    policy violations together. If the program cannot run on such a config, the rule errors
    are raised instead.
    """
    project_dir = project_dir or find_project_dir()
    values, secret_keys = engine_values_from_files(stack, project_dir)
    pulumi.runtime.set_all_config(values, secret_keys)
    config = load_from_engine(stack, project_dir, deferred=rule_errors)
    if not rule_errors:
        return config, evaluate(config)
    if any(isinstance(error, UnreadableFileError) for error in rule_errors):
        # the program would read that file or folder (a fifo, /dev/zero): it is not run
        raise ConfigErrors(list(rule_errors))
    try:
        return config, evaluate(config)
    except Exception:  # the program needs what the rules found missing: report the rules
        raise ConfigErrors(list(rule_errors)) from None


def plan_json(plan: Plan) -> str:
    """The plan as `check --json` prints it: sorted keys, stable order, byte-identical per input."""
    return json.dumps(plan.as_json(), indent=2, sort_keys=True) + "\n"
