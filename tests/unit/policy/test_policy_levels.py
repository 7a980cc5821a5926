"""A stack's policy config names enforcement levels that exist: a misspelt one is refused with its
key, instead of being carried into `check` as a level that is neither mandatory nor disabled
(CrossGuard refuses it when the engine runs the pack, so `check` must too)."""

from __future__ import annotations

import json

import pytest

from components.errors import ConfigError
from components.policy.rules import POLICIES
from components.policy.settings import effective, load_stack_policy_config


def write_policy_config(root, document) -> None:
    folder = root / "policies" / "config"
    folder.mkdir(parents=True)
    (folder / "dev.json").write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("document", "name", "shown"),
    [
        ({"all": "mandtory"}, "all", "'mandtory'"),
        ({"all": 5}, "all", "'5'"),
        ({"allowed-locations": "Mandatory"}, "allowed-locations", "'Mandatory'"),
        ({"allowed-locations": {"enforcementLevel": "off", "allowed_locations": ["x"]}}, "allowed-locations", "'off'"),
    ],
)
def test_a_level_that_is_not_one_is_refused_with_its_key(tmp_path, document, name, shown):
    write_policy_config(tmp_path, document)
    with pytest.raises(ConfigError) as raised:
        load_stack_policy_config(tmp_path, "dev")
    assert raised.value.key == f"policies/config/dev.json: {name}"
    assert str(raised.value).count(shown) == 1
    assert raised.value.rule == "an enforcement level is one of mandatory, advisory, disabled, as CrossGuard takes them"


def test_levels_and_parameters_that_exist_are_read_as_given(tmp_path):
    document = {
        "all": "advisory",
        "no-aci-in-production": "disabled",
        "allowed-locations": {"enforcementLevel": "mandatory", "allowed_locations": ["x"]},
        "required-tags": {"required_tags": ["owner"]},
    }
    write_policy_config(tmp_path, document)
    assert load_stack_policy_config(tmp_path, "dev") == document


def test_effective_leaves_a_level_that_is_none_as_it_was():
    policy = next(p for p in POLICIES if p.name == "allowed-locations")
    assert policy.enforcement == "mandatory"
    assert effective(policy, {"all": "advisory", "allowed-locations": "typo"})[0] == "advisory"
    assert effective(policy, {"allowed-locations": {"enforcementLevel": 3}})[0] == "mandatory"
