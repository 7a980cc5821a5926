"""run() calls, one at a time, on one thread of their own, with SCORING_TIMEOUT_MS.

Entry scripts assume one request at a time per worker (azmlinfsrv's sync worker), so every
call goes to a single scoring thread. A request reaches it only once its body is complete:
connections that are idle, slow or still uploading never hold it, and the event loop keeps
answering the health probe while run() works.

At the timeout the client gets its answer at once; TimeoutError is raised inside run() at its
next Python instruction (azmlinfsrv raises it from SIGALRM, which only works on the main
thread). Code blocked in C finishes that call first; until run() has returned, the next call
waits, so a script never runs twice at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from typing import Any, Callable


class ScoringTimeout(Exception):
    def __init__(self, timeout_ms: int):
        super().__init__(f"Scoring timeout after {timeout_ms} ms")
        self.timeout_ms = timeout_ms


class RunFailed(Exception):
    """run() raised: the original exception is the cause."""


class _Call:
    __slots__ = ("function", "loop", "future", "elapsed_ms", "running", "guard", "thread_id")

    def __init__(self, function, loop, future):
        self.function = function
        self.loop = loop
        self.future = future
        self.elapsed_ms = 0.0
        self.running = False
        self.guard = threading.Lock()
        self.thread_id = 0


class SerialScorer:
    def __init__(self, timeout_ms: int):
        self.timeout_ms = timeout_ms
        self._condition = threading.Condition()
        self._pending: list[_Call] = []
        self._idle: asyncio.Future | None = None  # completes when the thread is free again
        self._thread = threading.Thread(target=self._serve, name="scoring", daemon=True)
        self._thread.start()

    async def score(self, function: Callable[[], Any]) -> tuple[float, Any]:
        """(elapsed ms, run()'s result); RunFailed or ScoringTimeout otherwise."""
        loop = asyncio.get_running_loop()
        while self._idle is not None:  # a call that timed out has not returned yet
            await asyncio.shield(self._idle)
        future = loop.create_future()
        call = _Call(function, loop, future)
        self._idle = future
        with self._condition:
            self._pending.append(call)
            self._condition.notify()
        try:
            outcome = await asyncio.wait_for(asyncio.shield(future), self.timeout_ms / 1000)
        except (asyncio.TimeoutError, TimeoutError):
            self._interrupt(call)
            raise ScoringTimeout(self.timeout_ms) from None
        finally:
            if future.done() and self._idle is future:
                self._idle = None
        ok, value = outcome
        if not ok:
            raise RunFailed() from value
        return call.elapsed_ms, value

    def _release(self, call: _Call, outcome) -> None:
        if not call.future.done():
            call.future.set_result(outcome)
        if self._idle is call.future:
            self._idle = None

    def _interrupt(self, call: _Call) -> None:
        with call.guard:
            if call.running:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(call.thread_id), ctypes.py_object(TimeoutError))

    def _serve(self) -> None:
        while True:
            with self._condition:
                while not self._pending:
                    self._condition.wait()
                call = self._pending.pop(0)
            outcome = None
            while outcome is None:
                try:
                    outcome = self._run(call)
                except BaseException as late:  # a timeout's interrupt that landed after run() returned
                    outcome = (False, late) if not call.running else None
            call.loop.call_soon_threadsafe(self._release, call, outcome)

    @staticmethod
    def _run(call: _Call):
        call.thread_id = threading.get_ident()
        started = time.perf_counter()
        with call.guard:
            call.running = True
        try:
            result = (True, call.function())
        except BaseException as error:
            result = (False, error)
        finally:
            with call.guard:
                call.running = False
        call.elapsed_ms = (time.perf_counter() - started) * 1000
        return result
