"""Configuration: merging, typed parsing and every user-facing error, pinned by message."""

from __future__ import annotations

import pytest

from components.config.merge import deep_merge, merged_values
from components.errors import ConfigError, ConfigErrors


def errors_of(project, stack_config: dict | None = None, raw: str | None = None) -> list[str]:
    path = project.root / "stacks" / "Pulumi.local.yaml"
    if raw is not None:
        path.write_text(raw)
    else:
        project.write_stack("local", stack_config)
    with pytest.raises((ConfigErrors, ConfigError)) as caught:
        project.load("local")
    error = caught.value
    return [str(e) for e in error.errors] if isinstance(error, ConfigErrors) else [str(error)]


def test_deep_merge_merges_mappings_replaces_the_rest_and_none_removes():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "gone": {"k": 1}}
    override = {"a": {"y": [3], "z": 2}, "gone": None, "c": 3}
    assert deep_merge(base, override) == {"a": {"x": 1, "y": [3], "z": 2}, "b": 1, "c": 3}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1, "gone": {"k": 1}}, "the inputs are not modified"


def test_only_shared_keys_are_merged_other_keys_replace():
    shared = {"services": {"s": {"target": "local", "models": ["m"]}}, "registry": {"kind": "local", "port": 1}}
    stack = {"services": {"s": {"target": "aci"}}, "registry": {"kind": "acr"}}
    merged = merged_values(shared, stack)
    assert merged["services"] == {"s": {"target": "aci", "models": ["m"]}}
    assert merged["registry"] == {"kind": "acr"}


def test_services_are_declared_once_and_a_stack_overrides_what_differs(project):
    config = project.load("local")
    diabetes = config.services["diabetes"]
    assert diabetes.entry_script == "score.py", "from Pulumi.yaml"
    assert diabetes.deploy.port == 6789, "from stacks/Pulumi.local.yaml"
    assert config.services["diabetes-multi"].deploy.port is None
    assert config.registry.kind == "local" and config.registry.port == 5050


def test_each_stack_file_is_read_for_its_own_stack(project):
    project.write_stack("staging2", {"registry": {"kind": "local", "port": 5999}})
    assert project.load("staging2").registry.port == 5999


def test_unknown_key_suggests_the_closest_known_one(project):
    assert errors_of(project, {"services": {"diabetes": {"entry_scrpt": "x.py"}}}) == [
        "modelstack:services.diabetes.entry_scrpt: unknown key\n"
        "  Rule: only documented keys are accepted (docs/configuration.md)\n"
        "  Fix: did you mean 'entry_script'? Rename it"
    ]


def test_unknown_top_level_key_suggests_the_closest_known_one(project):
    assert errors_of(project, {"servics": {}}) == [
        "modelstack:servics: unknown key\n"
        "  Rule: only documented keys are accepted (docs/configuration.md)\n"
        "  Fix: did you mean 'modelstack:services'? Rename it"
    ]


def test_missing_entry_script(project):
    assert errors_of(project, {"services": {"diabetes": {"entry_script": "nope.py"}}}) == [
        "modelstack:services.diabetes.entry_script: entry script 'nope.py' does not exist inside source_directory 'examples/diabetes/src'\n"
        "  Rule: entry_script is a Python file with init() and run(); it is relative to source_directory when one is given\n"
        "  Fix: create the script, or correct the path"
    ]


def test_missing_model_path(project):
    assert errors_of(project, {"models": {"diabetes-ridge": {"path": "nowhere/model.pkl"}}}) == [
        "modelstack:models.diabetes-ridge.path: model path 'nowhere/model.pkl' does not exist\n"
        "  Rule: a model is a file or folder inside the project (paths are relative to Pulumi.yaml's folder)\n"
        "  Fix: train or copy the model to nowhere/model.pkl, or correct the path"
    ]


def test_malformed_yaml_points_at_the_line(project):
    raw = "config:\n  modelstack:registry:\n    kind: local\n   port: 5\n"
    assert errors_of(project, raw=raw) == [
        "Pulumi.local.yaml is not valid YAML at line 4, column 4: expected <block end>, but found '<block mapping start>'\n"
        "  Rule: stack and project files are YAML mappings\n"
        "  Fix: fix the indentation or quoting at that line"
    ]


@pytest.mark.parametrize("port, rule", [(0, "must be at least 1"), (70000, "must be at most 65535")])
def test_port_out_of_range(project, port, rule):
    assert errors_of(project, {"services": {"diabetes": {"deploy": {"port": port}}}}) == [
        f"modelstack:services.diabetes.deploy.port: is {port}\n"
        f"  Rule: {rule}\n"
        f"  Fix: set modelstack:services.diabetes.deploy.port to a value that {rule.replace('must be', 'is')}"
    ]


def test_parameter_of_another_target_is_named_as_such(project):
    assert errors_of(project, {"services": {"diabetes": {"deploy": {"autoscale_enabled": True}}}}) == [
        "modelstack:services.diabetes.deploy.autoscale_enabled: unknown key\n"
        "  Rule: 'autoscale_enabled' is a deploy parameter of target aks and kubernetes, not of target 'local'\n"
        "  Fix: remove 'autoscale_enabled', or change the service's target"
    ]


def test_unknown_target(project):
    assert errors_of(project, {"services": {"diabetes": {"target": "gke"}}}) == [
        "modelstack:services.diabetes.target: is 'gke'\n"
        "  Rule: must be one of 'local', 'aci', 'aks', 'kubernetes' or 'aca'\n"
        "  Fix: set it to one of 'local', 'aci', 'aks', 'kubernetes' or 'aca'"
    ]


def test_unknown_model_suggests_a_declared_one(project):
    assert errors_of(project, {"services": {"diabetes": {"models": ["diabetes-ridg"]}}}) == [
        "modelstack:services.diabetes.models[0]: names model 'diabetes-ridg', which is not declared\n"
        "  Rule: a service serves models declared under modelstack:models\n"
        "  Fix: did you mean 'diabetes-ridge'?"
    ]


def test_plain_text_secret_is_refused_with_the_command_that_fixes_it(project):
    stack = {
        "clusters": {"aks-prod": {}},
        "services": {"diabetes": {"target": "aks", "compute": "aks-prod", "deploy": {"primary_key": "abc"}}},
    }
    assert (
        "modelstack:services.diabetes.deploy.primary_key: holds a plain-text secret\n"
        "  Rule: keys, passwords and connection strings are Pulumi secrets, encrypted in the stack file\n"
        "  Fix: pulumi config set --secret --path 'modelstack:services.diabetes.deploy.primary_key' <value>  (and delete the plain value)"
        in errors_of(project, stack)
    )


def test_secure_value_is_accepted_and_never_shown(project):
    path = project.root / "stacks" / "Pulumi.local.yaml"
    path.write_text(
        "config:\n  modelstack:registry:\n    kind: acr\n  modelstack:clusters:\n    aks-prod: {}\n  modelstack:services:\n    diabetes:\n      target: aks\n      compute: aks-prod\n"
        "      deploy:\n        primary_key:\n          secure: v1:abcdefgh:ijklmnop\n"
    )
    config = project.load("local")
    key = config.services["diabetes"].deploy.primary_key
    assert "abcdefgh" not in repr(config) and "abcdefgh" not in str(key)


def test_all_errors_are_reported_at_once(project):
    messages = errors_of(
        project, {"services": {"diabetes": {"entry_scrpt": "x.py", "deploy": {"port": 0}}}, "servics": {}}
    )
    assert len(messages) == 3, messages


def test_missing_stack_file_names_the_stacks_there_are(project):
    with pytest.raises(ConfigError) as caught:
        project.load("qa")
    assert str(caught.value).endswith(
        "Rule: every stack has its own file stacks/Pulumi.<stack>.yaml\n"
        "  Fix: create Pulumi.qa.yaml (copy stacks/Pulumi.local.yaml), or pick one of: local, dev, staging, prod"
    )
