"""Detached processes this machine runs for a stack (the local registry): pidfiles, liveness
that sees through zombies and reused PIDs, and stopping by PID. Plain functions, no Pulumi."""

from __future__ import annotations

import os
import signal
import subprocess
import time

# Children started by this process, kept so they can be reaped (no zombies) and so their
# Popen objects are not collected while they run.
_children: dict[int, subprocess.Popen] = {}


def track(proc: subprocess.Popen) -> None:
    """Remember a child started here, so `alive` reaps it instead of seeing a zombie."""
    _children[proc.pid] = proc


def forget(pid: int) -> None:
    _children.pop(pid, None)


def cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except FileNotFoundError:
        return None if not os.path.isdir("/proc/self") else []
    except OSError:
        return None


def alive(pid: int) -> bool:
    """`pid` runs and is not a zombie (children of this process are reaped here)."""
    proc = _children.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return True
        _children.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def terminate(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM `pid`, wait up to `timeout` s, then SIGKILL; return once it has exited."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        _children.pop(pid, None)
        return
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            deadline = float("inf")
        time.sleep(0.05)
    _children.pop(pid, None)


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def remove_file(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def read_from(path: str, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""
