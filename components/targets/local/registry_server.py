"""The `kind: local` container registry's server: Debian's `docker-registry` on 127.0.0.1.

The registry is the Distribution registry server (`docker-registry serve CONFIG`), run as a
detached process that outlives whoever started it (a `pulumi up`, a test), with its pidfile,
config and log in a state directory. Docker pushes to and pulls from `localhost:PORT/...`
without any daemon setting, because Docker treats 127.0.0.0/8 registries as insecure-allowed.

Plain functions that know nothing of Pulumi: `render_config`, `start`, `is_running`, `stop`,
and the registry's API as the tests and `promote` read it (`catalog`, `tags`).
`components.targets.local.registry` wraps them in a Pulumi resource.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import yaml

from components.errors import ModelstackError
from components.targets.local.processes import (
    alive,
    cmdline,
    forget,
    read_from,
    remove_file,
    terminate,
    track,
    write_atomic,
)

#: The Debian package's server binary (github.com/docker/distribution, 2.8 in bookworm).
BINARY = "docker-registry"
#: The stack config key that declares this registry (`kind: local`).
CONFIG_KEY = "modelstack:registry"

PIDFILE = "registry.pid"
CONFIG_FILE = "config.yml"
LOG_FILE = "registry.log"

_INSTALL_FIX = "install it: `sudo scripts/install-system-deps.sh` (Debian/Ubuntu package `docker-registry`)"


@dataclasses.dataclass(frozen=True)
class RegistryProcess:
    """A running registry started by `start()`."""

    pid: int
    port: int
    root_dir: str
    state_dir: str

    @property
    def address(self) -> str:
        """What `docker push`/`docker pull` use: `localhost:PORT`."""
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> str:
        return os.path.join(self.state_dir, CONFIG_FILE)

    @property
    def log_path(self) -> str:
        return os.path.join(self.state_dir, LOG_FILE)


# --- configuration ---------------------------------------------------------------------------


def render_config(port: int, root: str) -> str:
    """The registry's config.yml for 127.0.0.1:`port` with its blobs under `root` (pure).

    Debian's docker-registry 2.8 needs `version: 0.1` as a string, and its packaged
    /etc/docker/registry/config.yml turns on htpasswd auth and listens on :5000 on all
    interfaces; this config has neither: loopback only, no auth, no TLS.
    """
    check_port(port)
    if not root or not str(root).strip():
        raise ValueError("root must be a directory path")
    config = {
        "version": "0.1",
        "log": {
            "level": "warn",  # info logs every HTTP request
            "formatter": "text",
            "accesslog": {"disabled": True},
            "fields": {"service": "modelstack-local-registry"},
        },
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": f"127.0.0.1:{int(port)}",
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


# --- process control -------------------------------------------------------------------------


def start(port: int, root_dir: str, state_dir: str, *, timeout: float = 20.0) -> RegistryProcess:
    """Start the registry on 127.0.0.1:`port` storing under `root_dir`; wait until it answers.

    The process is detached (its own session) and outlives the caller; its pidfile, config
    and log live in `state_dir`. When the registry of `state_dir` already runs on `port`,
    that one is returned (idempotent). Raises `ModelstackError` when the binary is missing,
    the port is taken by something else, or the registry does not come up.
    """
    check_port(port)
    root = os.path.abspath(root_dir)
    state = os.path.abspath(state_dir)

    pid = _registry_pid(state)
    if pid is not None:
        running_port, running_root = _read_config(state)
        if (running_port, running_root) != (port, root):
            raise ModelstackError(
                f"the local registry of {state} already runs (pid {pid}) on port {running_port} "
                f"with root {running_root}, not as asked on port {port} with root {root}",
                key=CONFIG_KEY,
                rule="one local registry per state directory",
                fix=f"stop it first (components.targets.local.registry_server.stop({state!r}), or `kill {pid}`), then start again",
            )
        deadline = time.monotonic() + timeout
        while alive(pid):  # it may be starting right now (another caller)
            if _answers(port):
                return RegistryProcess(pid=pid, port=port, root_dir=root, state_dir=state)
            if time.monotonic() > deadline:
                raise ModelstackError(
                    f"the local registry of {state} runs (pid {pid}) but does not answer on http://127.0.0.1:{port}/v2/",
                    key=CONFIG_KEY,
                    rule="`kind: local` runs Debian's docker-registry on this machine",
                    fix=f"read {os.path.join(state, LOG_FILE)}; stop it (`kill {pid}`) and start again",
                )
            time.sleep(0.1)

    binary = shutil.which(BINARY)
    if binary is None:
        raise ModelstackError(
            f"`{BINARY}` (the Distribution registry server) is not installed, so the local registry cannot start",
            key=CONFIG_KEY,
            rule="`kind: local` runs Debian's docker-registry on this machine",
            fix=_INSTALL_FIX,
        )
    _check_port_free(port)

    os.makedirs(root, exist_ok=True)
    os.makedirs(state, exist_ok=True)
    config_path = os.path.join(state, CONFIG_FILE)
    log_path = os.path.join(state, LOG_FILE)
    write_atomic(config_path, render_config(port, root))

    # REGISTRY_* variables override the config file (e.g. REGISTRY_HTTP_ADDR); keep them out.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with open(log_path, "ab") as log:
        log_start = log.tell()
        log.write(f"---- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} start on 127.0.0.1:{port}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [binary, "serve", config_path],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=state,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    track(proc)
    write_atomic(os.path.join(state, PIDFILE), f"{proc.pid}\n")

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            forget(proc.pid)
            remove_file(os.path.join(state, PIDFILE))
            output = read_from(log_path, log_start)
            if "address already in use" in output:
                raise _port_taken(port)
            raise ModelstackError(
                f"the local registry exited during start-up (exit code {proc.returncode}); "
                f"last lines of {log_path}:\n    " + "\n    ".join(output.strip().splitlines()[-8:]),
                key=CONFIG_KEY,
                rule="`kind: local` runs Debian's docker-registry on this machine",
                fix=f"read {log_path}; check that {root} is writable",
            )
        if _answers(port):
            return RegistryProcess(pid=proc.pid, port=port, root_dir=root, state_dir=state)
        time.sleep(0.1)

    terminate(proc.pid)
    remove_file(os.path.join(state, PIDFILE))
    raise ModelstackError(
        f"the local registry did not answer on http://127.0.0.1:{port}/v2/ within {timeout:.0f} s (stopped it again)",
        key=CONFIG_KEY,
        rule="`kind: local` runs Debian's docker-registry on this machine",
        fix=f"read {log_path}",
    )


def is_running(state_dir: str, port: int) -> bool:
    """The registry of `state_dir` runs (its pidfile names a live registry, configured for
    `port`) and answers `GET /v2/` on `port`."""
    state = os.path.abspath(state_dir)
    return _registry_pid(state) is not None and _read_config(state)[0] == port and _answers(port)


def stop(state_dir: str, *, timeout: float = 15.0) -> bool:
    """Stop the registry of `state_dir` by the PID in its pidfile and wait until it has exited.

    Returns True when a registry was stopped, False when none was running. Only a process
    that is this state directory's registry is signalled (a reused PID is left alone).
    """
    state = os.path.abspath(state_dir)
    pidfile = os.path.join(state, PIDFILE)
    pid = _registry_pid(state)
    if pid is None:
        remove_file(pidfile)
        return False
    terminate(pid, timeout=timeout)
    remove_file(pidfile)
    return True


# --- the registry's API ---------------------------------------------------------------------


def catalog(port: int, *, timeout: float = 10.0) -> list[str]:
    """The repositories in the registry on 127.0.0.1:`port` (`GET /v2/_catalog`)."""
    repos: list[str] = []
    path: str | None = "/v2/_catalog?n=1000"
    while path:
        body, link = _get_json(port, path, timeout)
        repos.extend(body.get("repositories") or [])
        path = _next_link(link)
    return repos


def tags(port: int, repository: str, *, timeout: float = 10.0) -> list[str]:
    """The tags of `repository` in the registry on 127.0.0.1:`port` ([] when it has none)."""
    try:
        body, _ = _get_json(port, f"/v2/{repository}/tags/list", timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    return body.get("tags") or []


# No proxy for loopback: http_proxy/HTTP_PROXY in the environment must not catch 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(port: int, path: str, timeout: float) -> tuple[dict, str | None]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": "application/json"})
    with _opener.open(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}"), resp.headers.get("Link")


def _next_link(link: str | None) -> str | None:
    # RFC 5988: </v2/_catalog?last=x&n=1000>; rel="next"
    if link and 'rel="next"' in link and "<" in link:
        return link[link.index("<") + 1 : link.index(">")]
    return None


# --- helpers ------------------------------------------------------------------------------


def check_port(port: Any) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ModelstackError(
            f"port {port!r} is not a TCP port",
            key=f"{CONFIG_KEY}.port",
            rule="a port is an integer from 1 to 65535",
            fix="set an unused port such as 5001 (5000 is taken by macOS AirPlay and by Debian's own docker-registry service)",
        )


def _answers(port: int, timeout: float = 2.0) -> bool:
    """A Distribution registry answers `GET /v2/` on 127.0.0.1:`port`."""
    try:
        with _opener.open(f"http://127.0.0.1:{port}/v2/", timeout=timeout) as resp:
            return resp.status == 200 and "registry/2.0" in resp.headers.get("Docker-Distribution-Api-Version", "")
    except urllib.error.HTTPError as exc:  # 401: a registry with auth still answers
        return exc.code == 401 and "registry/2.0" in (exc.headers.get("Docker-Distribution-Api-Version") or "")
    except (OSError, ValueError):
        return False


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as Go's listener does: sockets of a previous registry in TIME_WAIT do not block the port
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise _port_taken(port) from None
            raise


def _port_taken(port: int) -> ModelstackError:
    what = "another registry not started from this state directory" if _answers(port) else "another process"
    return ModelstackError(
        f"port {port} on 127.0.0.1 is already in use by {what}, so the local registry cannot listen there",
        key=f"{CONFIG_KEY}.port",
        rule="the local registry needs a free TCP port on 127.0.0.1",
        fix=f"choose another port for {CONFIG_KEY}.port, or stop what listens there (`ss -ltnp 'sport = :{port}'` shows it)",
    )


def _registry_pid(state: str) -> int | None:
    """The PID in `state`'s pidfile when that process is alive and is this state dir's registry."""
    try:
        with open(os.path.join(state, PIDFILE)) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    if not alive(pid):
        return None
    args = cmdline(pid)
    if args is not None:  # Linux: make sure the PID was not reused by something else
        config_path = os.path.join(state, CONFIG_FILE)
        if not any(os.path.basename(a) == BINARY for a in args[:1]) or config_path not in args:
            return None
    return pid


def _read_config(state: str) -> tuple[int | None, str | None]:
    """(port, root directory) from the config.yml in `state`, None where unreadable."""
    try:
        with open(os.path.join(state, CONFIG_FILE)) as f:
            config = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError):
        return None, None
    try:
        port = int(str(config["http"]["addr"]).rsplit(":", 1)[1])
    except (KeyError, TypeError, ValueError, IndexError):
        port = None
    try:
        root = str(config["storage"]["filesystem"]["rootdirectory"])
    except (KeyError, TypeError):
        root = None
    return port, root


def unrecorded_servers(registry_root: str) -> list[tuple[int, str]]:
    """(pid, state directory) of registry processes serving a config under `registry_root` (the
    project's `.modelstack/registry/`) that their state directory's pidfile does not name: a start
    cut short between the process starting and its pidfile being written (the engine killed), or a
    state directory removed under a running registry. Nothing can stop them by pidfile, and they
    hold their port, so the next start there fails."""
    root = os.path.abspath(registry_root)
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        args = cmdline(int(entry)) or []
        if len(args) < 3 or os.path.basename(args[0]) != BINARY or args[1] != "serve":
            continue
        config_path = args[2]
        state = os.path.dirname(config_path)
        if not config_path.startswith(root + os.sep) or os.path.basename(config_path) != CONFIG_FILE:
            continue
        if _registry_pid(state) != int(entry) and alive(int(entry)):
            found.append((int(entry), state))
    return found
