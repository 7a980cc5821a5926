"""The targets modelstack deploys to, by name: the one place that knows which exist.

A target is a package `components.targets.<name>` with two modules:
- `schema`: its deploy parameters (`DEPLOY`, a pydantic model), light enough for the config
  schema to import;
- `target`: `TARGET`, an instance of `components.targets.base.Target`, with its rules, its policy
  facts, how it declares a service, how it reads logs and live states.

Everything else asks this registry (and the Target it returns) instead of comparing names, so a
new target is one line here plus its package. Packages are imported when first asked for: the
config schema needs only the deploy parameters, and a target's declarations import providers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from components.targets.base import Target

# The order is the order the docs and error messages list them in; the first is the default,
# as Azure ML's LocalWebservice is where a model is tried first.
TARGET_NAMES: tuple[str, ...] = ("local", "aci", "aks", "kubernetes", "aca")
DEFAULT_TARGET = TARGET_NAMES[0]


def deploy_models() -> dict[str, type[BaseModel]]:
    """Each target's deploy parameters, by target name."""
    return {name: import_module(f"components.targets.{name}.schema").DEPLOY for name in TARGET_NAMES}


@cache
def target(name: str) -> Target:
    """The target called `name`. An unknown name is refused when the config is read (the schema
    allows only TARGET_NAMES), so asking for one here is a programming error."""
    if name not in TARGET_NAMES:
        raise KeyError(f"no target named {name!r}; the targets are {', '.join(TARGET_NAMES)}")
    return import_module(f"components.targets.{name}.target").TARGET


# What a target's `mocks` module maps a resource type or function token to: Pulumi's mock args
# in, what the cloud or cluster would compute out (components.offline.evaluate).
MockAnswer = Callable[[Any], dict[str, Any]]


def mock_answers(shared: dict[str, Any]) -> tuple[dict[str, MockAnswer], dict[str, MockAnswer]]:
    """What resources and invokes would be answered under the mock runtime: the `MOCK_OUTPUTS` (by
    type token) and `MOCK_CALLS` (by function token) of the `shared` modules (by name: what every
    target uses) and of each target's optional `mocks` module, merged. A module loads only its
    own light dependencies."""
    modules = [f"components.targets.{name}.mocks" for name in TARGET_NAMES]
    return merged_answers({**shared, **{module: import_module(module) for module in modules if find_spec(module)}})


def merged_answers(modules: dict[str, Any]) -> tuple[dict[str, MockAnswer], dict[str, MockAnswer]]:
    """The modules' answers in one table each. Two modules answering one token is refused: which
    answer the mock runtime gave would depend on the order they were merged in."""
    outputs: dict[str, MockAnswer] = {}
    calls: dict[str, MockAnswer] = {}
    for name, mocks in modules.items():
        for answers, theirs in (
            (outputs, getattr(mocks, "MOCK_OUTPUTS", {})),
            (calls, getattr(mocks, "MOCK_CALLS", {})),
        ):
            if taken := answers.keys() & theirs.keys():
                raise ValueError(f"{name} answers {', '.join(sorted(taken))}, which another module answers already")
            answers.update(theirs)
    return outputs, calls


def all_targets() -> list[Target]:
    return [target(name) for name in TARGET_NAMES]


def known(name: object) -> bool:
    return isinstance(name, str) and name in TARGET_NAMES


def names_where(predicate) -> list[str]:
    """The names of the targets for which predicate(target) holds, in registry order (for
    messages such as "versions are for aks and kubernetes")."""
    return [t.name for t in all_targets() if predicate(t)]
