"""The reference in docs/ names everything a user can set: every configuration key the schema
accepts appears in docs/configuration.md, and every command and option of `modelstack` in
docs/commands.md. A key or flag added without its documentation fails here."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import typer
import typer.core
from pydantic import BaseModel

from components.commands.cli import app
from components.config.schema import StackConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Fields the loader fills in itself; no stack file sets them.
NOT_USER_KEYS = {"stack", "project_dir"}


def _models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold: itself, Union members, list items, dict values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def config_keys(model: type[BaseModel] = StackConfig, seen: set | None = None) -> dict[str, str]:
    """Every field name of the configuration, with the model that declares it."""
    seen = set() if seen is None else seen
    keys: dict[str, str] = {}
    if model in seen:
        return keys
    seen.add(model)
    for name, field in model.model_fields.items():
        if model is StackConfig and name in NOT_USER_KEYS:
            continue
        keys.setdefault(name, model.__name__)
        for inner in _models_in(field.annotation):
            keys.update({k: v for k, v in config_keys(inner, seen).items() if k not in keys})
    return keys


def undocumented(names: dict[str, str], text: str) -> list[str]:
    """The names no code span of the text mentions as a word (`name`, `name.<key>`, `name: x`)."""
    spans = " ".join(re.findall(r"`([^`\n]+)`", text))
    return sorted(
        f"{name} ({owner})" for name, owner in names.items() if not re.search(rf"(?<![\w-]){name}(?![\w-])", spans)
    )


def test_every_config_key_is_in_the_configuration_reference():
    keys = config_keys()
    # The walk reaches the nested models (deploy parameters, clusters, versions), not only the top.
    nested = {"models", "services", "entry_script", "autoscale_max_replicas", "port", "attach", "version_name"}
    assert nested <= set(keys)
    missing = undocumented(keys, (DOCS / "configuration.md").read_text())
    assert not missing, "keys missing from docs/configuration.md (write them as `key`): " + ", ".join(missing)


def cli_names() -> dict[str, str]:
    """Every command name and long option of `modelstack`, with the command it belongs to."""
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup), "modelstack is a group of commands"
    names = {}

    def add(command_name: str, command) -> None:
        names[f"modelstack {command_name}"] = command_name
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help":
                    names[opt] = command_name
        for sub_name, sub in getattr(command, "commands", {}).items():  # a group's commands (`lock status`)
            add(f"{command_name} {sub_name}", sub)

    for command_name, command in group.commands.items():
        add(command_name, command)
    return names


def test_every_command_and_option_is_in_the_commands_reference():
    names = cli_names()
    assert "modelstack check" in names and "--stack" in names and "modelstack lock take-over" in names
    text = (DOCS / "commands.md").read_text()
    missing = sorted(f"{name} ({command})" for name, command in names.items() if name not in text)
    assert not missing, "missing from docs/commands.md: " + ", ".join(missing)


def test_an_undocumented_key_is_caught():
    class Inner(BaseModel):
        documented_key: int = 0
        secret_new_key: int = 0

    class Outer(BaseModel):
        inner: dict[str, Inner] | None = None

    keys = config_keys(Outer)
    assert keys == {"inner": "Outer", "documented_key": "Inner", "secret_new_key": "Inner"}
    assert undocumented(keys, "`inner.<name>` holds `documented_key: 1`; secret_new_key") == ["secret_new_key (Inner)"]
    # a longer key that contains a name does not document it
    assert undocumented({"port": "X"}, "`http_port` and `port-forward`") == ["port (X)"]
