"""Values that crashed a command or were accepted though they cannot work: YAML values of types
the engine's config cannot carry (!!binary, !!set...), integers longer than Python converts in
YAML or JSON, a Pulumi.yaml without a usable name, a release pin naming an undeclared model, a
rollout share finer than the route's weights. Each is an error naming the key or the file, the
rule and the fix: exit 1, no traceback."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

LONG = "9" * 5000


def run(project, *args: str):
    from components.commands.cli import app

    return CliRunner().invoke(app, list(args), env={"MODELSTACK_PROJECT_DIR": str(project.root), "COLUMNS": "300"})


def refused(result, *said: str, code: int = 1) -> str:
    output = result.output
    assert result.exit_code == code, output
    assert "Traceback" not in output and result.exception is None or isinstance(result.exception, SystemExit)
    assert "Rule: " in output and "Fix: " in output, output
    for text in said:
        assert text in output, output
    return output


# --- YAML values the config cannot carry ------------------------------------------------------------


@pytest.mark.parametrize(
    "value, said",
    [
        ("!!binary aGVsbG8=", "a value tagged !!binary"),
        ("!!set {a, b}", "a value tagged !!set"),
        ("!!omap [a: 1]", "a value tagged !!omap"),
        ("!!timestamp 2026-12-07", "a value tagged !!timestamp"),
        (LONG, "an integer of more than 4,300 digits"),
    ],
)
def test_a_yaml_value_the_config_cannot_carry_is_named_at_its_line(project, value, said):
    path = project.root / "stacks" / "Pulumi.local.yaml"
    path.write_text(path.read_text().replace("config:\n", f"config:\n  modelstack:location: {value}\n", 1))
    output = refused(run(project, "check", "--stack", "local"), "Pulumi.local.yaml is not valid YAML at line", said)
    assert "Fix: remove the tag" in output or "Fix: write a shorter number" in output


def test_a_plain_date_stays_text_as_the_engine_reads_it():
    from components.config import reading

    assert reading.parse_yaml("a: 2026-12-07", "x.yaml", rule="r") == {"a": "2026-12-07"}


# --- JSON integers longer than Python converts -------------------------------------------------------


def test_plan_summary_with_a_5000_digit_count_is_an_error_not_a_traceback(project, tmp_path):
    preview = tmp_path / "preview.json"
    preview.write_text('{"steps": [], "changeSummary": {"create": ' + LONG + "}}")
    refused(
        run(project, "plan-summary", str(preview)),
        f"{preview} holds an integer of more than 4,300 digits",
        "JSON numbers are at most 4,300 digits long",
    )


def test_a_5000_digit_number_in_check_json_policies_is_an_error(project, tmp_path):
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps({"steps": []}))
    policies = tmp_path / "check.json"
    policies.write_text('{"violations": [], "count": ' + LONG + "}")
    refused(  # a file an option names is that option's: bad usage
        run(project, "plan-summary", str(preview), "--policies", str(policies)), "more than 4,300 digits", code=2
    )


# --- Pulumi.yaml's name --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, said", [(None, "missing"), ("name: 42", "42 (not text)"), ("name: a/b", "'a/b'"), ("name: ..", "'..'")]
)
def test_a_project_without_a_usable_name_is_refused(project, line, said):
    path = project.root / "Pulumi.yaml"
    lines = [x for x in path.read_text().splitlines() if not x.startswith("name:")]
    path.write_text("\n".join(([line] if line else []) + lines) + "\n")
    output = refused(run(project, "check", "--stack", "local"), f"Pulumi.yaml: name: the project's name is {said}")
    assert "Fix: write `name: modelstack`" in output


# --- release pins and rollout shares ---------------------------------------------------------------------

DIGEST = "sha256:" + "ab" * 32


def _prod(project, *, release: dict | None = None, versions: list | None = None) -> None:
    path = project.root / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    if versions is not None:
        document["config"]["modelstack:services"]["diabetes"]["versions"] = versions
    if release is not None:
        document["config"]["modelstack:release"] = release
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _errors(project) -> list:
    from components.errors import ConfigErrors

    with pytest.raises(ConfigErrors) as caught:
        project.load("prod")
    return caught.value.errors


def test_a_release_pin_naming_an_undeclared_model_is_refused(project):
    _prod(
        project,
        release={
            "diabetes": {"image": f"r/diabetes@{DIGEST}", "model_versions": {"diabetes-ridge": "a1", "ghost": "g1"}},
            "diabetes-multi": {
                "image": f"r/diabetes-multi@{DIGEST}",
                "versions": {},
                "model_versions": {"phantom": "p1"},
            },
        },
    )
    errors = _errors(project)
    assert [e.key for e in errors] == [
        "modelstack:release.diabetes.model_versions.ghost",
        "modelstack:release.diabetes-multi.model_versions.phantom",
    ]
    assert "pins a version of model 'ghost', which is not declared" in str(errors[0])
    assert "Fix: declare model 'ghost' under modelstack:models" in str(errors[0])


def test_a_release_pin_of_declared_models_passes(project):
    _prod(project, release={"diabetes": {"image": f"r/diabetes@{DIGEST}", "model_versions": {"diabetes-ridge": "a"}}})
    assert "diabetes" in project.load("prod").release


@pytest.mark.parametrize("share", [0.001, 12.345, 99.999])
def test_a_rollout_share_finer_than_the_routes_weights_is_refused(project, share):
    versions = [
        {"version_name": "ridge", "traffic_percentile": 100 - share, "is_control_version_type": True},
        {"version_name": "lasso", "traffic_percentile": share, "models": ["diabetes-lasso"]},
    ]
    _prod(project, versions=versions)
    errors = [e for e in _errors(project) if "hundredth" in str(e)]
    assert [e.key for e in errors] == [
        "modelstack:services.diabetes.versions[0].traffic_percentile",
        "modelstack:services.diabetes.versions[1].traffic_percentile",
    ]
    assert f"traffic_percentile {share} of version 'lasso' is finer than a hundredth of a percent" in str(errors[1])


@pytest.mark.parametrize("share", [0, 0.01, 12.5, 33.33])
def test_rollout_shares_in_hundredths_pass(project, share):
    versions = [
        {"version_name": "ridge", "traffic_percentile": round(100 - share, 2), "is_control_version_type": True},
        {"version_name": "lasso", "traffic_percentile": share, "models": ["diabetes-lasso"]},
    ]
    _prod(project, versions=versions)
    assert len(project.load("prod").services["diabetes"].versions) == 2
