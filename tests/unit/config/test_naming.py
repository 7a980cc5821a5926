"""Names and tags: derived names never collide across stacks and fit Azure's limits; names a
user writes are checked with messages pinned here."""

from __future__ import annotations

import pytest

from components.config import naming
from components.config.schema import AcrRegistrySpec
from components.errors import ConfigErrors

SUBSCRIPTION = "00000000-0000-0000-0000-00000000aaaa"


def test_derived_names_contain_project_and_stack():
    assert naming.resource_group_name("modelstack", "prod") == "rg-modelstack-prod"
    assert naming.cluster_resource_name("modelstack", "prod", "aks-prod") == "modelstack-prod-aks-prod"
    assert naming.dns_prefix("modelstack", "prod", "aks-prod") == "modelstack-prod-aks-prod"
    assert naming.container_group_name("modelstack", "dev", "diabetes") == "modelstack-dev-diabetes"
    assert naming.aci_dns_label("dev", "diabetes") == "diabetes-dev"
    assert naming.identity_name("modelstack", "dev", "aci-pull") == "modelstack-dev-aci-pull"


def test_two_stacks_never_share_a_name():
    for derive in (
        naming.resource_group_name,
        lambda p, s: naming.cluster_resource_name(p, s, "aks"),
        lambda p, s: naming.registry_name(p, s, SUBSCRIPTION),
    ):
        assert derive("modelstack", "staging") != derive("modelstack", "prod")
        assert derive("modelstack", "prod") != derive("other-project", "prod")


def test_registry_name_is_alphanumeric_stable_and_unique_per_subscription():
    name = naming.registry_name("modelstack", "prod", SUBSCRIPTION)
    assert name == "modelstackprod66885afe"
    assert naming.REGISTRY_NAME.match(name)
    assert name == naming.registry_name("modelstack", "prod", SUBSCRIPTION), "stable for a stack"
    assert name != naming.registry_name("modelstack", "prod", "11111111-0000-0000-0000-00000000aaaa"), (
        "someone else's subscription gets another name"
    )


def test_long_names_are_cut_to_azure_limits_and_stay_distinct():
    long_stack = "a-very-long-stack-name-for-a-feature-branch"
    cluster = naming.cluster_resource_name("modelstack", long_stack, "a-cluster-name-that-is-long")
    assert cluster == "modelstack-a-very-long-stack-name-for-a-feature-branch-a-4c0b63" and len(cluster) == 63
    assert cluster != naming.cluster_resource_name("modelstack", long_stack, "a-cluster-name-that-is-longer")
    assert len(naming.dns_prefix("x" * 40, "y" * 20, "z")) <= 54
    registry = naming.registry_name("My-Project_with.a.long.name.that.goes.on.and.on", "feature-branch-123", "s")
    assert naming.REGISTRY_NAME.match(registry) and len(registry) == 50


def test_stack_tags_merge_the_users_with_ours_and_ours_win():
    assert naming.stack_tags("modelstack", "prod", {"cost-center": "ml", "modelstack-stack": "mine"}) == {
        "cost-center": "ml",
        "managed-by": "modelstack",
        "modelstack-project": "modelstack",
        "modelstack-stack": "prod",
    }
    assert naming.merge_tags({"b": "1"}, None, {"a": "2", "b": "3"}) == {"a": "2", "b": "3"}
    assert list(naming.merge_tags({"b": "1", "a": "2"})) == ["a", "b"], "sorted, so plans are stable"


def test_registry_name_rule():
    [error] = naming.check_registry_name(AcrRegistrySpec(kind="acr", name="my-registry"))
    assert str(error) == (
        "modelstack:registry.name: registry name 'my-registry' is not allowed\n"
        "  Rule: container registry names are 5-50 letters and digits (no '-', '_' or '.') and unique across all of Azure\n"
        "  Fix: use e.g. 'myregistry', or remove name to let modelstack derive a unique one from project, stack and subscription"
    )
    assert naming.check_registry_name(AcrRegistrySpec(kind="acr", name="ms1")), "too short"
    assert naming.check_registry_name(AcrRegistrySpec(kind="acr", name="a" * 51)), "too long"
    assert not naming.check_registry_name(AcrRegistrySpec(kind="acr", name="modelstackprod01"))
    assert not naming.check_registry_name(AcrRegistrySpec(kind="acr"))


def test_resource_group_name_rule():
    [error] = naming.check_resource_group_name("rg-models.")
    assert str(error) == (
        "modelstack:resource_group: resource group name 'rg-models.' is not allowed\n"
        "  Rule: resource group names are 1-90 letters, digits, '_', '-', '.', '(' and ')', not ending with '.'\n"
        "  Fix: rename it, or remove resource_group to use the derived name rg-<project>-<stack>"
    )
    assert naming.check_resource_group_name("rg with space")
    assert naming.check_resource_group_name("r" * 91)
    assert not naming.check_resource_group_name("rg-Models_(prod).eu")


def test_dns_label_rule():
    error = naming.dns_label_error(
        "Diabetes_Prod", "modelstack:clusters.aks-prod.leaf_domain_label", "leaf_domain_label"
    )
    assert str(error) == (
        "modelstack:clusters.aks-prod.leaf_domain_label: leaf_domain_label 'Diabetes_Prod' is not a valid DNS label\n"
        "  Rule: a DNS label is 3-63 lowercase letters, digits and '-', starting with a letter and not ending with '-'\n"
        "  Fix: use e.g. 'diabetes-prod'"
    )
    assert str(naming.dns_label_error("1-2", "k", "dns_name_label")).endswith(
        "Fix: use lowercase letters, digits and '-', starting with a letter"
    )
    assert naming.dns_label_error("diabetes-prod", "k", "x") is None


def test_tag_rules():
    errors = [str(e) for e in naming.check_tags({"owner/team": "ml", "managed-by": "me", "note": "x" * 257})]
    assert errors == [
        "modelstack:tags.owner/team: tag name 'owner/team' contains /\n"
        "  Rule: Azure tag names cannot contain < > % & \\ ? /\n"
        "  Fix: rename the tag",
        "modelstack:tags.managed-by: tag 'managed-by' is set by modelstack\n"
        "  Rule: managed-by, modelstack-project, modelstack-stack identify the project and stack of every resource\n"
        "  Fix: use another tag name",
        "modelstack:tags.note: tag value is 257 characters long\n"
        "  Rule: Azure tag values are at most 256 characters\n"
        "  Fix: shorten the value",
    ]
    [too_many] = naming.check_tags({f"t{i}": "v" for i in range(48)})
    assert str(too_many) == (
        "modelstack:tags: 48 tags are set\n"
        "  Rule: an Azure resource has at most 50 tags, and modelstack adds 3 of its own\n"
        "  Fix: keep at most 47 tags"
    )


def _errors(project, stack_config):
    project.write_stack("local", stack_config)
    with pytest.raises(ConfigErrors) as caught:
        project.load("local")
    return [str(e) for e in caught.value.errors]


def test_naming_rules_run_with_the_config(project):
    assert _errors(
        project, {"registry": {"kind": "acr", "name": "my_registry"}, "tags": {"a?": "b"}, "resource_group": "rg."}
    ) == [
        "modelstack:registry.name: registry name 'my_registry' is not allowed\n"
        "  Rule: container registry names are 5-50 letters and digits (no '-', '_' or '.') and unique across all of Azure\n"
        "  Fix: use e.g. 'myregistry', or remove name to let modelstack derive a unique one from project, stack and subscription",
        "modelstack:resource_group: resource group name 'rg.' is not allowed\n"
        "  Rule: resource group names are 1-90 letters, digits, '_', '-', '.', '(' and ')', not ending with '.'\n"
        "  Fix: rename it, or remove resource_group to use the derived name rg-<project>-<stack>",
        "modelstack:tags.a?: tag name 'a?' contains ?\n"
        "  Rule: Azure tag names cannot contain < > % & \\ ? /\n"
        "  Fix: rename the tag",
    ]


def test_aci_dns_name_label_rules(project):
    services = {
        "diabetes": {"target": "aci", "deploy": {"dns_name_label": "Diabetes!"}},
        "diabetes-multi": {
            "target": "aci",
            "deploy": {"dns_name_label": "diabetes-multi", "vnet_name": "vnet", "subnet_name": "aci"},
        },
    }
    assert _errors(project, {"registry": {"kind": "acr"}, "services": services}) == [
        "modelstack:services.diabetes.deploy.dns_name_label: dns_name_label 'Diabetes!' is not a valid DNS label\n"
        "  Rule: a DNS label is 3-63 lowercase letters, digits and '-', starting with a letter and not ending with '-'\n"
        "  Fix: use e.g. 'diabetes'",
        "modelstack:services.diabetes-multi.deploy.dns_name_label: dns_name_label is set for a container group in a virtual network\n"
        "  Rule: an ACI container group in a vnet (vnet_name + subnet_name) has only a private IP, and a DNS label needs a public one\n"
        "  Fix: remove dns_name_label, or remove vnet_name and subnet_name",
    ]
