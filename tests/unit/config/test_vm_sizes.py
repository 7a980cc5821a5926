"""The VM-size catalogue: every entry well-formed, the families users pick present, prices
sourced, and unknown names answered with the nearest known ones."""

from __future__ import annotations

import pytest

from components.config import vm_sizes
from components.errors import ConfigError

KEY = "modelstack:clusters.aks-prod.vm_size"


def test_every_entry_is_well_formed():
    seen = set()
    for name, size in vm_sizes.catalogue().items():
        assert name == size.name and name.startswith("Standard_"), name
        assert name.lower() not in seen, f"{name} is listed twice (names are case-insensitive)"
        seen.add(name.lower())
        assert size.category in vm_sizes.CATEGORIES, name
        assert size.vcpus > 0 and size.memory_gib > 0, name
        assert (size.gpus > 0) == (size.category == "gpu"), f"{name}: GPU sizes, and only they, have gpus"
        assert size.price_per_hour is None or 0 < size.price_per_hour < 100, name


@pytest.mark.parametrize(
    "series",
    [
        "Dv2",
        "DSv2",
        "Dv3",
        "Dsv3",
        "Dv4",
        "Dsv4",
        "Dv5",
        "Dsv5",
        "B",
        "Fsv2",
        "Ev3",
        "Esv3",
        "Ev5",
        "NCasT4_v3",
        "NCv3",
        "ND",
    ],
)
def test_the_families_users_pick_are_present(series):
    assert any(size.series == series for size in vm_sizes.catalogue().values())


def test_azure_ml_default_size_has_4_vcpus():
    size = vm_sizes.lookup("Standard_D3_v2", key=KEY)
    assert (size.vcpus, size.memory_gib, size.series, size.category) == (4, 14.0, "Dv2", "general")


def test_prices_say_what_they_are_and_where_they_come_from():
    table = vm_sizes.price_table()
    assert (table.currency, table.unit, table.region, table.as_of) == ("USD", "hour", "eastus", "2023-06-26")
    assert "Linux" in table.basis and "pay-as-you-go" in table.basis
    assert "RMRanjit/SUNA-UI" in table.source and "c3fbe619" in table.source
    assert vm_sizes.hourly_price("Standard_D4s_v3", key=KEY) == 0.192


def test_a_size_without_a_sourced_price_says_so_instead_of_guessing():
    assert vm_sizes.hourly_price("Standard_E8s_v3", key=KEY) is None
    assert vm_sizes.lookup("Standard_E8s_v3", key=KEY).vcpus == 8


def test_names_match_without_regard_to_case():
    found = vm_sizes.find("standard_d3_V2")
    assert found is not None and found.name == "Standard_D3_v2"
    assert vm_sizes.vcpus("STANDARD_NC6S_V3", key=KEY) == 6


def test_nearest_prefers_the_same_size_number():
    assert vm_sizes.nearest("Standard_D3_v3") == ["Standard_D3_v2", "Standard_D32s_v3", "Standard_DS3_v2"]
    assert vm_sizes.nearest("D3_v2")[0] == "Standard_D3_v2", "the Standard_ prefix is optional when matching"
    assert vm_sizes.nearest("Standard_NC6_v3")[0] == "Standard_NC6s_v3"


def test_unknown_size_suggests_the_nearest_known_names():
    with pytest.raises(ConfigError) as caught:
        vm_sizes.lookup("Standard_D3_v3", key=KEY)
    assert str(caught.value) == (
        "modelstack:clusters.aks-prod.vm_size: vm_size 'Standard_D3_v3' is not in modelstack's VM-size catalogue\n"
        "  Rule: vm_size is an Azure VM size listed in components/config/data/vm_sizes.yaml, which gives the vCPUs the 12-vCPU rule counts\n"
        "  Fix: did you mean Standard_D3_v2, Standard_D32s_v3 or Standard_DS3_v2? If 'Standard_D3_v3' is a real Azure size, "
        "add it to components/config/data/vm_sizes.yaml (the file's header says how)"
    )


def test_unknown_size_with_nothing_close_points_at_the_catalogue():
    assert str(vm_sizes.unknown_size_error("huge", KEY)).endswith(
        "Fix: pick a size listed in components/config/data/vm_sizes.yaml. If 'huge' is a real Azure size, "
        "add it to components/config/data/vm_sizes.yaml (the file's header says how)"
    )
