"""Imports for modelstack's dynamic providers, done once per provider process under one lock.

The engine runs Python dynamic providers in one process that serves its calls on four threads
(pulumi.dynamic's gRPC server), so a `refresh` reads several ServiceImages, rollouts and
registries at once. The providers import their heavy modules lazily (the program itself, and
`modelstack check`, never need them), and lazy imports on concurrent threads race: CPython's
import-deadlock avoidance may hand a thread a partially initialised module ("cannot import name
'parse_dict_header' from partially initialized module 'requests.utils'"), and the refresh fails.
`imports_first(...)` makes every method of a provider import what the provider needs first, one
thread at a time, before any of its own (now already satisfied) lazy imports run.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from typing import TypeVar

PROVIDER_METHODS = ("check", "diff", "create", "read", "update", "delete")
_lock = threading.Lock()
_imported: set[str] = set()

Provider = TypeVar("Provider", bound=type)


def import_all(modules: tuple[str, ...]) -> None:
    """Import `modules` (once per process), one thread at a time."""
    if _imported.issuperset(modules):
        return
    with _lock:
        for name in modules:
            if name not in _imported:
                importlib.import_module(name)
                _imported.add(name)


def imports_first(*modules: str) -> Callable[[Provider], Provider]:
    """Class decorator for a dynamic provider: its methods import `modules` before they run."""

    def decorate(cls: Provider) -> Provider:
        for name in PROVIDER_METHODS:
            method = cls.__dict__.get(name)
            if method is None:
                continue

            @functools.wraps(method)
            def call(self, *args, __method=method, **kwargs):
                import_all(modules)
                return __method(self, *args, **kwargs)

            setattr(cls, name, call)
        return cls

    return decorate
