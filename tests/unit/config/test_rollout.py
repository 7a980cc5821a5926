"""Controlled rollout as pure decisions: which versions run and the share each gets."""

from __future__ import annotations

from components.config.rollout import RolloutVersion, rollout_versions, workload_name
from components.config.schema import ServiceSpec


def service(versions: list[dict] | None = None) -> ServiceSpec:
    return ServiceSpec(models=["ridge"], entry_script="score.py", target="aks", compute="aks", versions=versions or [])


def shares(spec: ServiceSpec) -> dict[str, tuple[float, int]]:
    return {v.name: (v.percent, v.weight) for v in rollout_versions("diabetes", spec)}


def test_without_versions_one_implicit_version_takes_everything():
    [only] = rollout_versions("diabetes", service())
    assert only == RolloutVersion("diabetes", ("ridge",), 100.0, True, True, False)
    assert only.weight == 10000 and workload_name("diabetes", only) == "diabetes"


def test_unassigned_traffic_goes_to_the_first_version_by_default():
    spec = service(
        [{"version_name": "blue", "traffic_percentile": 20}, {"version_name": "green", "traffic_percentile": 30}]
    )
    assert shares(spec) == {"blue": (70.0, 7000), "green": (30.0, 3000)}


def test_unassigned_traffic_goes_to_the_version_marked_default():
    spec = service(
        [
            {"version_name": "blue", "traffic_percentile": 20},
            {"version_name": "green", "traffic_percentile": 30, "is_default": True},
        ]
    )
    assert shares(spec) == {"blue": (20.0, 2000), "green": (80.0, 8000)}


def test_decimals_survive_as_weights():
    spec = service(
        [{"version_name": "blue", "traffic_percentile": 87.5}, {"version_name": "green", "traffic_percentile": 12.5}]
    )
    assert shares(spec) == {"blue": (87.5, 8750), "green": (12.5, 1250)}


def test_a_version_serves_its_own_models_or_the_services():
    spec = service([{"version_name": "blue"}, {"version_name": "green", "models": ["lasso"]}])
    blue, green = rollout_versions("diabetes", spec)
    assert (blue.models, green.models) == (("ridge",), ("lasso",))
    assert (workload_name("diabetes", blue), workload_name("diabetes", green)) == ("diabetes-blue", "diabetes-green")


def test_over_100_never_gives_negative_weights():
    # The rules refuse it; a program evaluated anyway (check reports rule errors with the plan) must not break.
    spec = service(
        [{"version_name": "blue", "traffic_percentile": 80}, {"version_name": "green", "traffic_percentile": 40}]
    )
    assert shares(spec) == {"blue": (80.0, 8000), "green": (40.0, 4000)}
