"""How a stack's values combine with the declarations every stack shares (pure).

Mappings merge key by key, anything else (lists, scalars) replaces, and `null` removes an
inherited key: a stack overrides only what differs.
"""

from __future__ import annotations

from typing import Any

from components.config.schema import SHARED_KEYS


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else replaces; `None` in the override removes."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = deep_merge(merged[key], value)
            else:
                merged[key] = value
        return merged
    return override


def merged_values(shared: dict[str, Any], stack_values: dict[str, Any]) -> dict[str, Any]:
    """Shared declarations with one stack's overrides merged over them."""
    merged = dict(shared)
    for key, value in stack_values.items():
        merged[key] = deep_merge(shared.get(key), value) if key in SHARED_KEYS else value
    return merged
