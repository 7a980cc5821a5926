"""The ASGI application: modelstack's front (CORS preflight, key auth, body limit), then
azmlinfsrv's routes with its status codes, messages and headers.

Routes, as azmlinfsrv's Flask app has them:
  GET|HEAD /             "Healthy" (never needs a key)
  GET|POST|OPTIONS /score   run(); OPTIONS reaches run() only with @rawhttp, else 200 empty
  GET /swagger.json?version=...
  OPTIONS on / and /swagger.json: 200 with Allow; other methods 405, other paths 404
On these three routes: request ids, x-ms-server-version, TraceId echoed, AML_CORS_ORIGINS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from functools import partial
from typing import Any

from . import cors
from . import log_capture
from .entry_script import RAW, EntryScript, InputError, UnsupportedMethod, flask_response_type, raw_request, run_arguments, title_case_headers
from .keys import refusal
from .tokens import token_refusal
from .request_ids import request_ids
from .scoring import RunFailed, ScoringTimeout, SerialScorer
from .settings import Settings
from .swagger import SwaggerDocuments, SwaggerNotFound

logger = logging.getLogger("azmlinfsrv")

TEXT_HTML = "text/html; charset=utf-8"
NOT_FOUND = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
METHOD_NOT_ALLOWED = "The method is not allowed for the requested URL."
RUN_FAILED = "An unexpected error occurred in scoring script. Check the logs for more info."
INTERNAL_ERROR = "An unexpected internal error occurred. Check the logs for more info."
ROUTES = {
    "/": ("GET", "HEAD", "OPTIONS"),
    "/score": ("GET", "HEAD", "POST", "OPTIONS"),
    "/swagger.json": ("GET", "HEAD", "OPTIONS"),
}
AUTOMATIC_ALLOW = "GET, HEAD, OPTIONS"

Headers = list  # [(name, value)] as str


def message(status: int, text: str, run_function_failed: bool = False, extra: Headers = ()) -> tuple[int, Headers, bytes]:
    body = json.dumps({"message": text}).encode()
    return status, [("Content-Type", "application/json"), ("x-ms-run-function-failed", str(run_function_failed)), *extra], body


class ScoringApp:
    def __init__(self, settings: Settings, script: EntryScript, scorer: SerialScorer | None = None, app_insights=None, peers=None, telemetry=None):
        self.settings = settings
        self.peers = peers  # peers.Peers with WORKER_COUNT > 1: /score goes to a worker whose run() is free
        self.script = script
        self.scorer = scorer or SerialScorer(settings.scoring_timeout_ms, inline_after=settings.inline_after_calls)
        self.swagger = SwaggerDocuments(script.run, settings.app_root, settings.service_name, settings.service_version, settings.service_path_prefix)
        self.aml_cors = cors.AmlCors(settings.aml_cors_origins)
        self.app_insights = app_insights
        self.telemetry = telemetry  # telemetry.RequestTelemetry with enable_app_insights, else None

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
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope, receive, send) -> None:
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        settings = self.settings
        origin = _text(headers.get(b"origin"))
        front_cors: Headers = []
        if settings.cors_origins and settings.origin_allowed(origin):
            front_cors = [("Access-Control-Allow-Origin", settings.allow_origin_value(origin)), ("Vary", "Origin")]

        requested_method = _text(headers.get(b"access-control-request-method"))
        if cors.is_preflight(method, origin, requested_method) and (settings.cors_origins or settings.auth_enabled or settings.token_auth_enabled):
            if not front_cors:
                refused = json.dumps({"message": f"origin {origin} is not allowed to call this service"}).encode()
                return await _send(send, 403, [("Content-Type", "application/json"), ("Vary", "Origin")], refused)
            return await _send(send, 204, cors.preflight_headers(front_cors[0][1], _text(headers.get(b"access-control-request-headers"))), b"")

        if (settings.auth_enabled or settings.token_auth_enabled) and not (path == "/" and method in ("GET", "HEAD")):
            if settings.token_auth_enabled:
                refused = token_refusal(headers.get(b"authorization"), settings.token_keys, settings.token_audience)
            else:
                refused = refusal(headers.get(b"authorization"), settings.keys)
            if refused:
                text, challenge = refused
                return await _send(send, 401, [("Content-Type", "application/json"), ("WWW-Authenticate", challenge), *front_cors], json.dumps({"message": text}).encode())

        limit = settings.max_request_bytes
        too_large = f"the request body is larger than {limit} bytes"
        length = headers.get(b"content-length")
        if length is not None:
            try:
                if int(length) > limit:
                    return await _send(send, 413, [("Content-Type", "application/json"), ("Connection", "close"), *front_cors], json.dumps({"message": too_large}).encode())
            except ValueError:
                return await _send(send, 400, [("Content-Type", "application/json"), ("Connection", "close"), *front_cors], json.dumps({"message": "Content-Length is not a number"}).encode())
        body = await self._read_body(receive, limit)
        if body is None:
            timeout = f"the request body did not arrive within {settings.body_timeout_seconds:g} seconds"
            return await _send(send, 408, [("Content-Type", "application/json"), ("Connection", "close"), *front_cors], json.dumps({"message": timeout}).encode())
        if body is False:
            return await _send(send, 413, [("Content-Type", "application/json"), ("Connection", "close"), *front_cors], json.dumps({"message": too_large}).encode())

        if path == "/score" and self.peers is not None:
            status, response_headers, payload = await self._score_on_a_free_worker(scope, method, path, headers, body, started)
        else:
            status, response_headers, payload = await self._azureml(scope, method, path, headers, body, started)
        if front_cors:
            response_headers = cors.add_missing(response_headers, front_cors)
        await _send(send, status, response_headers, b"" if method == "HEAD" else payload, content_length=len(payload))
        if self.telemetry is not None and path != "/":  # not the health probe
            self._record(scope, method, path, headers, status, response_headers, started)

    def _record(self, scope, method: str, path: str, headers: dict[bytes, bytes], status: int, response_headers: Headers, started: float) -> None:
        end_ns = time.time_ns()
        start_ns = end_ns - int((time.perf_counter() - started) * 1e9)
        host = _text(headers.get(b"host")) or "localhost"
        request_id = next((value for name, value in response_headers if name.lower() == "x-ms-request-id"), None)
        self.telemetry.record(method=method, path=path, url=f"{scope.get('scheme', 'http')}://{host}{path}", status=status, start_ns=start_ns, end_ns=end_ns, request_id=request_id)

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
                return await forward(peers.address(sibling), method, target, scope["headers"], body, self.settings.scoring_timeout_ms / 1000 + 30)
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
        ids = request_ids(_text(headers.get(b"x-request-id")), _text(headers.get(b"x-ms-request-id")), _text(headers.get(b"x-ms-client-request-id")))
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
            response_headers += self.aml_cors.headers(method, _text(headers.get(b"origin")), _text(headers.get(b"access-control-request-method")), _text(headers.get(b"access-control-request-headers")), present)
        if logged:
            query = scope.get("query_string", b"")
            shown = path + ("?" + query.decode("latin-1") if query else "")
            log_capture.access_line(f"{method} {shown} {status} {(time.perf_counter() - started) * 1e3:0.3f}ms {len(payload)}")
        return status, response_headers, payload

    def _swagger(self, scope):
        version = None
        for name, value in _query_pairs(scope.get("query_string", b"")):
            if name == "version":
                version = value
                break
        try:
            return 200, [("Content-Type", "application/json"), ("x-ms-run-function-failed", "False")], self.swagger.document(version)
        except SwaggerNotFound as error:
            return message(404, str(error))

    async def _score(self, scope, method: str, body: bytes, headers: dict[bytes, bytes], ids):
        script = self.script
        try:
            if script.kind == RAW:
                arguments: dict[str, Any] = {script.first_parameter: raw_request(scope, body)}
            else:
                arguments = run_arguments(script, method, scope.get("query_string", b""), body, _text(headers.get(b"content-type")))
        except InputError as error:
            return message(error.status, error.message)
        except UnsupportedMethod:
            if method == "OPTIONS":
                return 200, [("Content-Type", TEXT_HTML), ("x-ms-run-function-failed", "False")], b""
            return message(405, "Method not allowed")
        except Exception:
            logger.error("Encountered Exception: {0}".format(traceback.format_exc()))
            return message(500, INTERNAL_ERROR)
        request_headers = title_case_headers(scope["headers"]) if script.takes_request_headers else {}
        try:
            elapsed_ms, output = await self.scorer.score(partial(script.call, arguments, request_headers))
        except ScoringTimeout as error:
            logger.error(f"Encountered Exception: scoring timed out after {error.timeout_ms} ms")
            self._report_exception(ids)
            return message(500, str(error), run_function_failed=True)
        except RunFailed as error:
            cause = error.__cause__
            logger.error("Encountered Exception: {0}".format("".join(traceback.format_exception(type(cause), cause, cause.__traceback__))))
            self._report_exception(ids, cause)
            return message(500, RUN_FAILED, run_function_failed=True)

        response_type = flask_response_type()
        if response_type is not None and isinstance(output, response_type):
            status, response_headers, payload = _from_flask(output)
        else:
            try:
                payload = json.dumps(output if output is not None else {}).encode()
            except Exception:
                logger.error("Encountered Exception: {0}".format(traceback.format_exc()))
                return message(500, INTERNAL_ERROR)
            status, response_headers = 200, [("Content-Type", "application/json"), ("x-ms-run-function-failed", "False")]
        response_headers.append(("x-ms-run-fn-exec-ms", f"{elapsed_ms:.3f}"))
        if self.app_insights is not None:
            self.app_insights.send_model_data_log(ids.request_id, ids.client_request_id, arguments, output)
        return status, response_headers, payload

    def _report_exception(self, ids, cause: BaseException | None = None) -> None:
        if self.app_insights is not None:
            info = (type(cause), cause, cause.__traceback__) if cause is not None else (None, None, None)
            self.app_insights.send_exception_log(info, ids.request_id, ids.client_request_id)


def _from_flask(response) -> tuple[int, Headers, bytes]:
    """An AMLResponse (or any Flask response) as status, headers and body."""
    payload = response.get_data()
    headers = [(name, value) for name, value in response.headers.to_wsgi_list() if name.lower() != "content-length"]
    if response.status_code >= 500:
        headers = [(n, v) for n, v in headers if n.lower() != "x-ms-run-function-failed"] + [("x-ms-run-function-failed", "True")]
    return response.status_code, headers, payload


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
