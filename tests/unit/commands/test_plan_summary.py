"""plan-summary on recorded `pulumi preview --json` documents: golden markdown, cost, limits, secrets."""

from __future__ import annotations

import copy
import json

import pytest

from components.commands.plan_summary import COMMENT_LIMIT, load_preview, monthly_cost, render, service_prices
from components.config.vm_sizes import find
from components.errors import ModelstackError
from tests.workspace import REPO

FIXTURES = REPO / "tests" / "fixtures" / "preview"


def test_create_plan_golden(golden):
    golden("plan-summary-create.md", render(load_preview(str(FIXTURES / "create-local.json"))))


def test_replacement_plan_golden_with_policies(golden):
    violations = [
        {
            "policy": "promoted-release-in-production",
            "enforcement": "advisory",
            "resource": "urn:pulumi:rec::modelstack::modelstack:webservice:Webservice::diabetes",
            "message": "service diabetes builds its own image | promote it.",
        }
    ]
    golden("plan-summary-replace.md", render(load_preview(str(FIXTURES / "replace-model.json")), policies=violations))


def test_replacements_are_called_out_with_their_reasons():
    text = render(load_preview(str(FIXTURES / "replace-model.json")))
    assert "- `diabetes-local` (LocalWebservice, service diabetes): replaced because `image` changed" in text
    assert "| replace | 4 |" in text


def prod_preview(project) -> dict:
    """A preview document for the prod stack, made from its offline plan in the engine's format."""
    from components.offline.evaluate import evaluate_stack

    _, plan = evaluate_stack("prod", project.root)
    steps = [
        {
            "op": "create",
            "urn": r.urn,
            "newState": {"urn": r.urn, "type": r.type, "inputs": r.inputs, "parent": r.parent},
        }
        for r in plan.resources
    ]
    return {"steps": steps, "changeSummary": {"create": len(steps)}}


def catalogue_price(vm_size: str) -> float:
    """The hourly price the VM size catalogue gives `vm_size` (these tests use sizes that have one)."""
    size = find(vm_size)
    assert size is not None and size.price_per_hour is not None, f"{vm_size} has a price in the catalogue"
    return size.price_per_hour


def test_cost_of_the_prod_stack_from_the_catalogue(project):
    text = render(prod_preview(project))
    prices = service_prices()
    vm = catalogue_price("Standard_D4s_v5")
    expected = (
        3 * vm * 730
        + prices["aks_control_plane_per_hour"]["Standard"] * 730
        + prices["container_registry_per_day"]["Premium"] * 730 / 24
    )
    assert f"${expected:,.2f} after this change, $0.00 before: **+${expected:,.2f}** per month." in text
    assert "as of 2023-06-26" in text and "as of 2024" in text, "the price tables' dates are stated"


def test_cost_delta_of_a_resized_cluster():
    def pool(count):
        return {
            "type": "azure-native:containerservice:ManagedCluster",
            "inputs": {"agentPoolProfiles": [{"count": count, "vmSize": "Standard_D3_v2"}], "sku": {"tier": "Free"}},
        }

    document = {
        "steps": [
            {
                "op": "update",
                "urn": "urn:pulumi:prod::p::azure-native:containerservice:ManagedCluster::aks",
                "oldState": pool(3),
                "newState": pool(4),
                "diffReasons": ["agentPoolProfiles"],
            }
        ]
    }
    one_node = catalogue_price("Standard_D3_v2") * 730
    assert f"**+${one_node:,.2f}** per month" in render(document)


def test_unknown_prices_are_named_not_guessed():
    cost = monthly_cost(
        "azure-native:containerinstance:ContainerGroup",
        "diabetes-aci",
        {"containers": [{"resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}}}]},
    )
    assert (cost.amount, cost.unknown) == (0.0, ["diabetes-aci (ACI)"])


def test_thousands_of_steps_stay_under_the_comment_limit_and_keep_the_totals():
    base = load_preview(str(FIXTURES / "replace-model.json"))
    template = next(s for s in base["steps"] if s["op"] == "replace")
    steps = []
    for i in range(5000):
        step = copy.deepcopy(template)
        step["urn"] = step["urn"].replace("diabetes-image", f"service-{i:04d}-image")
        steps.append(step)
    text = render({"steps": steps, "changeSummary": {"replace": 5000}})
    assert len(text) < COMMENT_LIMIT
    assert "| replace | 5000 |" in text
    assert "more changed resource(s) left out to stay under GitHub's 65,536-character comment limit" in text


def test_secret_values_never_reach_the_comment():
    base = load_preview(str(FIXTURES / "replace-model.json"))
    step = copy.deepcopy(next(s for s in base["steps"] if s["op"] == "replace"))
    step["newState"]["inputs"]["base_image_password"] = "hunter2-plain"
    step["detailedDiff"] = {"base_image_password": {"kind": "update"}}
    text = render({"steps": [step]})
    assert "hunter2" not in text


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "is not JSON"),
        (json.dumps({"resources": []}), "has no 'steps'"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "preview.json"
    path.write_text(content)
    with pytest.raises(ModelstackError) as caught:
        load_preview(str(path))
    assert message in str(caught.value) and "Fix:" in str(caught.value)
