"""components/state/locks.py on the file backend: the engine's lock objects read, judged stale or
live, taken over with an audit line, and modelstack's own lock in the engine's folder. The engine
itself refusing on such an object is shown in tests/e2e/test_shared_state_engine.py."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from components.errors import ModelstackError
from components.state.backend import open_backend
from components.state.locks import (
    EngineLock,
    audit_key,
    engine_locks,
    lock_folder,
    parse_lock,
    stack_lock,
    stale_reason,
    take_over,
)

NOW = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
FOLDER = ".pulumi/locks/organization/modelstack/dev/"


def engine_lock_object(pid=4242, host="runner-7", timestamp="2026-12-07T19:50:00.123456789Z") -> bytes:
    # as the engine (3.259) writes it: Go's time in RFC 3339 with nanoseconds
    return json.dumps({"pid": pid, "username": "ci", "hostname": host, "timestamp": timestamp}).encode()


def lock(host="runner-7", pid=4242, since=NOW - timedelta(minutes=10)) -> EngineLock:
    return EngineLock(key=f"{FOLDER}x.json", user="ci", host=host, pid=pid, since=since)


def test_the_engines_lock_object_is_parsed():
    parsed = parse_lock(f"{FOLDER}1e3b.json", engine_lock_object())
    assert parsed == EngineLock(
        key=f"{FOLDER}1e3b.json",
        user="ci",
        host="runner-7",
        pid=4242,
        since=datetime(2026, 12, 7, 19, 50, 0, 123456, tzinfo=UTC),
    )
    offset = parse_lock("k.json", engine_lock_object(timestamp="2026-12-07T21:50:00.5+02:00"))
    assert offset.since == datetime(2026, 12, 7, 19, 50, 0, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    "data", [b"not json", b"{}", b'{"pid": "x", "username": "u", "hostname": "h", "timestamp": "t"}']
)
def test_an_unreadable_lock_object_is_reported_with_the_rule_and_the_fix(data):
    with pytest.raises(ModelstackError) as raised:
        parse_lock(f"{FOLDER}bad.json", data)
    assert f"{FOLDER}bad.json" in str(raised.value) and "pulumi cancel" in str(raised.value)


def test_a_lock_whose_process_is_gone_on_this_host_is_stale():
    assert (
        stale_reason(lock(), now=NOW, lease=timedelta(hours=2), this_host="runner-7", pid_alive=lambda pid: False)
        == "process 4242 is gone on this host (runner-7)"
    )


def test_a_live_process_on_this_host_holds_its_lock_until_the_lease():
    alive = lambda pid: pid == 4242  # noqa: E731
    assert stale_reason(lock(), now=NOW, lease=timedelta(hours=2), this_host="runner-7", pid_alive=alive) is None
    old = lock(since=NOW - timedelta(hours=3))
    assert (
        stale_reason(old, now=NOW, lease=timedelta(hours=2), this_host="runner-7", pid_alive=alive)
        == "older than the lease of 2h00m (held for 3h00m)"
    )


def test_another_hosts_lock_is_judged_by_the_lease_only():
    never_asked = lambda pid: pytest.fail("a process of another host is not looked up here")  # noqa: E731
    young = lock(host="laptop")
    assert (
        stale_reason(young, now=NOW, lease=timedelta(minutes=30), this_host="runner-7", pid_alive=never_asked) is None
    )
    assert stale_reason(
        young, now=NOW, lease=timedelta(minutes=5), this_host="runner-7", pid_alive=never_asked
    ) == "older than the lease of 300s (held for 600s)".replace("300s", "5m00s").replace("600s", "10m00s")


def test_take_over_removes_a_stale_lock_and_writes_an_audit_line(tmp_path):
    backend = open_backend(f"file://{tmp_path}", {})
    backend.write(f"{FOLDER}dead.json", engine_lock_object(pid=4242, host="runner-7"))
    removed = take_over(
        backend,
        "modelstack",
        "dev",
        by="ana@laptop",
        now=NOW,
        this_host="runner-7",
        pid_alive=lambda pid: False,
        reason="CI runner cancelled",
    )
    assert [r.key for r in removed] == [f"{FOLDER}dead.json"]
    assert engine_locks(backend, "modelstack", "dev") == []
    audit = backend.read(audit_key("modelstack", "dev")).decode()
    assert audit == (
        f"2026-12-07T20:00:00+00:00 take-over by ana@laptop: {FOLDER}dead.json held by ci@runner-7 (pid 4242) "
        "since 2026-12-07T19:50:00+00:00 (process 4242 is gone on this host (runner-7)); reason: CI runner cancelled\n"
    )
    # a second take-over appends
    backend.write(f"{FOLDER}old.json", engine_lock_object(host="elsewhere", timestamp="2026-12-07T10:00:00Z"))
    take_over(backend, "modelstack", "dev", by="ana@laptop", now=NOW, this_host="runner-7", pid_alive=lambda pid: True)
    lines = backend.read(audit_key("modelstack", "dev")).decode().splitlines()
    assert len(lines) == 2 and "older than the lease of 2h00m (held for 10h00m)" in lines[1]


def test_take_over_refuses_a_live_lock_and_removes_nothing(tmp_path):
    backend = open_backend(f"file://{tmp_path}", {})
    backend.write(f"{FOLDER}dead.json", engine_lock_object(pid=1, host="runner-7"))
    backend.write(f"{FOLDER}live.json", engine_lock_object(pid=4242, host="runner-7"))
    with pytest.raises(ModelstackError) as raised:
        take_over(
            backend, "modelstack", "dev", by="ana@x", now=NOW, this_host="runner-7", pid_alive=lambda pid: pid == 4242
        )
    message = str(raised.value)
    assert "ci@runner-7 (pid 4242)" in message and "for 9m59s" in message and "Rule: only a stale lock" in message
    assert len(engine_locks(backend, "modelstack", "dev")) == 2
    assert backend.list(".modelstack/") == []


def test_take_over_of_an_unlocked_stack_removes_nothing(tmp_path):
    backend = open_backend(f"file://{tmp_path}", {})
    assert take_over(backend, "modelstack", "dev", by="a@b", now=NOW) == []
    assert backend.list("") == []


def test_modelstacks_own_lock_is_in_the_engines_folder_and_format_and_refuses_a_second_holder(tmp_path):
    backend = open_backend(f"file://{tmp_path}", {})
    with stack_lock(backend, "modelstack", "prod", operation="promote") as held:
        (mine,) = engine_locks(backend, "modelstack", "prod")
        assert mine.key == held.key and mine.key.startswith(lock_folder("modelstack", "prod"))
        assert mine.pid == os.getpid() and mine.operation == "promote"
        content = json.loads(backend.read(mine.key))
        assert set(content) >= {"pid", "username", "hostname", "timestamp"}  # what the engine reads
        with pytest.raises(ModelstackError) as raised, stack_lock(backend, "modelstack", "prod", operation="apply"):
            pass
        assert f"(pid {os.getpid()})" in str(raised.value) and "running promote" in str(raised.value)
        assert len(engine_locks(backend, "modelstack", "prod")) == 1  # the refused one left nothing
    assert engine_locks(backend, "modelstack", "prod") == []


def test_modelstacks_lock_is_released_when_the_block_fails(tmp_path):
    backend = open_backend(f"file://{tmp_path}", {})
    with pytest.raises(RuntimeError), stack_lock(backend, "modelstack", "prod", operation="promote"):
        raise RuntimeError("boom")
    assert engine_locks(backend, "modelstack", "prod") == []


def test_an_engine_lock_refuses_modelstacks_lock(tmp_path):
    backend = open_backend(f"file://{tmp_path}", {})
    backend.write(".pulumi/locks/organization/modelstack/prod/e.json", engine_lock_object(host="ci-9", pid=77))
    with (
        pytest.raises(ModelstackError, match=r"ci@ci-9 \(pid 77\)"),
        stack_lock(backend, "modelstack", "prod", operation="promote"),
    ):
        pass


def test_the_lock_commands_report_and_take_over(tmp_path, monkeypatch):
    from components.commands.cli import app
    from tests.workspace import REPO

    state = tmp_path / "state"
    backend = open_backend(f"file://{state}", {})
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{state}")
    monkeypatch.setenv("MODELSTACK_PROJECT_DIR", str(REPO))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    shown = runner.invoke(app, ["lock", "status", "--stack", "dev"])
    assert shown.exit_code == 0 and "stack dev is not locked" in shown.stdout, shown.output
    # a holder on another host, locked an hour ago: live under the 2h lease, stale under 30m
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    backend.write(f"{FOLDER}e.json", engine_lock_object(host="elsewhere", timestamp=an_hour_ago))
    shown = runner.invoke(app, ["lock", "status", "--stack", "dev"])
    assert shown.exit_code == 0, shown.output
    assert "holder: ci@elsewhere (pid 4242)" in shown.stdout and "stale:  no" in shown.stdout
    assert re.search(r"since:  \S+ \(6\dm\d\ds ago\)", shown.stdout), shown.stdout  # an hour and then some
    refused = runner.invoke(app, ["lock", "take-over", "--stack", "dev"])
    assert refused.exit_code == 1 and "live holder" in refused.output and "Traceback" not in refused.output
    shown = runner.invoke(app, ["lock", "status", "--stack", "dev", "--lease", "30m"])
    assert "stale:  yes: older than the lease of 30m00s" in shown.stdout, shown.output
    taken = runner.invoke(app, ["lock", "take-over", "--stack", "dev", "--lease", "30m", "--reason", "laptop closed"])
    assert taken.exit_code == 0, taken.output
    assert f"removed {FOLDER}e.json (held by ci@elsewhere (pid 4242))" in taken.stdout
    assert "reason: laptop closed" in backend.read(audit_key("modelstack", "dev")).decode()
    bad = runner.invoke(app, ["lock", "status", "--stack", "dev", "--lease", "soon"])
    assert bad.exit_code == 2 and "--lease" in bad.output
