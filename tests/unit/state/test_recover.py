"""components/state/recover.py: what recovery decides after a killed engine, as pure functions (the
pending operations of a checkpoint, adopt or clear, the refresh runs that apply it, the orphaned
plugins), and `recover` itself against a fake engine and fake targets on a file backend. The real
engine killed at resource steps: tests/e2e/test_kill_recovery_engine.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from components.errors import ModelstackError
from components.state import recover as recovery
from components.state.backend import open_backend
from components.state.recover import (
    ADOPT,
    CLEAR,
    REFRESH,
    UNKNOWN,
    Existing,
    Pending,
    decide,
    empty_sidecars,
    is_engine_plugin,
    is_orphaned_plugin,
    known_resources,
    pending_operations,
    recorded_urns,
    refresh_runs,
    unknown_error,
)

IMAGE = "pulumi-python:dynamic/modelstack:ServiceImage"
CONTAINER = "pulumi-python:dynamic/modelstack:LocalWebservice"
URN = "urn:pulumi:dev::modelstack::modelstack:webservice:Webservice$" + CONTAINER + "::diabetes-local"
NOW = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)


def pending(kind: str = "creating", urn: str = URN, type_: str = CONTAINER) -> Pending:
    return Pending(kind, urn, type_, {"container_name": "modelstack-dev-diabetes"})


def test_pending_operations_are_read_from_an_export():
    deployment = {
        "pending_operations": [
            {"type": "creating", "resource": {"urn": URN, "type": CONTAINER, "inputs": {"port": 1}}},
            {"type": "deleting", "resource": {"urn": "u2", "type": IMAGE, "id": "r:t"}},
        ]
    }
    found = pending_operations(deployment)
    assert [(p.kind, p.name, p.inputs, p.id) for p in found] == [
        ("creating", "diabetes-local", {"port": 1}, None),
        ("deleting", "u2", {}, "r:t"),
    ]
    assert pending_operations({}) == [] and pending_operations({"pending_operations": None}) == []


def test_known_resources_keep_those_marked_for_deletion():
    deployment = {
        "resources": [
            {"urn": "a", "type": CONTAINER, "id": "c1"},
            {"urn": "b", "type": CONTAINER, "id": "c0", "delete": True},
        ]
    }
    assert [k.id for k in known_resources(deployment)] == ["c1", "c0"]


def test_a_pending_create_whose_object_exists_is_cleared_since_the_engine_cannot_adopt_it():
    decision = decide(pending(), Existing("abc123", "container modelstack-dev-diabetes exists"))
    assert decision.action == CLEAR and "cannot adopt" in decision.found
    adopted = decide(pending(), Existing("abc123", "exists"), adopt_existing=True)
    assert (adopted.action, adopted.id) == (ADOPT, "abc123")


def test_a_pending_create_whose_object_does_not_exist_is_cleared():
    assert decide(pending(), Existing(None, "container ... does not exist")).action == CLEAR


def test_a_pending_create_the_state_already_has_is_cleared_not_adopted_twice():
    decision = decide(pending(), Existing("abc123", "exists"), known_urns={URN}, adopt_existing=True)
    assert decision.action == CLEAR and decision.id is None


def test_a_replacement_whose_old_object_was_deleted_first_adopts_the_new_one():
    """A model-change `up` killed after delete-before-replace removed the old container and started
    the new one: the old resource stays in the state as pendingReplacement (and an old image as
    delete), which does not make the new object one the state has."""
    deployment = {
        "resources": [
            {"urn": URN, "type": CONTAINER, "id": "old", "pendingReplacement": True},
            {"urn": "image", "type": IMAGE, "id": "r:old", "delete": True},
            {"urn": "image", "type": IMAGE, "id": "r:new"},
        ]
    }
    assert recorded_urns(deployment) == {"image"}
    decision = decide(pending(), Existing("new", "container exists"), recorded_urns(deployment), adopt_existing=True)
    assert (decision.action, decision.id) == (ADOPT, "new")


def test_pending_creates_of_the_stack_components_and_providers_are_cleared():
    stack = Pending(
        "creating",
        "urn:pulumi:dev::modelstack::pulumi:pulumi:Stack::modelstack-dev",
        "pulumi:pulumi:Stack",
        {},
        custom=False,
    )
    provider = Pending("creating", "urn:p", "pulumi:providers:pulumi-python", {})
    assert decide(stack, None).action == CLEAR and decide(provider, None).action == CLEAR


def test_an_empty_sidecar_of_a_whole_checkpoint_is_found(tmp_path: Path):
    """A kill between go-cloud's metadata file and the checkpoint leaves `<stack>.json.attrs` empty
    and the engine refusing the stack ("failed to load checkpoint: EOF")."""
    folder = tmp_path / ".pulumi" / "stacks" / "modelstack"
    folder.mkdir(parents=True)
    (folder / "dev.json").write_text('{"version": 3}')
    (folder / "dev.json.attrs").write_text("")
    (folder / "dev.json.bak").write_text('{"version": 3}')
    (folder / "dev.json.bak.attrs").write_text('{"md5": "x"}')
    (folder / "other.json").write_text("{}")
    (folder / "other.json.attrs").write_text("")
    assert empty_sidecars(tmp_path, "modelstack", "dev") == [folder / "dev.json.attrs"]
    (folder / "dev.json").write_text('{"vers')  # a checkpoint cut short is not repaired this way
    assert empty_sidecars(tmp_path, "modelstack", "dev") == []
    assert empty_sidecars(tmp_path / "nothing", "modelstack", "dev") == []


def test_pending_updates_and_deletes_are_left_to_the_refresh():
    assert decide(pending("updating"), None).action == REFRESH
    assert decide(pending("deleting"), None).action == REFRESH


def test_a_pending_create_no_target_can_look_up_stops_recovery_with_the_fix():
    decision = decide(pending(type_="kubernetes:core/v1:Service"), None)
    assert decision.action == UNKNOWN
    error = unknown_error("dev", [decision])
    assert isinstance(error, ModelstackError)
    assert "diabetes-local (kubernetes:core/v1:Service)" in str(error) and "--import-pending-creates" in str(error)
    assert unknown_error("dev", [decide(pending(), Existing(None, "gone"))]) is None


def test_imports_run_before_and_apart_from_the_clearing():
    adopt = decide(pending(), Existing("abc123", "exists"), adopt_existing=True)
    clear = decide(pending(urn="urn:other"), Existing(None, "gone"))
    runs = refresh_runs([clear, adopt])
    assert runs == [
        ["refresh", "--yes", "--skip-preview", "--import-pending-creates", f"{URN} abc123"],
        ["refresh", "--yes", "--skip-preview", "--clear-pending-creates"],
    ]
    assert refresh_runs([decide(pending("updating"), None)]) == [["refresh", "--yes", "--skip-preview"]]
    # adopting the replacement of a resource deleted first: a plain refresh drops the old record first
    assert refresh_runs([adopt], {URN})[0] == ["refresh", "--yes", "--skip-preview"]
    assert refresh_runs([adopt], {URN})[1][-1] == f"{URN} abc123"
    assert refresh_runs([]) == []


@pytest.mark.parametrize(
    ("cmdline", "plugin"),
    [
        (["/p/.tools/bin/pulumi-language-python", "127.0.0.1:1"], True),
        (["/p/venv/bin/python", "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"], True),
        (["/usr/bin/pulumi-resource-kubernetes", "127.0.0.1:1"], True),
        (["/usr/bin/docker-registry", "serve", "c.yml"], False),
        (["/p/venv/bin/python", "score.py"], False),
        ([], False),
    ],
)
def test_engine_plugins_are_known_by_their_command_line(cmdline, plugin):
    assert is_engine_plugin(cmdline) is plugin


def test_a_plugin_is_orphaned_only_in_this_project_and_without_its_engine(tmp_path: Path):
    provider = ["/p/venv/bin/python", "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"]
    assert is_orphaned_plugin(provider, str(tmp_path), ["/sbin/init"], tmp_path)
    assert is_orphaned_plugin(provider, str(tmp_path), None, tmp_path)
    assert not is_orphaned_plugin(provider, str(tmp_path), ["/x/.tools/bin/pulumi", "up"], tmp_path)
    assert not is_orphaned_plugin(provider, str(tmp_path), ["/x/pulumi-language-python", "a"], tmp_path)
    assert not is_orphaned_plugin(provider, "/elsewhere", ["/sbin/init"], tmp_path)
    assert not is_orphaned_plugin(["/usr/bin/docker-registry"], str(tmp_path), ["/sbin/init"], tmp_path)


# --- recover() with a fake engine and fake answers ---------------------------------------------------


class FakeEngine:
    def __init__(self, deployment: dict):
        self.deployment = deployment
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str]) -> str:
        self.calls.append(args)
        if args[0] == "stack":
            return json.dumps({"deployment": self.deployment})
        imports = [args[i + 1].split(" ") for i, arg in enumerate(args) if arg == "--import-pending-creates"]
        adopted = [{"urn": urn, "type": CONTAINER, "id": id_} for urn, id_ in imports]

        resources = list(self.deployment.get("resources") or []) + adopted
        self.deployment = {**self.deployment, "pending_operations": [], "resources": resources}
        return ""


@pytest.fixture
def file_backend(tmp_path: Path):
    return open_backend(f"file://{tmp_path / 'state'}", {})


def lock(backend, pid: int, host: str) -> str:
    key = ".pulumi/locks/organization/modelstack/dev/l1.json"
    backend.write(
        key, json.dumps({"pid": pid, "username": "ci", "hostname": host, "timestamp": "2026-12-07T20:59:00Z"}).encode()
    )
    return key


def run_recover(monkeypatch, backend, engine, tmp_path, *, existing=None, strays=()):
    removed: list[str] = []
    monkeypatch.setattr(recovery, "orphaned_plugins", lambda project_dir: [])
    monkeypatch.setattr(recovery, "existing_object", lambda type_, inputs, project_dir: existing)
    monkeypatch.setattr(
        recovery,
        "stray_objects",
        lambda stack, known, project_dir: [recovery.Stray(what, partial(removed.append, what)) for what in strays],
    )
    lines: list[str] = []
    report = recovery.recover(
        "dev",
        project_dir=tmp_path,
        project="modelstack",
        backend=backend,
        pulumi=engine,
        write=lines.append,
        now=NOW,
        by="me@here",
    )
    return report, lines, removed


def test_recover_takes_over_a_dead_holders_lock_clears_and_removes_strays(monkeypatch, tmp_path, file_backend):
    import socket

    key = lock(file_backend, 2**22 + 7, socket.gethostname())  # no such process
    engine = FakeEngine(
        {"pending_operations": [{"type": "creating", "resource": {"urn": URN, "type": CONTAINER}}], "resources": []}
    )
    report, lines, removed = run_recover(
        monkeypatch, file_backend, engine, tmp_path, existing=Existing("abc123", "exists"), strays=["container x"]
    )
    assert key not in file_backend.list(".pulumi/")
    assert ["refresh", "--yes", "--skip-preview", "--clear-pending-creates"] in engine.calls
    assert removed == ["container x"] and (report.pending, report.strays) == (1, 1)
    assert any("taken over" in line for line in lines) and any("cannot adopt it): cleared" in line for line in lines)
    assert file_backend.list(".modelstack/audit/"), "the take-over is audited"


def test_recover_never_touches_a_live_lock(monkeypatch, tmp_path, file_backend):
    import os
    import socket

    key = lock(file_backend, os.getpid(), socket.gethostname())  # this very process: alive
    engine = FakeEngine({"resources": []})
    with pytest.raises(ModelstackError, match="live holder"):
        run_recover(monkeypatch, file_backend, engine, tmp_path)
    assert key in file_backend.list(".pulumi/locks/") and engine.calls == []


def test_recover_of_a_clean_stack_changes_nothing(monkeypatch, tmp_path, file_backend):
    engine = FakeEngine({"resources": [{"urn": URN, "type": CONTAINER, "id": "c1"}]})
    report, lines, removed = run_recover(monkeypatch, file_backend, engine, tmp_path)
    assert [c[0] for c in engine.calls] == ["stack"] and removed == [] and report.lines == []
    assert lines == ["stack dev: no lock, no pending operation, nothing the state does not know"]
