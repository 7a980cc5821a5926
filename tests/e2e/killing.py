"""Killing the engine at a resource step, as a cancelled CI runner or a closed laptop does.

"The engine is killed" means its whole process tree dies at once: `pulumi`, the language host,
the Python program, the dynamic providers' processes and whatever they run in the foreground.
The engine is started in a session of its own, and every process of that session is sent
SIGKILL. Its process group is not enough: `pulumi` starts each plugin (the language host, each
provider) in a process group of its own, so `os.killpg` of the engine's group kills `pulumi`
alone and leaves the plugins running, orphaned (measured with the engine 3.259). What a provider
started on purpose as a detached process (the local registry, in a session of its own) survives,
as it would in life, and so does what the Docker daemon runs.

Kill points are engine events, not times: the engine writes its events to `--event-log FILE`
as it goes, and the run is killed right after the N-th kill point's event has been written: the
start of a resource step (`resourcePreEvent` whose op is not `same`), or a provider's progress line
inside a step (an image pushed, a container started: a `diagnosticEvent`), while that step's
operation is under way. A step that finishes faster than the event is read is killed just after
it, which is another real kill point, not a flaky one: what the test asserts (recovery converges)
holds for both.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

STEP_EVENT = "resourcePreEvent"


# Progress lines of the providers that mark a kill point inside a step: after an image was pushed
# (the registry has the tag, the engine has not yet recorded it), after a container was started (it
# runs, possibly serving soon, the engine has not yet recorded it).
PROGRESS = re.compile(r"^\[modelstack\] (?:(pushed) localhost:\d+/(\S+?):|(started) container \S+ for (\S+) )")


@dataclass
class KillRun:
    killed: bool  # False: the run ended by itself before the kill point
    returncode: int | None
    points: list[str] = field(default_factory=list)  # every kill point passed, in order
    output: str = ""


def kill_points_of(events: list[dict]) -> list[str]:
    """The kill points an engine run passed, in the order of its event log: each resource step's
    start ("create diabetes-image"; "same" is no step) and the providers' progress lines inside a
    step ("diabetes pushed", "diabetes started")."""
    points = []
    for event in events:
        pre = event.get(STEP_EVENT)
        if pre:
            metadata = pre.get("metadata", {})
            if metadata.get("op") not in (None, "same", "read"):
                points.append(f"{metadata['op']} {str(metadata.get('urn', '')).rsplit('::', 1)[-1]}")
            continue
        message = (event.get("diagnosticEvent") or {}).get("message", "")
        match = PROGRESS.match(message)
        if match:
            points.append(f"{match[2] or match[4]} {match[1] or match[3]}")
    return points


def read_events(path: Path, offset: int) -> tuple[list[dict], int]:
    """Whole JSON lines written to the event log after `offset`, and the offset after them."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            chunk = log.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    events = [json.loads(line) for line in chunk[:end].splitlines() if line.strip()]
    return events, offset + end


def session_members(session: int) -> list[int]:
    """The processes of a session (by /proc), the leader first."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] not in ("Z", "X"):  # state, ppid, pgrp, session
            members.append(int(entry))
    return sorted(members, key=lambda pid: pid != session)


def kill_session(session: int) -> None:
    """SIGKILL every process of the session `session` (started here with start_new_session),
    again until none is left (one may have started a child between the listing and the kill)."""
    for _ in range(50):
        members = session_members(session)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def run_and_kill(
    args: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    event_log: Path,
    kill_at: int | None,
    timeout: float = 900,
) -> KillRun:
    """Run the engine (`args` without --event-log) and SIGKILL its whole session once it has
    passed the `kill_at`-th kill point (1-based); None lets it run to its end."""
    event_log.unlink(missing_ok=True)
    output_path = event_log.with_suffix(".out")
    with open(output_path, "wb") as output:
        proc = subprocess.Popen(
            [*args, "--event-log", str(event_log)],
            cwd=cwd,
            # The event log is a debug flag of the engine (as the Automation API uses it).
            env={**env, "PULUMI_DEBUG_COMMANDS": "true"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    events: list[dict] = []
    offset = 0
    killed = False
    deadline = time.monotonic() + timeout
    try:
        while True:
            fresh, offset = read_events(event_log, offset)
            events += fresh
            if kill_at is not None and len(kill_points_of(events)) >= kill_at:
                kill_session(proc.pid)
                killed = True
                break
            if proc.poll() is not None:
                fresh, offset = read_events(event_log, offset)
                events += fresh
                break
            if time.monotonic() > deadline:
                kill_session(proc.pid)
                raise AssertionError(f"{' '.join(args)} ran longer than {timeout:.0f}s")
            time.sleep(0.02)
    finally:
        returncode = proc.wait()
    return KillRun(killed, returncode, kill_points_of(events), output_path.read_text(errors="replace"))


def sample_kill_points(count: int, total: int, seed: int) -> list[int]:
    """`count` distinct kill points of 1..total, chosen by `seed` (printed so a run replays)."""
    import random

    return sorted(random.Random(seed).sample(range(1, total + 1), min(count, total)))


# --- one kill point, recovered and checked (the kill test and benchmarks/kill_recovery.py) ---------

FROM_NOTHING, MODEL_CHANGE = "up from nothing", "model-change up"


@dataclass
class KillPoint:
    scenario: str
    at: int  # the kill point (1-based) the engine was killed at
    step: str = ""  # that kill point, as the event log named it
    killed: bool = False
    leaked_before: list[str] = field(default_factory=list)  # after the kill, before recovery
    found: list[str] = field(default_factory=list)  # what `modelstack recover` reported doing
    leaked_after: list[str] = field(default_factory=list)  # after recover and the next up
    serving: list[str] = field(default_factory=list)  # services answering when recovery began
    failed_during_recover: int = 0  # their failed requests while recovery ran
    seconds: float = 0.0


def state_of(engine) -> dict:
    return json.loads(engine.run("stack", "export").stdout).get("deployment", {})


def leaks(engine, docker_client, registry_port: int, tags_before: set[str]) -> list[str]:
    """What exists for the stack that its state does not know: containers labelled with the stack,
    registry tags pushed since `tags_before`, the killed engine's orphaned plugins, and locks."""
    from components.resource_types import LOCAL_WEBSERVICE, SERVICE_IMAGE
    from components.state.recover import orphaned_plugins

    exported = engine.run("stack", "export", check=False)
    unreadable = [] if exported.returncode == 0 else [f"checkpoint unreadable ({exported.stderr.strip()[-80:]})"]
    deployment = json.loads(exported.stdout).get("deployment", {}) if not unreadable else {}
    resources = deployment.get("resources") or []
    containers = {r.get("id") for r in resources if r.get("type") == LOCAL_WEBSERVICE}
    images = {r.get("id") for r in resources if r.get("type") == SERVICE_IMAGE}
    found = [
        f"container {c.name} ({c.status})"
        for c in docker_client.containers.list(all=True, filters={"label": f"modelstack.stack={engine.stack}"})
        if c.id not in containers
    ]
    found += [f"tag {tag}" for tag in sorted(registry_tags(registry_port) - tags_before - images)]
    found += [f"process {pid} ({Path(cmd[0]).name})" for pid, cmd in orphaned_plugins(engine.root)]
    locks = Path(engine.env["PULUMI_BACKEND_URL"].removeprefix("file://")) / ".pulumi" / "locks"
    found += [f"lock {p.name}" for p in locks.rglob("*.json")] if locks.is_dir() else []
    found += [
        f"pending {p['type']} {p['resource']['urn'].rsplit('::', 1)[-1]}"
        for p in deployment.get("pending_operations") or []
    ]
    return unreadable + found


def registry_tags(port: int) -> set[str]:
    """Every `localhost:PORT/repo:tag` the registry on `port` has (empty when it does not answer)."""
    import urllib.error

    from components.targets.local.registry_server import catalog, tags

    try:
        return {f"localhost:{port}/{repo}:{tag}" for repo in catalog(port) for tag in tags(port, repo)}
    except (OSError, urllib.error.URLError):
        return set()


def recover(engine) -> str:
    """`modelstack recover --stack` on the engine's stack, as a user runs it; its output."""
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "components.commands.cli", "recover", "--stack", engine.stack],
        cwd=engine.root,
        env={**engine.env, "MODELSTACK_PROJECT_DIR": str(engine.root), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise AssertionError(f"modelstack recover exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def answering(uris: dict[str, str]) -> list[str]:
    """The services (of name -> scoring_uri) that answer a scoring request now."""
    return [name for name, uri in uris.items() if _scores(uri)]


def _scores(uri: str) -> bool:
    import requests

    try:
        return requests.post(uri, json=SAMPLE, timeout=5).status_code == 200
    except requests.RequestException:
        return False


SAMPLE = {"data": [[0.038, 0.051, 0.062, 0.022, -0.044, -0.035, -0.043, -0.003, 0.020, -0.018]]}


class Poller:
    """Scores each of `uris` in a loop on a thread until stopped; counts the failed requests."""

    def __init__(self, uris: dict[str, str]):
        import threading

        self.uris, self.failed, self.sent = uris, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for uri in self.uris.values():
                self.sent += 1
                self.failed += 0 if _scores(uri) else 1
            self._stop.wait(0.1)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def scoring_uris(engine) -> dict[str, str]:
    """name -> scoring_uri of the services the stack's outputs name (none before a first up)."""
    result = engine.run("stack", "output", "--json", check=False)
    if result.returncode != 0 or not result.stdout.strip():
        return {}
    services = json.loads(result.stdout).get("services") or {}
    return {name: s["scoring_uri"] for name, s in services.items() if s.get("scoring_uri")}


def kill_recover_converge(engine, docker_client, registry_port: int, scenario: str, at: int) -> KillPoint:
    """Kill `up` at step `at`, recover, `up`; assert a Healthy stack, no changes left and no leak."""
    started = time.monotonic()
    point = KillPoint(scenario, at)
    tags_before = registry_tags(registry_port)
    uris_before = scoring_uris(engine)
    run = run_and_kill(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", engine.stack, "--non-interactive"],
        cwd=engine.root,
        env=engine.env,
        event_log=engine.root.parent / f"events-{at}.jsonl",
        kill_at=at,
    )
    point.killed = run.killed
    point.step = run.points[at - 1] if len(run.points) >= at else ""
    assert run.killed, f"{scenario}: the up passed {len(run.points)} kill points, not {at}:\n{run.output[-3000:]}"
    point.leaked_before = leaks(engine, docker_client, registry_port, tags_before)
    point.serving = answering(uris_before)
    with Poller({name: uris_before[name] for name in point.serving}) as poller:
        output = recover(engine)
    point.failed_during_recover = poller.failed
    point.found = [line for line in output.splitlines() if ": " in line and not line.startswith("stack ")]
    engine.run("up", "--yes", "--skip-preview")
    services = engine.outputs()
    for name, service in services.items():
        assert service["state"] == "Healthy", (name, service)
        assert _scores(service["scoring_uri"]), f"{name} does not answer at {service['scoring_uri']}"
    engine.run("preview", "--expect-no-changes")
    point.leaked_after = leaks(engine, docker_client, registry_port, tags_before)
    point.seconds = time.monotonic() - started
    return point


def reset_to_nothing(engine, docker_client, registry_port: int) -> None:
    """The stack with no resources and its registry empty, so `up` builds, pushes and starts all
    (after recovering it, should a kill point before have left it locked or unreadable)."""
    import shutil

    recover(engine)
    engine.run("destroy", "--yes", "--skip-preview")
    for container in docker_client.containers.list(all=True, filters={"label": f"modelstack.stack={engine.stack}"}):
        container.remove(force=True)
    from components.targets.local.registry_server import stop

    registry = engine.root / ".modelstack" / "registry" / str(registry_port)
    stop(str(registry / "run"))  # one the state did not know (destroy stops the one it knows)
    shutil.rmtree(registry, ignore_errors=True)


def change_model(root: Path, alpha: float) -> None:
    """Retrain the multi service's lasso model with `alpha`: a new model version, so the next `up`
    replaces that service's image and container."""
    import joblib
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Lasso

    features, target = load_diabetes(return_X_y=True)
    joblib.dump(Lasso(alpha=alpha).fit(features, target), root / "examples" / "diabetes" / "model" / "lasso.joblib")


def up_points(engine) -> list[str]:
    """Run `up` to its end and return the kill points it passed."""
    run = run_and_kill(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", engine.stack, "--non-interactive"],
        cwd=engine.root,
        env=engine.env,
        event_log=engine.root.parent / "events-reference.jsonl",
        kill_at=None,
    )
    assert run.returncode == 0, run.output[-3000:]
    return run.points
