"""Dynamic providers import what they need first, once per process, one thread at a time
(components.dynamic_imports; the race it prevents is shown by the cluster stack's refresh, which
reads many dynamic resources at once: tests/cluster/engine)."""

from __future__ import annotations

import sys
import threading

import pytest

from components.dynamic_imports import import_all, imports_first


def test_every_method_imports_the_providers_modules_before_it_runs(tmp_path, monkeypatch):
    (tmp_path / "ms_provider_needs.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ms_provider_needs", raising=False)
    seen = []

    @imports_first("ms_provider_needs")
    class Provider:
        def read(self, id_, props):
            seen.append("ms_provider_needs" in sys.modules)
            return id_

        def helper(self):  # not a provider method: left as it is
            return "ms_provider_needs" in sys.modules

    assert Provider().helper() is False
    assert Provider().read("x", {}) == "x" and seen == [True]
    assert Provider.read.__name__ == "read"


def test_a_module_that_cannot_be_imported_fails_the_call_not_later(tmp_path):
    @imports_first("ms_no_such_module_anywhere")
    class Provider:
        def create(self, props):
            raise AssertionError("must not run")

    with pytest.raises(ModuleNotFoundError):
        Provider().create({})


def test_concurrent_first_calls_import_one_at_a_time(tmp_path, monkeypatch):
    # The module's import blocks until released; a second thread's call must wait for it and
    # then see the module whole, never half imported.
    (tmp_path / "ms_slow_module.py").write_text(
        "import threading, ms_gate\nms_gate.entered.set()\nms_gate.release.wait(10)\nDONE = True\n"
    )
    gate = type(sys)("ms_gate")
    vars(gate).update(entered=threading.Event(), release=threading.Event())
    monkeypatch.setitem(sys.modules, "ms_gate", gate)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ms_slow_module", raising=False)
    seen: list[bool] = []

    def call():
        import_all(("ms_slow_module",))
        seen.append(getattr(sys.modules["ms_slow_module"], "DONE", False))

    first = threading.Thread(target=call)
    first.start()
    assert gate.entered.wait(10)
    second = threading.Thread(target=call)
    second.start()
    second.join(0.2)
    assert second.is_alive(), "the second call waits while the first imports"
    gate.release.set()
    first.join(10)
    second.join(10)
    assert seen == [True, True]
