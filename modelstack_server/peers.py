"""WORKER_COUNT > 1: a request goes to a worker whose run() is free, whichever worker accepted it.

The forked workers share one listening socket, and the kernel hands a connection to whichever
worker accepts first, busy or not; a kept-alive connection stays with its worker. So two slow
requests could queue on one worker while another sat idle. Instead, once a /score request's body
is complete (auth, limits and timeouts done by the worker that accepted it), that worker scores
it itself when its own run() is free; otherwise it passes it to an idle sibling over a private
Unix socket (Linux's abstract namespace: no file, nothing outside the container) and relays the
answer. The sibling treats it as any request (its key check, its request ids, its log line) but
never passes it on again. With no idle sibling the request waits for this worker's run().

Which workers are free is a byte per worker in memory shared by the fork: the count of /score
requests the worker is scoring or about to score, written only by its owner. Two workers may
pick the same idle sibling at the same instant; then one request waits, as before this module.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import socket

import h11

FORWARDED_SCOPE_KEY = "modelstack.forwarded"
# Hop-by-hop headers, and those the relaying worker sets itself.
_DROPPED_REQUEST = {b"connection", b"content-length", b"transfer-encoding", b"keep-alive", b"expect", b"te", b"upgrade"}
_DROPPED_RESPONSE = {"connection", "content-length", "transfer-encoding", "keep-alive", "date", "server"}


class Peers:
    """The workers of one server: their busy counts and private addresses."""

    def __init__(self, count: int):
        self.count = count
        self.index = -1  # set in each worker after the fork
        self._busy = mmap.mmap(-1, count)
        self._tag = f"modelstack-server-{os.getpid()}"
        self.listeners = [self._listen(i) for i in range(count)]

    def _listen(self, index: int) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.address(index))
        sock.listen(128)
        sock.set_inheritable(True)
        return sock

    def address(self, index: int) -> str:
        return f"\0{self._tag}-{index}"

    def become(self, index: int) -> socket.socket:
        """In a freshly forked worker: this worker's index; returns its private listener."""
        self.index = index
        self._busy[index] = 0
        for i, sock in enumerate(self.listeners):
            if i != index:
                sock.close()
        return self.listeners[index]

    # --- the busy counts ---

    def begin(self) -> None:
        self._busy[self.index] = min(self._busy[self.index] + 1, 255)

    def end(self) -> None:
        self._busy[self.index] = max(self._busy[self.index] - 1, 0)

    def idle(self) -> bool:
        return self._busy[self.index] == 0

    def idle_sibling(self) -> int | None:
        """A sibling with nothing to score, starting after this worker (spreads the load)."""
        for step in range(1, self.count):
            other = (self.index + step) % self.count
            if self._busy[other] == 0:
                return other
        return None


class SiblingUnavailable(Exception):
    """The sibling could not be reached: nothing was sent, the request can be scored here."""


async def forward(
    address: str, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes, timeout_seconds: float
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The request sent whole to a sibling; (status, headers, body) of its answer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:  # connected here: uvloop takes an abstract address only as a connected socket
        await asyncio.get_running_loop().sock_connect(sock, address)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
    except OSError as error:
        sock.close()
        raise SiblingUnavailable(repr(error)) from None
    async with asyncio.timeout(timeout_seconds):
        try:
            head = [method.encode() + b" " + target + b" HTTP/1.1"]
            head += [name + b": " + value for name, value in headers if name not in _DROPPED_REQUEST]
            head += [b"content-length: " + str(len(body)).encode(), b"connection: close"]
            writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            await writer.drain()
            client = h11.Connection(h11.CLIENT)
            client.send(
                h11.Request(method=method, target=target, headers=[(b"host", b"peer")])
            )  # moves h11 to expect a response
            client.send(h11.EndOfMessage())
            status, response_headers, parts = 0, [], []
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(await reader.read(65536))
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                    response_headers = [
                        (n.decode("latin-1"), v.decode("latin-1"))
                        for n, v in event.headers.raw_items()
                        if n.decode("latin-1").lower() not in _DROPPED_RESPONSE
                    ]
                elif isinstance(event, h11.Data):
                    parts.append(bytes(event.data))
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return status, response_headers, b"".join(parts)
        finally:
            writer.close()
