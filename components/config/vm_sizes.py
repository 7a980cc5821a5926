"""The VM-size catalogue: vCPUs, memory and an hourly price per Azure VM size.

The data lives in `components/config/data/vm_sizes.yaml` (its header says how to add a size and
where the prices come from). The 12-vCPU rule counts vCPUs from here; cost estimates read
the price. Names are matched without regard to case, as Azure does, and an unknown name is
a ConfigError that suggests the nearest known ones.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from components.errors import ConfigError

# The catalogues (VM sizes here, service prices for plan-summary) live beside this module.
DATA_DIR = Path(__file__).parent / "data"
DATA_DIR_FOR_PEOPLE = "components/config/data"
CATALOGUE_FILE = DATA_DIR / "vm_sizes.yaml"
CATALOGUE_PATH_FOR_PEOPLE = f"{DATA_DIR_FOR_PEOPLE}/vm_sizes.yaml"
CATEGORIES = ("general", "compute", "memory", "gpu")


@dataclass(frozen=True)
class VmSize:
    name: str  # the ARM name, e.g. Standard_D3_v2
    series: str
    category: str  # one of CATEGORIES
    vcpus: int
    memory_gib: float
    gpus: int
    price_per_hour: float | None  # None: no sourced figure (see PriceTable)


@dataclass(frozen=True)
class PriceTable:
    """What every price in the catalogue means: currency, basis, region and date."""

    currency: str
    unit: str
    basis: str
    region: str
    as_of: str
    source: str


@lru_cache(maxsize=1)
def _load() -> tuple[PriceTable, dict[str, VmSize]]:
    document = yaml.load(CATALOGUE_FILE.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    prices = PriceTable(**document["prices"])
    sizes = {}
    for name, entry in document["sizes"].items():
        sizes[name] = VmSize(
            name=name,
            series=entry["series"],
            category=entry["category"],
            vcpus=int(entry["vcpus"]),
            memory_gib=float(entry["memory_gib"]),
            gpus=int(entry.get("gpus", 0)),
            price_per_hour=None if entry.get("price") is None else float(entry["price"]),
        )
    return prices, sizes


def catalogue() -> dict[str, VmSize]:
    """Every known size by its ARM name."""
    return _load()[1]


def price_table() -> PriceTable:
    return _load()[0]


@lru_cache(maxsize=1)
def _by_lower_name() -> dict[str, VmSize]:
    return {name.lower(): size for name, size in catalogue().items()}


def find(name: str) -> VmSize | None:
    """The size called `name` (any case), or None."""
    return _by_lower_name().get(name.lower())


def _core(name: str) -> str:
    """'Standard_D3_v2' -> 'd3_v2': the part people actually type and mistype."""
    lowered = name.lower()
    return lowered[len("standard_") :] if lowered.startswith("standard_") else lowered


def _size_number(core: str) -> str | None:
    """'d3_v2' -> '3', 'nc4as_t4_v3' -> '4': the number that usually says the vCPUs."""
    match = re.match(r"[a-z]+(\d+)", core)
    return match.group(1) if match else None


def nearest(name: str, count: int = 3) -> list[str]:
    """Known sizes whose names are closest to `name`, best first.

    difflib's similarity of the names without 'Standard_', nudged towards sizes with the same
    size number, so that 'Standard_D3_v3' suggests Standard_D3_v2 before Standard_D32s_v3.
    """
    wanted = _core(name)
    number = _size_number(wanted)
    scored = []
    for size in catalogue().values():
        core = _core(size.name)
        score = difflib.SequenceMatcher(None, wanted, core).ratio()
        if number is not None and _size_number(core) == number:
            score += 0.1
        if score >= 0.6:
            scored.append((-score, size.name))
    return [name for _, name in sorted(scored)[:count]]


def _or_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def unknown_size_error(name: str, key: str) -> ConfigError:
    """The error for a vm_size the catalogue does not know, with the nearest known names."""
    close = nearest(name)
    guess = f"did you mean {_or_list(close)}? " if close else f"pick a size listed in {CATALOGUE_PATH_FOR_PEOPLE}. "
    return ConfigError(
        f"vm_size '{name}' is not in modelstack's VM-size catalogue",
        key=key,
        rule=f"vm_size is an Azure VM size listed in {CATALOGUE_PATH_FOR_PEOPLE}, which gives the vCPUs the 12-vCPU rule counts",
        fix=f"{guess}If '{name}' is a real Azure size, add it to {CATALOGUE_PATH_FOR_PEOPLE} (the file's header says how)",
    )


def lookup(name: str, *, key: str) -> VmSize:
    """The size called `name`, or a ConfigError naming `key` and the nearest known sizes."""
    size = find(name)
    if size is None:
        raise unknown_size_error(name, key)
    return size


def vcpus(name: str, *, key: str) -> int:
    return lookup(name, key=key).vcpus


def hourly_price(name: str, *, key: str) -> float | None:
    """USD per hour in the catalogue's region and date (see price_table()), or None if unknown."""
    return lookup(name, key=key).price_per_hour
