"""modelstack: Pulumi components that take a trained model to a served endpoint.

The folders are the architecture; data flows down this list and imports point only down it
(tests/unit/test_architecture.py enforces it):

    state/                      a stack's shared state: backend, locks, saved plans, recovery
    importer/                   `modelstack import`: Azure ML's files read into config (config/ below it)
    program.py, webservice.py   the Pulumi program, and the one component every service is
    offline/                    `check`'s evaluator: the program under Pulumi's mock runtime
    targets/                    where a service runs: one package per target (local, aci, aks,
                                kubernetes, aca) behind targets/base.py, named by targets/registry.py;
                                targets/azure/ is the Azure platform the Azure targets share
    image/                      build context, model versions, wheelhouse, build and push
    policy/                     the guardrails as plain functions (policies/ wraps them)
    config/                     schema, loading, the cross-field rules, naming, VM sizes
    errors.py, plan_values.py, pulumi_internals.py, dynamic_imports.py, resource_types.py
                                shared by all of the above

`commands/` (the `modelstack` command) sits on top and nothing imports it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from pathlib import Path

# The checkout the package lives in: templates/ and scripts/ are beside it.
SOURCE_ROOT = Path(__file__).resolve().parent.parent

# Where the dynamic providers lived before the package was split by concern. A stack's state
# keeps each dynamic resource's provider as a pickle that names its module, and the engine
# unpickles the recorded one to refresh or delete the resource; these names keep every stack
# created before the move working until its resources are next updated.
LEGACY_MODULES = {
    "components.local_registry": "components.targets.local.registry",
    "components.local_webservice": "components.targets.local.webservice",
    "components.service_image": "components.image.service_image",
}


class _LegacyModuleNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports a legacy module name as the module that now holds its code (the same object)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in LEGACY_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(LEGACY_MODULES[spec.name])

    def exec_module(self, module):
        pass  # already executed under its own name


if not any(isinstance(finder, _LegacyModuleNames) for finder in sys.meta_path):
    sys.meta_path.append(_LegacyModuleNames())
