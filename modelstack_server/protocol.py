"""The HTTP connection: uvicorn's httptools protocol with the limits no client may get around.

- Request headers must arrive within MODELSTACK_HEADER_TIMEOUT_SECONDS, counted from when the
  connection opens or the next request's first byte comes (a byte a second does not hold it).
- Header limits of the usual size, answered 431 and the connection closed: a header line
  (name and value) over MODELSTACK_MAX_HEADER_LINE_BYTES (8190, gunicorn's), more than
  MODELSTACK_MAX_HEADER_COUNT headers (100, gunicorn's), or more than
  MODELSTACK_MAX_HEADER_BYTES for the request line and headers together (32768, nginx's 4
  buffers of 8k). A request line longer than a header line gets 414. The bytes received while
  headers are awaited are counted too: httptools keeps what it has not parsed yet, so one
  unfinished header could otherwise take any amount of memory.
- Header hygiene before anything reads them: a name containing `_` is dropped (a proxy that
  treats `-` and `_` alike could otherwise be handed a header it filtered out: gunicorn does the
  same), and trailing spaces and tabs of a value are removed.
- MODELSTACK_MAX_CONNECTIONS open connections. When a connection past the cap opens, the
  connection idle the longest (no request in progress: a kept-alive one, or one that never sent
  a byte) is closed to make room, so a flood of idle sockets cannot lock out the health probe or
  anyone else. Only when every connection is busy are requests past the cap answered 503, and
  even then `GET /` (the liveness probe) is answered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEALTH_PROBE = (b"GET", b"HEAD")
REQUEST_LINE_VERSION_BYTES = len(b"  HTTP/1.1")  # the two spaces and the version around the URL


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_seconds: float
    max_header_line_bytes: int
    max_header_count: int
    max_header_bytes: int
    max_connections: int


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a request that is refused."""


def refusal_bytes(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"message": message}).encode()
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    return head.encode("ascii") + body


def header_refusal(limits: ConnectionLimits, count: int, line_bytes: int, total_bytes: int) -> str | None:
    """Why a request's headers are refused (431), or None. Pure: the counts so far."""
    if count > limits.max_header_count:
        return f"more than {limits.max_header_count} request headers (MODELSTACK_MAX_HEADER_COUNT)"
    if line_bytes > limits.max_header_line_bytes:
        return (
            f"a request header is longer than {limits.max_header_line_bytes} bytes (MODELSTACK_MAX_HEADER_LINE_BYTES)"
        )
    if total_bytes > limits.max_header_bytes:
        return f"the request's headers are longer than {limits.max_header_bytes} bytes (MODELSTACK_MAX_HEADER_BYTES)"
    return None


def oldest_idle(connections, but) -> ScoringProtocol | None:
    """The connection that has been idle the longest, other than `but`; None if all are busy."""
    found = None
    for connection in connections:
        if connection is not but and connection.idle and (found is None or connection.idle_since < found.idle_since):
            found = connection
    return found


def scoring_protocol(limits: ConnectionLimits):
    """The protocol class uvicorn is given (`http=`), with these limits."""

    class Protocol(ScoringProtocol):
        pass

    Protocol.limits = limits
    return Protocol


class ScoringProtocol(HttpToolsProtocol):
    limits: ConnectionLimits
    _header_timer = None
    _refused = False  # a refusal was written: nothing more is read from this connection
    _refusal: tuple[int, str, str] | None = None
    _in_body = False  # between the end of a request's headers and the end of its body
    _pre_body_bytes = 0  # bytes received while a request's line and headers were awaited
    _header_count = 0
    _header_bytes = 0  # the request line and the headers parsed so far
    idle_since = 0.0

    # --- the connection cap ---------------------------------------------------------------------

    def connection_made(self, transport):
        super().connection_made(transport)
        self.idle_since = self.loop.time()
        self._arm_header_timer()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    @property
    def idle(self) -> bool:
        """No request in progress: nothing of one received, or its response complete."""
        return not self._in_body and self._pre_body_bytes == 0 and (self.cycle is None or self.cycle.response_complete)

    def _make_room(self) -> bool:
        victim = oldest_idle(self.connections, self)
        if victim is None:
            return False
        victim.transport.close()
        self.connections.discard(victim)  # connection_lost comes later; the count is right now
        return True

    def _over_the_cap(self) -> bool:
        return len(self.connections) > self.limits.max_connections and not self._make_room()

    # --- receiving ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_body:
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm_header_timer()  # the first byte of the next request on a kept-alive connection
            self._pre_body_bytes += len(data)
        super().data_received(data)
        if not self._in_body and not self._refused and self._pre_body_bytes > self.limits.max_header_bytes:
            refused = header_refusal(self.limits, 0, 0, self._pre_body_bytes)
            if refused:  # always, the total being over its limit
                self._refuse(431, "Request Header Fields Too Large", refused)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._header_bytes += len(url)
        # The request line: method, space, URL, space and HTTP/1.x (its version comes after the URL)
        if (
            len(self.parser.get_method()) + len(self.url) + REQUEST_LINE_VERSION_BYTES
            > self.limits.max_header_line_bytes
        ):
            self._refusal = (
                414,
                "URI Too Long",
                f"the request line is longer than {self.limits.max_header_line_bytes} bytes (MODELSTACK_MAX_HEADER_LINE_BYTES)",
            )
            raise _Refused()

    def on_header(self, name: bytes, value: bytes) -> None:
        # Replaces uvicorn's on_header (same effect for the headers kept), so that a request pays
        # one Python call per header, as before.
        self._header_count += 1
        line = len(name) + len(value)
        self._header_bytes += line + 4  # ": " and CRLF
        refused = header_refusal(self.limits, self._header_count, line, self._header_bytes)
        if refused:
            self._refusal = (431, "Request Header Fields Too Large", refused)
            raise _Refused()
        if b"_" in name:
            return
        if value[-1:] in (b" ", b"\t"):
            value = value.rstrip(b" \t")
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        self._in_body = True
        self._pre_body_bytes = 0
        # uvicorn answers 503 when `limit_concurrency` is reached; it is set per request here,
        # so that it applies only past the cap with nothing idle to close, and never to GET /.
        self.limit_concurrency = None
        if self._over_the_cap() and not self._is_health_probe():
            self.limit_concurrency = 0
        super().on_headers_complete()

    def _is_health_probe(self) -> bool:
        return self.parser.get_method() in HEALTH_PROBE and httptools.parse_url(self.url).path == b"/"

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.idle_since = self.loop.time()
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to a parser error; a limit refused in a callback is the cause here.
        if self._refusal is not None:
            self._refuse(*self._refusal)
        else:
            super().send_400_response(msg)

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._refused = True
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self.transport.write(refusal_bytes(status, reason, message))
            self.transport.close()

    # --- the header timeout -----------------------------------------------------------------------

    def connection_lost(self, exc):
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.header_timeout_seconds, self._headers_too_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
