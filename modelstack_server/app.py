"""The ASGI application: modelstack's front (CORS preflight, key auth, body limit), then
azmlinfsrv's routes with its status codes, messages and headers.

Routes, as azmlinfsrv's Flask app has them:
  GET|HEAD /             "Healthy" (never needs a key)
  GET|POST|OPTIONS /score   run(); OPTIONS reaches run() only with @rawhttp, else 200 empty
  GET /swagger.json?version=...
  OPTIONS on / and /swagger.json: 200 with Allow; other methods 405, other paths 404
On these three routes: request ids, x-ms-server-version, TraceId echoed, AML_CORS_ORIGINS.
modelstack's own: GET|HEAD /metrics, Prometheus metrics (metrics.py), behind the key or token
unless MODELSTACK_METRICS_AUTH is false; and on every response x-modelstack-version, the rollout
version that answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from functools import partial
from typing import Any

from . import cors, log_capture
from .contract import METRICS_ROUTE, VERSION_HEADER
from .entry_script import (
    RAW,
    EntryScript,
    InputError,
    UnsupportedMethod,
    flask_response_type,
    raw_request,
    run_arguments,
    title_case_headers,
)
from .input_errors import schema_refusal
from .keys import refusal
from .peers import FORWARDED_SCOPE_KEY
from .request_ids import request_ids
from .scoring import RunFailed, ScoringTimeout, SerialScorer
from .settings import Settings
from .swagger import SwaggerDocuments, SwaggerNotFound
from .tokens import token_refusal

logger = logging.getLogger("azmlinfsrv")

TEXT_HTML = "text/html; charset=utf-8"
NOT_FOUND = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."
RUN_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."
INTERNAL_ERROR = "An unexpected internal error occurred. Check the logs for more info."
# Flask's message for an exception outside run() (werkzeug's InternalServerError), as azmlinfsrv answers
# a response run() returned that cannot be turned into bytes.
SERVER_ERROR = "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application."
NOT_JSON = "run() returned NaN or Infinity, which JSON cannot represent; return None (null) or a string for such values"
# Bodies this large are parsed through the scorer, off the event loop and within the timeout
# (about 0.06 s per MiB of JSON): smaller ones are parsed in place, which costs less than the hop.
PARSE_THROUGH_SCORER_BYTES = 1024 * 1024
GATHERED_TOO_LARGE = "the streamed answer is larger than {limit} bytes, the most gathered whole for an HTTP/1.0 client; call over HTTP/1.1 to receive it streamed"
AMBIGUOUS_CREDENTIALS = "the request has more than one Authorization header; send one"
ROUTES = {
    "/": ("GET", "HEAD", "OPTIONS"),
    "/score": ("GET", "HEAD", "POST", "OPTIONS"),
    "/swagger.json": ("GET", "HEAD", "OPTIONS"),
}
AUTOMATIC_ALLOW = "GET, HEAD, OPTIONS"

Headers = list  # [(name, value)] as str
# The ids the server sets on every answer (request_ids.py); a script's own are replaced, as azmlinfsrv
# replaces them, never sent twice.
ID_HEADERS = ("x-request-id", "x-ms-request-id", "x-ms-client-request-id")


class StreamedBody:
    """A response run() returned over an iterator (an AMLResponse over a generator): sent item by
    item as the script produces them. Items are produced through the scorer, one call at a time
    like run() itself, each within SCORING_TIMEOUT_MS."""

    def __init__(self, response):
        self.response = response


def message(
    status: int, text: str, run_function_failed: bool = False, extra: Headers | tuple[()] = ()
) -> tuple[int, Headers, bytes]:
    body = json.dumps({"message": text}).encode()
    return (
        status,
        [("Content-Type", "application/json"), ("x-ms-run-function-failed", str(run_function_failed)), *extra],
        body,
    )


class ScoringApp:
    def __init__(
        self,
        settings: Settings,
        script: EntryScript,
        scorer: SerialScorer | None = None,
        app_insights=None,
        peers=None,
        telemetry=None,
    ):
        self.settings = settings
        self.peers = peers  # peers.Peers with WORKER_COUNT > 1: /score goes to a worker whose run() is free
        self.script = script
        self.scorer = scorer or SerialScorer(settings.scoring_timeout_ms, inline_after=settings.inline_after_calls)
        self.swagger = SwaggerDocuments(
            script.run, settings.app_root, settings.service_name, settings.service_version, settings.service_path_prefix
        )
        self.aml_cors = cors.AmlCors(settings.aml_cors_origins)
        self.app_insights = app_insights
        self.telemetry = telemetry  # telemetry.RequestTelemetry with enable_app_insights, else None
        self.max_request_bytes = settings.max_request_bytes
        self.too_large = f"the request body is larger than {self.max_request_bytes} bytes"
        self.version = settings.rollout_version
        self._version_header = (VERSION_HEADER.encode(), self.version.encode("latin-1"))
        self.metrics = _metrics(settings)

    def limit_bodies_to_memory(
        self, memory_bytes: int | None, workers: int, held_bytes: int, per_body_byte: float
    ) -> None:
        """Lowers the body limit to what this worker's share of the replica's memory holds (memory.py)."""
        from .memory import body_limit

        self.max_request_bytes = body_limit(
            self.settings.max_request_bytes, memory_bytes, workers, held_bytes, per_body_byte
        )
        if (
            memory_bytes is not None and self.max_request_bytes < self.settings.max_request_bytes
        ):  # lowered: a memory size is known
            self.too_large = (
                f"the request body is larger than {self.max_request_bytes} bytes, the most this replica's memory "
                f"({memory_bytes // 2**20} MiB{f' for {workers} workers' if workers > 1 else ''}) can hold while it is scored"
            )

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await self.scorer.aclose()  # the scoring thread ends before the loop it reports to
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope, receive, send) -> None:
        """Every response names the version; each request the client sent (not one a sibling
        worker passed on: that one was counted where it arrived) is counted and timed."""
        forwarded = _forwarded(scope)
        version_header = self._version_header
        metrics = None if forwarded else self.metrics
        status = 500  # uvicorn's answer when the app raises before it answered

        async def send_named(event) -> None:
            nonlocal status
            if event["type"] == "http.response.start":
                status = event["status"]
                if not forwarded:  # the worker that relays the answer names the version
                    event["headers"].append(version_header)
            await send(event)

        if metrics is None:
            return await self._handle(scope, receive, send_named)
        started = time.perf_counter()
        metrics.in_flight.inc()
        try:
            await self._handle(scope, receive, send_named)
        finally:
            metrics.in_flight.dec()
            path = scope["path"]
            metrics.observe(_merge_slashes(path) if "//" in path else path, status, time.perf_counter() - started)

    async def _handle(self, scope, receive, send) -> None:
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        if "//" in path:  # `//score` is /score, as azmlinfsrv routes it (and run() sees /score)
            path = _merge_slashes(path)
            scope = {**scope, "path": path, "raw_path": _merge_slashes(scope.get("raw_path") or b"")}
        headers: dict[bytes, bytes] = {}
        repeated_authorization = False
        for name, value in scope["headers"]:
            if name in headers:
                repeated_authorization = repeated_authorization or name == b"authorization"
                headers[name] += b"," + value
            else:
                headers[name] = value
        settings = self.settings
        origin = _text(headers.get(b"origin"))
        front_cors: Headers = []
        if settings.cors_origins and origin and settings.origin_allowed(origin):
            front_cors = [("Access-Control-Allow-Origin", settings.allow_origin_value(origin)), ("Vary", "Origin")]

        requested_method = _text(headers.get(b"access-control-request-method"))
        if cors.is_preflight(method, origin, requested_method) and (
            settings.cors_origins or settings.auth_enabled or settings.token_auth_enabled
        ):
            if not front_cors:
                forbidden = json.dumps({"message": f"origin {origin} is not allowed to call this service"}).encode()
                return await _send(send, 403, [("Content-Type", "application/json"), ("Vary", "Origin")], forbidden)
            return await _send(
                send,
                204,
                cors.preflight_headers(front_cors[0][1], _text(headers.get(b"access-control-request-headers"))),
                b"",
            )

        if (
            (settings.auth_enabled or settings.token_auth_enabled)
            and not (path == "/" and method in ("GET", "HEAD"))
            and not (path == METRICS_ROUTE and not settings.metrics_auth)
        ):
            if repeated_authorization:  # which one counts differs from proxy to proxy: neither does
                return await _send(
                    send,
                    401,
                    [
                        ("Content-Type", "application/json"),
                        ("WWW-Authenticate", 'Bearer realm="modelstack", error="invalid_request"'),
                        *front_cors,
                    ],
                    json.dumps({"message": AMBIGUOUS_CREDENTIALS}).encode(),
                )
            if settings.token_auth_enabled:
                refused = token_refusal(headers.get(b"authorization"), settings.token_keys, settings.token_audience)
            else:
                refused = refusal(headers.get(b"authorization"), settings.keys)
            if refused:
                text, challenge = refused
                return await _send(
                    send,
                    401,
                    [("Content-Type", "application/json"), ("WWW-Authenticate", challenge), *front_cors],
                    json.dumps({"message": text}).encode(),
                )

        limit = self.max_request_bytes
        too_large = self.too_large
        length = headers.get(b"content-length")
        if length is not None:
            try:
                if int(length) > limit:
                    return await _send(
                        send,
                        413,
                        [("Content-Type", "application/json"), ("Connection", "close"), *front_cors],
                        json.dumps({"message": too_large}).encode(),
                    )
            except ValueError:
                return await _send(
                    send,
                    400,
                    [("Content-Type", "application/json"), ("Connection", "close"), *front_cors],
                    json.dumps({"message": "Content-Length is not a number"}).encode(),
                )
        body = await self._read_body(receive, limit)
        if body is None:
            timeout = f"the request body did not arrive within {settings.body_timeout_seconds:g} seconds"
            return await _send(
                send,
                408,
                [("Content-Type", "application/json"), ("Connection", "close"), *front_cors],
                json.dumps({"message": timeout}).encode(),
            )
        if body is False:
            return await _send(
                send,
                413,
                [("Content-Type", "application/json"), ("Connection", "close"), *front_cors],
                json.dumps({"message": too_large}).encode(),
            )

        if path == METRICS_ROUTE and self.metrics is not None:
            return await self._metrics(send, method, front_cors)
        if path == "/score" and self.peers is not None:
            status, response_headers, payload = await self._score_on_a_free_worker(
                scope, method, path, headers, body, started
            )
        else:
            status, response_headers, payload = await self._azureml(scope, method, path, headers, body, started)
        if front_cors:
            response_headers = cors.add_missing(response_headers, front_cors)
        if isinstance(payload, StreamedBody) and scope.get("http_version") == "1.0":
            # HTTP/1.0 has no chunked framing: the items are gathered and sent whole, with their length
            status, response_headers, payload = await self._gathered(status, response_headers, payload)
        if isinstance(payload, StreamedBody):
            await self._stream(receive, send, status, response_headers, payload, method)
        else:
            await _send(
                send, status, response_headers, b"" if method == "HEAD" else payload, content_length=len(payload)
            )
        if self.telemetry is not None and path != "/":  # not the health probe
            self._record(scope, method, path, headers, status, response_headers, started)

    async def _metrics(self, send, method: str, front_cors: Headers) -> None:
        if method not in ("GET", "HEAD"):
            status, headers, payload = message(405, METHOD_NOT_ALLOWED, extra=[("Allow", "GET, HEAD")])
            return await _send(send, status, [*headers, *front_cors], payload)
        payload, content_type = self.metrics.exposition()
        await _send(
            send,
            200,
            [("Content-Type", content_type), *front_cors],
            b"" if method == "HEAD" else payload,
            content_length=len(payload),
        )

    async def _stream(self, receive, send, status: int, headers: Headers, body: StreamedBody, method: str) -> None:
        """Each item as the script yields it, chunked. A generator that raises or runs past the
        timeout ends the response without its last chunk (the client sees it cut short); a
        client that goes away stops the generator."""
        raw = [(name.encode("latin-1"), str(value).encode("latin-1")) for name, value in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        gone = asyncio.ensure_future(receive())  # completes only when the client disconnects
        items = body.response.iter_encoded()
        complete = False
        try:
            while method != "HEAD" and not gone.done():
                _, item = await self.scorer.score(partial(next, items, None))
                if item is None:
                    break
                if item:
                    await send({"type": "http.response.body", "body": item, "more_body": True})
            complete = not gone.done()
        except ScoringTimeout as error:
            logger.error(
                f"Encountered Exception: the streamed response's next item took longer than {error.timeout_ms} ms"
            )
        except RunFailed as error:
            cause = error.__cause__
            logger.error(f"Encountered Exception: {''.join(traceback.format_exception(cause))}")
        finally:
            gone.cancel()
            try:
                await self.scorer.score(body.response.close)  # the generator's cleanup runs as the script's code
            except (ScoringTimeout, RunFailed):
                logger.error("closing the streamed response failed")
        if complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _gathered(self, status: int, headers: Headers, body: StreamedBody) -> tuple[int, Headers, bytes]:
        """A streamed response whole, for a client that cannot read chunks: each item produced as
        _stream produces it (through the scorer, within SCORING_TIMEOUT_MS); a generator that raises
        or runs late is a 500."""
        items = body.response.iter_encoded()
        parts: list[bytes] = []
        size = 0
        try:
            while (item := (await self.scorer.score(partial(next, items, None)))[1]) is not None:
                parts.append(item)
                size += len(item)
                if size > self.max_request_bytes:  # gathered in memory: bounded as a request body is
                    logger.error(f"Encountered Exception: {GATHERED_TOO_LARGE.format(limit=self.max_request_bytes)}")
                    return message(
                        500, GATHERED_TOO_LARGE.format(limit=self.max_request_bytes), run_function_failed=True
                    )
        except ScoringTimeout as error:
            logger.error(
                f"Encountered Exception: the streamed response's next item took longer than {error.timeout_ms} ms"
            )
            return message(500, str(error), run_function_failed=True)
        except RunFailed as error:
            logger.error(f"Encountered Exception: {''.join(traceback.format_exception(error.__cause__))}")
            return message(500, RUN_FAILED, run_function_failed=True)
        finally:
            try:
                await self.scorer.score(body.response.close)
            except (ScoringTimeout, RunFailed):
                logger.error("closing the streamed response failed")
        return status, headers, b"".join(parts)

    def _record(
        self,
        scope,
        method: str,
        path: str,
        headers: dict[bytes, bytes],
        status: int,
        response_headers: Headers,
        started: float,
    ) -> None:
        end_ns = time.time_ns()
        start_ns = end_ns - int((time.perf_counter() - started) * 1e9)
        host = _text(headers.get(b"host")) or "localhost"
        request_id = next((value for name, value in response_headers if name.lower() == "x-ms-request-id"), None)
        self.telemetry.record(
            method=method,
            path=path,
            url=f"{scope.get('scheme', 'http')}://{host}{path}",
            status=status,
            start_ns=start_ns,
            end_ns=end_ns,
            request_id=request_id,
            version=self.version,
        )

    async def _score_on_a_free_worker(self, scope, method, path, headers, body, started):
        """Here when this worker's run() is free (or the request was passed here), else on an idle sibling."""
        from .peers import FORWARDED_SCOPE_KEY, SiblingUnavailable, forward

        peers = self.peers
        sibling = None if scope.get(FORWARDED_SCOPE_KEY) or peers.idle() else peers.idle_sibling()
        if sibling is not None:
            target = scope.get("raw_path") or path.encode()
            if scope.get("query_string"):
                target += b"?" + scope["query_string"]
            try:
                return await forward(
                    peers.address(sibling),
                    method,
                    target,
                    scope["headers"],
                    body,
                    self.settings.scoring_timeout_ms / 1000 + 30,
                )
            except SiblingUnavailable as error:  # nothing was sent: score it here
                logger.warning(f"worker {sibling} could not be reached ({error}); scoring the request here")
            except Exception:  # sent, but the answer did not come back whole: never run it twice
                logger.error(f"relaying worker {sibling}'s answer failed\n{traceback.format_exc()}")
                return message(500, INTERNAL_ERROR)
        peers.begin()
        try:
            return await self._azureml(scope, method, path, headers, body, started)
        finally:
            peers.end()

    async def _read_body(self, receive, limit: int):
        """The whole body; None when it does not arrive in time, False when it is over the limit."""
        event = await receive()
        body = event.get("body", b"")
        if not event.get("more_body"):
            return body if len(body) <= limit else False
        parts = [body]
        size = len(body)
        try:
            async with asyncio.timeout(self.settings.body_timeout_seconds):
                while event.get("more_body"):
                    event = await receive()
                    chunk = event.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        return False
                    parts.append(chunk)
                    if event["type"] == "http.disconnect":
                        break
        except TimeoutError:
            return None
        return b"".join(parts)

    # --- azmlinfsrv's routes ------------------------------------------------------------------

    async def _azureml(self, scope, method: str, path: str, headers: dict[bytes, bytes], body: bytes, started: float):
        allowed = ROUTES.get(path)
        if allowed is None:
            return message(404, NOT_FOUND)
        if method not in allowed:
            return message(405, METHOD_NOT_ALLOWED)
        ids = request_ids(
            _text(headers.get(b"x-request-id")),
            _text(headers.get(b"x-ms-request-id")),
            _text(headers.get(b"x-ms-client-request-id")),
        )
        logged = False
        if ids.refusal:
            status, response_headers, payload = message(431, ids.refusal)
        elif method == "OPTIONS" and path != "/score":
            status, response_headers, payload = 200, [("Content-Type", TEXT_HTML), ("Allow", AUTOMATIC_ALLOW)], b""
        elif path == "/":
            status, response_headers, payload = 200, [("Content-Type", TEXT_HTML)], b"Healthy"
        elif path == "/swagger.json":
            logged = True
            status, response_headers, payload = self._swagger(scope)
        else:
            logged = True
            status, response_headers, payload = await self._score(scope, method, body, headers, ids)
        if self.settings.server_version_header:
            response_headers.append(("x-ms-server-version", self.settings.server_version_header))
        response_headers += ids.response_headers()
        trace_id = headers.get(b"traceid")
        if trace_id is not None:
            response_headers.append(("TraceId", trace_id.decode("latin-1")))
        if self.aml_cors:
            present = {name.lower() for name, _ in response_headers}
            response_headers += self.aml_cors.headers(
                method,
                _text(headers.get(b"origin")),
                _text(headers.get(b"access-control-request-method")),
                _text(headers.get(b"access-control-request-headers")),
                present,
            )
        if logged:
            query = scope.get("query_string", b"")
            shown = path + ("?" + query.decode("latin-1") if query else "")
            length = (
                "N/A" if isinstance(payload, StreamedBody) else len(payload)
            )  # azmlinfsrv's word for a streamed length
            log_capture.access_line(
                f"{method} {shown} {status} {(time.perf_counter() - started) * 1e3:0.3f}ms {length} {self.version}"
            )
        return status, response_headers, payload

    def _swagger(self, scope):
        version = None
        for name, value in _query_pairs(scope.get("query_string", b"")):
            if name == "version":
                version = value
                break
        try:
            return (
                200,
                [("Content-Type", "application/json"), ("x-ms-run-function-failed", "False")],
                self.swagger.document(version),
            )
        except SwaggerNotFound as error:
            return message(404, str(error))

    async def _score(self, scope, method: str, body: bytes, headers: dict[bytes, bytes], ids):
        script = self.script
        try:
            if script.kind == RAW:
                arguments: dict[str, Any] = {script.first_parameter: raw_request(scope, body)}
            else:
                arguments = await self._parsed(
                    partial(
                        run_arguments,
                        script,
                        method,
                        scope.get("query_string", b""),
                        body,
                        _text(headers.get(b"content-type")),
                    ),
                    len(body),
                )
        except InputError as error:
            return message(error.status, error.message)
        except UnsupportedMethod:
            if method == "OPTIONS":
                return 200, [("Content-Type", TEXT_HTML), ("x-ms-run-function-failed", "False")], b""
            return message(405, "Method not allowed")
        except Exception:
            logger.error(f"Encountered Exception: {traceback.format_exc()}")
            return message(500, INTERNAL_ERROR)
        request_headers = title_case_headers(scope["headers"]) if script.takes_request_headers else {}
        metrics = self.metrics
        if metrics is not None:
            metrics.waiting_for_run(1)
        try:
            elapsed_ms, output = await self.scorer.score(partial(script.call, arguments, request_headers))
        except ScoringTimeout as error:
            logger.error(f"Encountered Exception: scoring timed out after {error.timeout_ms} ms")
            self._report_exception(ids)
            return message(500, str(error), run_function_failed=True)
        except RunFailed as error:
            cause = error.__cause__
            refused = schema_refusal(cause)  # the input could not become the declared type: the caller's error
            if refused is not None:
                logger.warning(f"Bad input: {refused}")
                return message(400, refused)
            logger.error(f"Encountered Exception: {''.join(traceback.format_exception(cause))}")
            self._report_exception(ids, cause)
            return message(500, RUN_FAILED, run_function_failed=True)
        finally:
            if metrics is not None:
                metrics.waiting_for_run(-1)
        if metrics is not None:
            metrics.observe_run(elapsed_ms / 1000)

        response_type = flask_response_type()
        if response_type is not None and isinstance(output, response_type):
            try:
                status, response_headers, payload = _from_flask(output)
            except Exception:  # a body Flask cannot turn into bytes (a list of numbers, say)
                logger.error(f"Encountered Exception: {traceback.format_exc()}")
                return message(500, SERVER_ERROR)
        else:
            try:
                payload = json.dumps(output if output is not None else {}, allow_nan=False).encode()
            except Exception as error:
                if isinstance(error, ValueError) and "Out of range float" in str(error):
                    logger.error(f"Encountered Exception: {NOT_JSON}")
                    return message(500, NOT_JSON, run_function_failed=True)
                logger.error(f"Encountered Exception: {traceback.format_exc()}")
                return message(500, INTERNAL_ERROR)
            status, response_headers = (
                200,
                [("Content-Type", "application/json"), ("x-ms-run-function-failed", "False")],
            )
        response_headers.append(("x-ms-run-fn-exec-ms", f"{elapsed_ms:.3f}"))
        if self.app_insights is not None:
            self.app_insights.send_model_data_log(ids.request_id, ids.client_request_id, arguments, output)
        return status, response_headers, payload

    async def _parsed(self, parse, size: int) -> dict[str, Any]:
        """run()'s arguments from the body. A body of PARSE_THROUGH_SCORER_BYTES or more is parsed
        as run() is called, through the scorer: off the event loop (which keeps answering the
        health probe and reading other requests), and within SCORING_TIMEOUT_MS, past which the
        caller gets 413 (the parse itself, one call into C, ends before the worker takes the next)."""
        if size < PARSE_THROUGH_SCORER_BYTES:
            return parse()
        try:
            return (await self.scorer.score(parse))[1]
        except RunFailed as error:  # InputError, UnsupportedMethod... as if parsed here
            raise error.__cause__ from None  # type: ignore[misc]
        except ScoringTimeout as error:
            raise InputError(
                413,
                f"the request body took longer than the scoring timeout ({error.timeout_ms} ms, SCORING_TIMEOUT_MS) to parse; send less in one request",
            ) from None

    def _report_exception(self, ids, cause: BaseException | None = None) -> None:
        if self.app_insights is not None:
            info = (type(cause), cause, cause.__traceback__) if cause is not None else (None, None, None)
            self.app_insights.send_exception_log(info, ids.request_id, ids.client_request_id)


def _metrics(settings: Settings):
    """The replica's metrics, unless MODELSTACK_METRICS_ENABLED is false; in multiprocess mode when
    the server set it up for several workers (metrics.prepare_multiprocess)."""
    if not settings.metrics_enabled:
        return None
    import os

    from .metrics import MULTIPROCESS_DIR_ENV, Metrics, model_versions

    folder = os.environ.get(MULTIPROCESS_DIR_ENV) if settings.worker_count > 1 else None
    return Metrics(settings.rollout_version, model_versions(settings.model_dir), multiprocess_dir=folder or None)


def _forwarded(scope) -> bool:
    return bool(scope.get(FORWARDED_SCOPE_KEY))


def _from_flask(response) -> tuple[int, Headers, bytes | StreamedBody]:
    """An AMLResponse (or any Flask response) as status, headers and body (or its stream)."""
    payload = StreamedBody(response) if response.is_streamed else response.get_data()
    headers = [
        (name, value)
        for name, value in response.headers.to_wsgi_list()
        if name.lower() != "content-length" and name.lower() not in ID_HEADERS
    ]
    if response.status_code >= 500:
        headers = [(n, v) for n, v in headers if n.lower() != "x-ms-run-function-failed"] + [
            ("x-ms-run-function-failed", "True")
        ]
    return response.status_code, headers, payload


def _merge_slashes(path):
    separator = "/" if isinstance(path, str) else b"/"
    while separator * 2 in path:
        path = path.replace(separator * 2, separator)
    return path


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _query_pairs(query: bytes):
    from urllib.parse import parse_qsl

    return parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True)


async def _send(send, status: int, headers: Headers, body: bytes, content_length: int | None = None) -> None:
    raw = [(name.encode("latin-1"), str(value).encode("latin-1")) for name, value in headers]
    raw.append((b"content-length", str(len(body) if content_length is None else content_length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
