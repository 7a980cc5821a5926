"""`modelstack promote` holds the destination's lock while it copies images and writes the pins, and
is refused at once, naming the holder, while anything else holds it (the engine refusing `up` on
such a lock is shown in tests/e2e/test_shared_state_engine.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from components.commands import promote as promote_module
from components.errors import ModelstackError
from components.state.backend import open_backend
from components.state.locks import engine_locks
from tests.workspace import REPO

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def promoting(tmp_path, monkeypatch):
    """promote() with the engine, Docker and the registries replaced; the state in a file backend."""
    from components.commands import drift, engine

    state = tmp_path / "state"
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{state}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not-empty")
    services = {"diabetes": {"state": "Healthy", "image": f"localhost:5000/diabetes@{DIGEST}", "model_versions": {}}}
    stack = SimpleNamespace(outputs=lambda: {"services": SimpleNamespace(value=services)})
    monkeypatch.setattr(engine, "select_stack", lambda project_dir, name: stack)
    monkeypatch.setattr(engine, "stack_outputs", lambda *a, **k: {"services": services}, raising=False)
    monkeypatch.setattr(drift, "refresh_events", lambda *a, **k: [])
    monkeypatch.setattr(drift, "live_parts", lambda events: {})
    monkeypatch.setattr(promote_module, "destination_registry", lambda *a: "localhost:5999")
    monkeypatch.setattr(promote_module, "ensure_local_registry", lambda *a: None)
    monkeypatch.setattr(promote_module, "copy_image", lambda source, repository, log: DIGEST)
    seen: dict = {}

    def write_pins(stack_file, pins):
        seen["locks"] = engine_locks(open_backend(f"file://{state}", {}), "modelstack", "prod")
        seen["pins"] = pins

    monkeypatch.setattr(promote_module, "write_pins", write_pins)
    return open_backend(f"file://{state}", {}), seen


def test_promote_holds_the_destinations_lock_while_it_writes_the_pins(promoting):
    backend, seen = promoting
    promotions = promote_module.promote(REPO, "staging", "prod", log=lambda message: None)
    assert [p.image for p in promotions] == [f"localhost:5999/diabetes@{DIGEST}"]
    (held,) = seen["locks"]
    assert held.operation == "promote" and held.key.startswith(".pulumi/locks/organization/modelstack/prod/")
    assert engine_locks(backend, "modelstack", "prod") == []  # released afterwards


def test_promote_is_refused_while_the_destination_is_locked(promoting):
    backend, seen = promoting
    backend.write(
        ".pulumi/locks/organization/modelstack/prod/1e3b.json",
        json.dumps({"pid": 77, "username": "ci", "hostname": "runner-3", "timestamp": "2026-12-07T20:00:00Z"}).encode(),
    )
    with pytest.raises(ModelstackError) as raised:
        promote_module.promote(REPO, "staging", "prod", log=lambda message: None)
    assert "ci@runner-3 (pid 77)" in str(raised.value) and "lock take-over" in str(raised.value)
    assert "pins" not in seen  # nothing written
