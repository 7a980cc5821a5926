"""What Azure would compute for the azure-native resources and invokes the program uses.

Merged into components.offline's tables, keyed by type token (resources) and by function
token (invokes). Each entry returns only what Azure computes (ids, login servers, FQDNs,
credentials); the inputs the program sends are echoed back unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

MOCK_OUTPUTS: dict[str, Callable[[Any], dict[str, Any]]] = {}
MOCK_CALLS: dict[str, Callable[[Any], dict[str, Any]]] = {}
