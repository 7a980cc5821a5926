"""End-to-end tests: they drive the real Pulumi engine (`.tools/bin/pulumi`, made by
scripts/bootstrap-pulumi.sh) as a subprocess, with a local file state backend under tmp_path.
When the engine has not been bootstrapped they skip, with the reason, or fail under CI=true
(`require` in tests/conftest.py).

Select or deselect them with `-m engine` / `-m "not engine"`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require

ENGINE = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "pulumi"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "engine: runs the real Pulumi engine from .tools/bin (scripts/bootstrap-pulumi.sh); "
        "skipped when it is absent (failed under CI=true)",
    )


@pytest.fixture(scope="module", autouse=True)
def _engine_is_there(request):
    """Module-scoped, so it runs before the modules' own module fixtures (which call the engine). Every test marked `engine` needs .tools/bin/pulumi: skip without it, or fail under CI=true."""
    if request.node.get_closest_marker("engine") is not None:
        require(ENGINE.exists(), f"no Pulumi engine at {ENGINE}: run scripts/bootstrap-pulumi.sh (or scripts/setup.sh)")
