"""Stacks created before the package was split by concern keep working.

A stack's state holds each dynamic resource's provider as a pickle naming the module it lived
in; the engine unpickles the recorded one to refresh or delete the resource. The pickles in
tests/fixtures/legacy/ were written by the code before the move; in a fresh interpreter (as the
engine's provider process is) they must load as the providers the package has now.
(Checked once with the engine as well: a local stack brought up with the old code planned zero
changes with the new one, then refreshed and was destroyed.)
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import pickletools
import subprocess
import sys

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components import LEGACY_MODULES
from components.image.service_image import ServiceImageProvider
from components.targets.local.registry import LocalRegistryProvider
from components.targets.local.webservice import LocalWebserviceProvider
from tests.workspace import REPO

RECORDED = json.loads((REPO / "tests" / "fixtures" / "legacy" / "dynamic-providers.json").read_text())["providers"]
NOW = {
    "LocalRegistryProvider": LocalRegistryProvider,
    "LocalWebserviceProvider": LocalWebserviceProvider,
    "ServiceImageProvider": ServiceImageProvider,
}


@pytest.mark.parametrize("provider", sorted(RECORDED))
def test_a_provider_recorded_before_the_move_loads_as_todays(provider):
    probe = (
        "import base64, sys, dill\n"
        f"obj = dill.loads(base64.b64decode({RECORDED[provider]!r}))\n"
        "print(type(obj).__module__, type(obj).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == [NOW[provider].__module__, provider]


@pytest.mark.parametrize("provider", sorted(NOW))
def test_todays_pickles_name_todays_modules(provider):
    """New state names the new modules; the legacy names are needed only for older state."""
    listing = io.StringIO()
    pickletools.dis(base64.b64decode(serialize_provider(NOW[provider]())), out=listing)
    assert f"'{NOW[provider].__module__}'" in listing.getvalue()
    assert not any(f"'{legacy}'" in listing.getvalue() for legacy in LEGACY_MODULES)


def test_every_legacy_name_points_at_a_module_that_exists():
    for legacy, now in LEGACY_MODULES.items():
        assert importlib.import_module(legacy) is importlib.import_module(now)
