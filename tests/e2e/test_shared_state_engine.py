"""Shared state through the real engine, with the state in Azure Blob Storage (Azurite, started
by scripts/azurite.sh for the session):

- (the local stack brought up, previewed with no changes and destroyed with its state in Azurite,
  and the blob listing after it, are in tests/e2e/test_team_path_engine.py, with the pipeline);
- on a small probe project (one dynamic resource; its program can be held at a gate, so a test
  decides when an update is in progress instead of guessing with sleeps): the layout the engine
  writes is the same in the file and azblob backends; two `up` started together: one applies, the
  other is refused at once naming the holder; a second `up` and a `destroy` started while an `up`
  holds the stack are refused the same way; the state afterwards is that of the one update; modelstack's own lock is refused by the engine the same way; a lock left by
  an `up` killed with SIGKILL is reported stale by `modelstack lock status`, taken over with an
  audit line by `modelstack lock take-over`, and the next `up` succeeds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components.state.backend import open_backend
from components.state.locks import audit_key, engine_locks, stack_lock
from tests.azurite import azurite  # noqa: F401  (the session's Azurite)
from tests.e2e.engine import Engine
from tests.workspace import REPO

pytestmark = [pytest.mark.engine]  # needs the engine: tests/e2e/conftest.py requires it

SAMPLE = json.loads((REPO / "examples" / "diabetes" / "sample-requests.jsonl").read_text().splitlines()[0])
LOCKED = "the stack is currently locked by 1 lock(s)"
HOST = socket.gethostname()


def listing(engine: Engine) -> list[str]:
    return open_backend(engine.env["PULUMI_BACKEND_URL"], engine.env).list("")


# --- locks, on a probe project ----------------------------------------------------------------------

PROBE_PROGRAM = """
import os
import time
from pathlib import Path

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult


class Provider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_="probe", outs=props)

    def diff(self, id, olds, news):
        return DiffResult(changes=olds.get("value") != news.get("value"))

    def update(self, id, olds, news):
        return UpdateResult(outs=news)


class Value(Resource):
    def __init__(self, name, value):
        super().__init__(Provider(), name, {"value": value})


# A test holds the update here (the engine holds the stack's lock) until it creates the gate file.
gate = os.environ.get("PROBE_GATE")
if gate:
    Path(gate + ".waiting").write_text(str(os.getpid()))
    deadline = time.monotonic() + 300
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
value = pulumi.Config().require("value")
Value("value", value)
pulumi.export("value", value)
"""


def probe_project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(
        f"name: probe\nruntime:\n  name: python\n  options:\n    virtualenv: {REPO / 'venv'}\n"
    )
    (root / "__main__.py").write_text(PROBE_PROGRAM)
    return root


def probe(tmp_path: Path, stack: str, backend: str | None = None, backend_env=None) -> Engine:
    engine = Engine(probe_project(tmp_path / "probe"), tmp_path, stack, backend=backend, backend_env=backend_env)
    engine.run("stack", "init")
    engine.run("config", "set", "value", "v1")
    return engine


def start_held_up(engine: Engine, gate: Path) -> subprocess.Popen:
    """`pulumi up` whose program waits at `gate`: once `gate.waiting` exists, it holds the lock."""
    process = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", engine.stack, "--non-interactive"],
        cwd=engine.root,
        env={**engine.env, "PROBE_GATE": str(gate)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a session of its own: kill_session finds what it started
    )
    waiting = Path(f"{gate}.waiting")
    deadline = time.monotonic() + 120
    while not waiting.exists():
        if process.poll() is not None:
            raise AssertionError(
                f"the held up exited {process.returncode}:\n{process.stdout.read() if process.stdout else ''}"
            )
        assert time.monotonic() < deadline, "the held up's program never reached its gate"
        time.sleep(0.05)
    return process


def kill_session(process: subprocess.Popen) -> None:
    """SIGKILL the `pulumi` process and everything it started, by PID: the engine runs its plugins
    (the language host, the program, providers) in process groups of their own, but in the
    session the `pulumi` process leads (start_new_session), so that is how they are found."""

    def members() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if entry.name.isdigit() and int(fields[3]) == process.pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
        return found

    deadline = time.monotonic() + 30
    while (pids := members()) and time.monotonic() < deadline:
        for pid in sorted(pids, key=lambda pid: pid != process.pid):  # the engine first
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if process.poll() is None:
            process.wait(timeout=30)
        time.sleep(0.1)
    assert not members(), f"processes of the killed update still run: {members()}"


def modelstack(engine: Engine, *args: str) -> subprocess.CompletedProcess:
    print(f"{time.strftime('%H:%M:%S')} modelstack {' '.join(args)}")
    return subprocess.run(
        [sys.executable, "-m", "components.commands.cli", *args],
        cwd=engine.root,
        env={**engine.env, "MODELSTACK_PROJECT_DIR": str(engine.root), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def shape(keys: list[str], stack: str) -> list[str]:
    """Keys with the engine's numbers and ids written as N, and the stack's name as S."""
    return sorted({re.sub(r"\d{6,}", "N", key.replace(stack, "S")) for key in keys})


def test_the_engine_keeps_the_same_layout_in_the_file_and_azblob_backends(tmp_path, azurite):  # noqa: F811
    url, env = azurite.container("e2e-layout")
    on_file = probe(tmp_path / "file", "e2e-layout")
    on_azblob = probe(tmp_path / "azblob", "e2e-layout", url, env)
    for engine in (on_file, on_azblob):
        engine.run("up", "--yes", "--skip-preview")
    file_keys, azblob_keys = listing(on_file), listing(on_azblob)
    print("file backend:\n  " + "\n  ".join(file_keys) + "\nazblob backend:\n  " + "\n  ".join(azblob_keys))
    assert shape(file_keys, "e2e-layout") == shape(azblob_keys, "e2e-layout")
    assert {".pulumi/meta.yaml", ".pulumi/stacks/probe/e2e-layout.json"} <= set(azblob_keys)
    assert any(re.fullmatch(r"\.pulumi/history/probe/e2e-layout/e2e-layout-\d+\.history\.json", k) for k in azblob_keys)
    assert not [k for k in azblob_keys + file_keys if k.startswith(".pulumi/locks/")]


@pytest.fixture
def locked_probe(tmp_path, azurite):  # noqa: F811
    url, env = azurite.container(f"e2e-locks-{os.getpid()}-{time.monotonic_ns() % 10**6}")
    engine = probe(tmp_path, "e2e-locks", url, env)
    engine.run("up", "--yes", "--skip-preview")
    held: list[subprocess.Popen] = []
    yield engine, open_backend(url, env), held
    for process in held:  # whatever a test left running (and what a killed update left behind)
        kill_session(process)


def updates(engine: Engine) -> list[dict]:
    return json.loads(engine.run("stack", "history", "--json").stdout)


def test_a_second_up_and_a_destroy_are_refused_at_once_naming_the_holder(locked_probe, tmp_path):
    engine, backend, held = locked_probe
    before = updates(engine)
    engine.run("config", "set", "value", "v2")
    gate = tmp_path / "gate"
    first = start_held_up(engine, gate)
    held.append(first)
    (lock,) = engine_locks(backend, "probe", "e2e-locks")
    assert (lock.pid, lock.host) == (first.pid, HOST)  # the engine's own lock, its holder the first up
    for command in (("up", "--yes", "--skip-preview"), ("destroy", "--yes", "--skip-preview")):
        started = time.monotonic()
        refused = engine.run(*command, check=False)
        took = time.monotonic() - started
        print(f"pulumi {command[0]} refused after {took:.1f}s")
        assert refused.returncode != 0
        said = refused.stdout + refused.stderr
        assert LOCKED in said and f"created by {lock.user}@{HOST} (pid {first.pid})" in said, said[-2000:]
        assert took < 30, f"refused only after {took:.0f}s"
    gate.touch()
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output[-3000:]
    # one complete update: the first's, and only it, in the history; its value in the state; no lock
    after = updates(engine)
    assert len(after) == len(before) + 1 and after[0]["result"] == "succeeded" and after[0]["kind"] == "update"
    deployment = json.loads(engine.run("stack", "export").stdout)["deployment"]
    assert not deployment.get("pending_operations")
    (value,) = [r for r in deployment["resources"] if r["urn"].endswith("::value")]
    assert value["outputs"]["value"] == "v2"
    assert engine_locks(backend, "probe", "e2e-locks") == []


def test_two_ups_started_together_one_applies_the_other_is_refused(locked_probe, tmp_path):
    """Both started in the same instant. The engine writes its lock, then looks for others: the one
    that finds the other's lock gives way at once, naming it. When both write in the same instant,
    both find the other and both give way (the engine's rule, docs/team.md): then the pair is
    started again, at most three times."""
    engine, backend, held = locked_probe
    before = updates(engine)
    engine.run("config", "set", "value", "v4")
    command = ["pulumi", "up", "--yes", "--skip-preview", "--stack", engine.stack, "--non-interactive"]
    for attempt in range(3):
        gate = tmp_path / f"gate-{attempt}"  # the one that holds the stack waits here until released
        started = time.monotonic()
        pair = [
            subprocess.Popen(
                command,
                cwd=engine.root,
                env={**engine.env, "PROBE_GATE": str(gate)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            for _ in range(2)
        ]
        held.extend(pair)
        while not all(p.poll() is not None for p in pair):
            if Path(f"{gate}.waiting").exists() and any(p.poll() is not None for p in pair):
                break
            assert time.monotonic() - started < 120, "neither up got the stack nor gave way"
            time.sleep(0.05)
        ended = [p for p in pair if p.poll() is not None]
        outputs = {p.pid: p.communicate(timeout=60)[0] for p in ended}
        for p in ended:
            assert p.returncode != 0 and LOCKED in outputs[p.pid], outputs[p.pid][-2000:]
        if len(ended) == 2:
            print(f"attempt {attempt + 1}: both wrote their lock in the same instant and both gave way")
            continue
        (refused,) = ended
        (holder,) = [p for p in pair if p is not refused]
        print(f"one up held the stack; the other was refused after {time.monotonic() - started:.1f}s")
        assert f"(pid {holder.pid})" in outputs[refused.pid], outputs[refused.pid][-2000:]
        gate.touch()
        output, _ = holder.communicate(timeout=300)
        assert holder.returncode == 0, output[-3000:]
        break
    else:
        pytest.fail("three pairs of ups all gave way to each other")
    after = updates(engine)
    assert len(after) == len(before) + 1 and after[0]["result"] == "succeeded"
    deployment = json.loads(engine.run("stack", "export").stdout)["deployment"]
    assert not deployment.get("pending_operations")
    assert [r["outputs"]["value"] for r in deployment["resources"] if r["urn"].endswith("::value")] == ["v4"]
    assert engine_locks(backend, "probe", "e2e-locks") == []


def test_the_engine_refuses_up_while_modelstack_holds_the_stack(locked_probe):
    engine, backend, _ = locked_probe
    with stack_lock(backend, "probe", "e2e-locks", operation="promote"):
        refused = engine.run("up", "--yes", "--skip-preview", check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and LOCKED in said and f"(pid {os.getpid()})" in said, said[-2000:]
    assert engine_locks(backend, "probe", "e2e-locks") == []
    engine.run("up", "--yes", "--skip-preview")  # released: the next up runs


def test_a_killed_holders_lock_is_reported_stale_taken_over_with_an_audit_line_and_up_succeeds(locked_probe, tmp_path):
    engine, backend, held = locked_probe
    engine.run("config", "set", "value", "v3")
    killed = start_held_up(engine, tmp_path / "never")
    held.append(killed)
    kill_session(killed)
    (lock,) = engine_locks(backend, "probe", "e2e-locks")
    assert lock.pid == killed.pid

    refused = engine.run("up", "--yes", "--skip-preview", check=False)
    assert refused.returncode != 0 and LOCKED in refused.stdout + refused.stderr

    status = modelstack(engine, "lock", "status", "--stack", "e2e-locks")
    assert status.returncode == 0, status.stderr
    print(status.stdout)
    assert lock.key in status.stdout
    assert f"holder: {lock.user}@{HOST} (pid {killed.pid})" in status.stdout
    assert re.search(r"since:  \S+ \((\d+s|\d+m\d\ds) ago\)", status.stdout), status.stdout
    assert f"stale:  yes: process {killed.pid} is gone on this host ({HOST})" in status.stdout
    assert "state backend azblob://" in status.stderr  # which backend, and from where

    taken = modelstack(engine, "lock", "take-over", "--stack", "e2e-locks", "--reason", "runner killed in a test")
    assert taken.returncode == 0, taken.stderr
    assert f"removed {lock.key}" in taken.stdout
    audit = backend.read(audit_key("probe", "e2e-locks")).decode().splitlines()
    assert len(audit) == 1 and lock.key in audit[0] and f"process {killed.pid} is gone" in audit[0]
    assert audit[0].endswith("reason: runner killed in a test")
    assert "not locked" in modelstack(engine, "lock", "status", "--stack", "e2e-locks").stdout

    engine.run("up", "--yes", "--skip-preview")
    assert json.loads(engine.run("stack", "output", "--json").stdout)["value"] == "v3"
    assert engine_locks(backend, "probe", "e2e-locks") == []


def test_take_over_refuses_a_live_holder(locked_probe, tmp_path):
    engine, backend, held = locked_probe
    gate = tmp_path / "gate"
    first = start_held_up(engine, gate)
    held.append(first)
    refused = modelstack(engine, "lock", "take-over", "--stack", "e2e-locks")
    assert refused.returncode == 1 and f"(pid {first.pid})" in refused.stderr and "Traceback" not in refused.stderr
    assert len(engine_locks(backend, "probe", "e2e-locks")) == 1
    gate.touch()
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output[-3000:]
