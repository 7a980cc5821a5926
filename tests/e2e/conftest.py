"""End-to-end tests: they drive the real Pulumi engine (`.tools/bin/pulumi`, made by
scripts/bootstrap-pulumi.sh) as a subprocess, with a local file state backend under tmp_path.
They skip, with the reason, when the engine has not been bootstrapped.

Select or deselect them with `-m engine` / `-m "not engine"`.
"""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "engine: runs the real Pulumi engine from .tools/bin (scripts/bootstrap-pulumi.sh); "
        "skipped when it is absent",
    )
