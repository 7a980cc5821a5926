"""Starting the server: azmlinfsrv's flags, settings, the entry script, then uvicorn.

What no client can hold (all in Settings, from the environment):
- a connection that has not finished sending a request's headers within
  MODELSTACK_HEADER_TIMEOUT_SECONDS (10) is closed, whether it sends nothing or a byte a
  second; the clock starts when the connection opens or the next request's first byte comes;
- a body that has not arrived within MODELSTACK_BODY_TIMEOUT_SECONDS (30) gets 408;
- an idle keep-alive connection is closed after MODELSTACK_KEEP_ALIVE_SECONDS (75);
- past MODELSTACK_MAX_CONNECTIONS (1024) open connections, requests get 503 at once;
- run() is called one request at a time per worker, once the request's body is complete.

WORKER_COUNT processes are forked after the socket is bound (each loads the script and runs
init(), as azmlinfsrv's gunicorn workers do); a /score request that reaches a worker whose run()
is busy is scored by an idle sibling (peers.py). With one worker there is no supervisor process.
Exit codes: 2 for bad settings, 3 when the script cannot be loaded or init() raised
(azmlinfsrv's boot error).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
import signal
import socket
import sys
import traceback

from . import __version__, log_capture, tls
from .contract import DRAIN_MARGIN_SECONDS, HEALTH_PORT_ENV, SECRET_ENVS
from .settings import (
    AML_CORS_ORIGINS_ENV,
    APP_INSIGHTS_ENABLED_ENV,
    APP_INSIGHTS_KEY_ENV,
    APP_ROOT_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    ENTRY_SCRIPT_ENV,
    MODEL_DIR_ENV,
    WORKER_COUNT_ENV,
    Settings,
    SettingsError,
)

BOOT_ERROR = 3
SETTINGS_ERROR = 2
MODEL_DIR_LISTING_LIMIT = 200
logger = logging.getLogger("azmlinfsrv")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m modelstack_server",
        description=f"modelstack's scoring server {__version__} (azmlinfsrv's contract)",
    )
    parser.add_argument("--entry_script", help="the scoring script (absolute, or relative to the current folder)")
    parser.add_argument("--model_dir", help="sets AZUREML_MODEL_DIR")
    parser.add_argument(
        "--port", type=int, help=f"the port to serve on (default {DEFAULT_PORT}; 0 lets the kernel pick)"
    )
    parser.add_argument(
        "--worker_count",
        type=int,
        help="worker processes, each serving one request at a time (WORKER_COUNT, default 1)",
    )
    parser.add_argument("--access_control_allow_origins", help="AML_CORS_ORIGINS: origins allowed by azmlinfsrv's CORS")
    parser.add_argument("--appinsights_instrumentation_key", help="turns App Insights on with this key")
    parser.add_argument("--host", default=DEFAULT_HOST, help="the address to bind (default 0.0.0.0)")
    return parser.parse_args(argv)


def fold_arguments_into_environ(args: argparse.Namespace, environ) -> None:
    """As azmlinfsrv: flags win over the environment; AML_APP_ROOT defaults to the current folder."""
    environ.setdefault(APP_ROOT_ENV, os.getcwd())
    if args.entry_script:
        environ[ENTRY_SCRIPT_ENV] = os.path.realpath(args.entry_script)
    if args.model_dir is not None:
        environ[MODEL_DIR_ENV] = args.model_dir
    if args.worker_count is not None:
        environ[WORKER_COUNT_ENV] = str(args.worker_count)
    if args.port is not None:
        environ["SERVER_PORT"] = str(args.port)
    if args.access_control_allow_origins is not None:
        environ[AML_CORS_ORIGINS_ENV] = args.access_control_allow_origins
    if args.appinsights_instrumentation_key is not None:
        environ[APP_INSIGHTS_ENABLED_ENV] = "true"
        environ[APP_INSIGHTS_KEY_ENV] = args.appinsights_instrumentation_key


def write_tls_files(settings: Settings) -> tuple[str, str] | None:
    if not (settings.tls_cert and settings.tls_key):  # both or neither (settings.tls_pair)
        return None
    return tls.write_tls_files(settings.tls_cert, settings.tls_key)


def _start_app_insights(settings: Settings):
    if not settings.app_insights_enabled:
        return None  # OpenTelemetry and the Azure Monitor exporter are never imported
    from azureml_inference_server_http.server.appinsights_client import AppInsightsClient

    return AppInsightsClient()


def _start_request_telemetry(settings: Settings):
    if not settings.app_insights_connection_string:
        return None  # OpenTelemetry and the Azure Monitor exporter are never imported
    import atexit

    from .telemetry import RequestTelemetry

    telemetry = RequestTelemetry(settings.app_insights_connection_string, settings.service_name)
    atexit.register(telemetry.shutdown)
    return telemetry


def _list_model_dir(settings: Settings) -> None:
    folder = settings.model_dir
    if not folder or not os.path.isdir(folder):
        return
    logger.info("Model Directory Contents:")
    lines = (
        os.path.relpath(os.path.join(root, name), folder)
        for root, dirs, files in sorted(os.walk(folder))
        for name in sorted(dirs + files)
    )
    for line in itertools.islice(lines, MODEL_DIR_LISTING_LIMIT):
        logger.info(line)


def load_application(settings: Settings, peers=None):
    """The script loaded and init() run; exits with azmlinfsrv's boot error code when either fails."""
    from .app import ScoringApp
    from .entry_script import ScriptError, load

    try:
        script = load(settings.entry_script, settings.app_root, settings.source_dir)
    except ScriptError as error:
        logger.error(f"{error}\n{traceback.format_exc()}")
        sys.exit(BOOT_ERROR)
    logger.info(f"Found user script at {settings.entry_script}; run() is called with {script.kind} input")
    app_insights = _start_app_insights(settings)
    telemetry = _start_request_telemetry(settings)
    logger.info("Invoking user's init function")
    try:
        script.init()
    except BaseException:
        logger.error("User's init function failed")
        logger.error(f"Encountered Exception {traceback.format_exc()}")
        _list_model_dir(settings)
        sys.exit(BOOT_ERROR)
    logger.info("Users's init has completed successfully")
    app = ScoringApp(settings, script, app_insights=app_insights, peers=peers, telemetry=telemetry)
    _limit_bodies_to_memory(app, settings)
    return app


def _limit_bodies_to_memory(app, settings: Settings) -> None:
    """Measured once init() has run: what the worker holds is then known (memory.py)."""
    from . import memory

    memory_bytes = settings.memory_limit_bytes or memory.read_cgroup_limit()
    per_body_byte = settings.memory_per_body_byte or memory.DEFAULT_MEMORY_PER_BODY_BYTE
    app.limit_bodies_to_memory(memory_bytes, settings.worker_count, memory.resident_bytes(), per_body_byte)
    if memory_bytes is not None:
        logger.info(
            f"Memory {memory_bytes // 2**20} MiB for {settings.worker_count} worker(s): request bodies up to {app.max_request_bytes} bytes"
        )


def raise_open_file_limit() -> None:
    """Each connection is a file descriptor: the soft limit (often 1024) is raised to the hard one,
    so MODELSTACK_MAX_CONNECTIONS connections and the idle ones being closed fit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 65536), hard)
            )
        except (ValueError, OSError):
            pass


def peered_server(config, peer_listener: socket.socket):
    """uvicorn's Server that also serves siblings' passed-on requests on this worker's private
    Unix socket (peers.py): plain HTTP, marked in the scope so they are never passed on again."""
    import asyncio
    import copy
    import functools

    import uvicorn

    from .peers import FORWARDED_SCOPE_KEY

    class PeeredServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.should_exit:
                return
            public_app = self.config.loaded_app

            async def forwarded_app(scope, receive, send):
                await public_app({**scope, FORWARDED_SCOPE_KEY: True}, receive, send)

            private = copy.copy(self.config)
            private.loaded_app, private.ssl = forwarded_app, None
            # uvicorn types the class as asyncio.Protocol; its HTTP protocols take these arguments
            factory = functools.partial(
                private.http_protocol_class,
                config=private,
                server_state=self.server_state,
                app_state=self.lifespan.state,
            )  # type: ignore[call-arg]
            self.servers.append(await asyncio.get_running_loop().create_unix_server(factory, sock=peer_listener))

    return PeeredServer(config)


def serve(
    settings: Settings,
    tls_files,
    sock: socket.socket | None = None,
    peers=None,
    peer_listener: socket.socket | None = None,
) -> None:
    import uvicorn

    from .protocol import scoring_protocol

    app = load_application(settings, peers)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=scoring_protocol(settings.connection_limits()),
        lifespan="on",  # shutdown stops the scoring thread before the loop closes (scoring.py)
        access_log=False,  # one line per scoring request comes from the app, in azmlinfsrv's format
        log_config=None,
        log_level="warning",
        server_header=False,
        # uvicorn's annotation says int; it only hands the value to loop.call_later, which takes fractions
        timeout_keep_alive=settings.keep_alive_seconds,  # type: ignore[arg-type]
        limit_concurrency=None,  # the cap is protocol.py's: idle connections give way first
        # Requests in flight finish when the container is asked to stop (rolling updates).
        timeout_graceful_shutdown=math.ceil(settings.scoring_timeout_ms / 1000) + DRAIN_MARGIN_SECONDS,
        ssl_certfile=tls_files[0] if tls_files else None,
        ssl_keyfile=tls_files[1] if tls_files else None,
    )
    server = peered_server(config, peer_listener) if peer_listener is not None else uvicorn.Server(config)
    logger.info(f"Worker with pid {os.getpid()} ready for serving traffic")
    server.run(sockets=[sock] if sock is not None else None)


def bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.create_server((settings.host, settings.port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


def serve_workers(settings: Settings, tls_files) -> None:
    """WORKER_COUNT forked workers on one socket; a worker that dies is replaced, unless it failed
    to boot (then the server stops with its code, as gunicorn's master does). A request that
    reaches a busy worker is scored by an idle one (peers.py)."""
    from .peers import Peers

    metrics_folder = None
    if settings.metrics_enabled:  # every worker's values in files a scrape of any worker reads
        from .metrics import prepare_multiprocess

        metrics_folder = prepare_multiprocess(os.environ)
    sock = bind(settings)
    peers = Peers(settings.worker_count)
    print(
        f"modelstack server: listening on {settings.host}:{sock.getsockname()[1]} with {settings.worker_count} workers",
        flush=True,
    )
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def start_worker(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                serve(settings, tls_files, sock, peers, peers.become(index))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            finally:
                os._exit(code)
        children[pid] = index

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(settings.worker_count):
        start_worker(index)
    code = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        exited = children.pop(pid, None)  # None: not one of the workers
        if exited is not None and settings.metrics_enabled:
            from .metrics import worker_exited

            worker_exited(pid)
        worker_code = os.waitstatus_to_exitcode(status)
        if stopping or exited is None:
            continue
        if worker_code == BOOT_ERROR:
            code = BOOT_ERROR
            stop(None, None)
        else:
            logger.warning(f"worker {pid} exited with {worker_code}; starting another")
            start_worker(exited)
    if settings.metrics_enabled and metrics_folder is not None:
        import shutil

        shutil.rmtree(metrics_folder, ignore_errors=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    fold_arguments_into_environ(args, os.environ)
    try:
        settings = Settings.from_environ(os.environ, host=args.host, server_version=f"modelstack-server/{__version__}")
    except SettingsError as error:
        print(f"modelstack server: {error}", file=sys.stderr)
        raise SystemExit(SETTINGS_ERROR) from None
    tls_files = write_tls_files(settings)
    if tls_files:
        refused = tls.refusal(*tls_files)
        if refused:
            print(f"modelstack server: {refused}", file=sys.stderr)
            raise SystemExit(SETTINGS_ERROR)
    # As azmlinfsrv, without a separate health listener: the liveness probe is on the scoring port.
    os.environ[HEALTH_PORT_ENV] = str(settings.port)
    # As azmlinfsrv: the script finds whether App Insights is on, "true" or "false", never unset.
    os.environ[APP_INSIGHTS_ENABLED_ENV] = "true" if settings.app_insights_enabled else "false"
    raise_open_file_limit()
    for name in SECRET_ENVS:
        # Out of os.environ, so the entry script does not find them there and its child processes
        # do not inherit them. Not a wall: the entry script runs in this process, and the
        # process's initial environment (/proc/self/environ) still holds variables it started with.
        os.environ.pop(name, None)
    log_capture.configure(settings.app_root, settings.entry_script)
    auth = (
        "token auth on"
        if settings.token_auth_enabled
        else "key auth on"
        if settings.auth_enabled
        else "no auth (Azure ML's local behaviour)"
    )
    logger.info(
        f"modelstack server {__version__}: {auth}; CORS origins: {', '.join(settings.cors_origins) or 'none'}; bodies up to {settings.max_request_bytes} bytes"
        f"{'; HTTPS' if tls_files else ''}{'; App Insights request telemetry on' if settings.app_insights_connection_string else ''}; scoring timeout {settings.scoring_timeout_ms} ms; {settings.worker_count} worker(s)"
    )
    if settings.worker_count == 1:
        serve(settings, tls_files)
    else:
        serve_workers(settings, tls_files)
