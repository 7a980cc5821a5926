"""run() calls, one at a time, with SCORING_TIMEOUT_MS.

Entry scripts assume one request at a time per worker (azmlinfsrv's sync worker), so calls never
overlap. A request reaches run() only once its body is complete: connections that are idle, slow
or still uploading never hold it.

Two ways to call run(), chosen by how long it takes:
- on a thread of its own (the start, and whenever a call takes INLINE_BELOW_MS or more): the event
  loop keeps answering the health probe and reading other requests while run() works. At the
  timeout the client gets its answer at once; TimeoutError is raised inside run() at its next
  Python instruction (azmlinfsrv raises it from SIGALRM, which only works on the main thread). Code
  blocked in C finishes that call first; until run() has returned, the next call waits.
- on the event loop's own thread, once INLINE_AFTER calls in a row took less than INLINE_BELOW_MS:
  handing each request to another thread and back costs more than such a run() itself (the two
  threads trade the GIL on every request), so a fast script is called directly, as azmlinfsrv
  does, with SIGALRM for the timeout. The loop is held for the length of one call; the first call
  that is not fast moves the script back to its thread.

The thread reports each outcome to the event loop that asked. `aclose()` waits for the call in
flight (one that timed out may still be running) and stops the thread, so the thread never
outlives the loop it reports to: the server calls it at shutdown (ASGI lifespan), before its loop
closes.
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

INLINE_BELOW_MS = 5.0
INLINE_AFTER = 100


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


def _raise_timeout(signum, frame):
    raise TimeoutError("scoring timeout")


class SerialScorer:
    def __init__(self, timeout_ms: int, *, inline_after: int = INLINE_AFTER, inline_below_ms: float = INLINE_BELOW_MS):
        self.timeout_ms = timeout_ms
        self._condition = threading.Condition()
        self._pending: list[_Call] = []
        self._idle: asyncio.Future | None = None  # completes when the thread is free again
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="scoring", daemon=True)
        self._thread.start()
        self._inline_after = inline_after
        self._inline_below_ms = inline_below_ms
        self._fast_in_a_row = 0
        self._alarm_ready = False

    @property
    def inline(self) -> bool:
        """Whether the next call runs on the event loop's thread."""
        return self._fast_in_a_row >= self._inline_after and self._idle is None and self._can_use_alarm()

    def _can_use_alarm(self) -> bool:
        if not self._alarm_ready:
            if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
                return False
            signal.signal(signal.SIGALRM, _raise_timeout)
            self._alarm_ready = True
        return True

    def _count(self, elapsed_ms: float) -> None:
        self._fast_in_a_row = self._fast_in_a_row + 1 if elapsed_ms < self._inline_below_ms else 0

    async def score(self, function: Callable[[], Any]) -> tuple[float, Any]:
        """(elapsed ms, run()'s result); RunFailed or ScoringTimeout otherwise."""
        if self.inline:
            return self._score_inline(function)
        elapsed_ms, value = await self._score_on_thread(function)
        return elapsed_ms, value

    def _score_inline(self, function: Callable[[], Any]) -> tuple[float, Any]:
        outcome = None
        started = time.perf_counter()
        try:
            signal.setitimer(signal.ITIMER_REAL, self.timeout_ms / 1000)
            try:
                outcome = (True, function())
            except BaseException as error:
                outcome = (False, error)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except TimeoutError:  # the alarm landed after run() had finished: `outcome` says how
            pass
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._count(elapsed_ms)
        if outcome is None or elapsed_ms >= self.timeout_ms:  # a script that caught TimeoutError is late all the same
            raise ScoringTimeout(self.timeout_ms)
        ok, value = outcome
        if not ok:
            raise RunFailed() from value
        return elapsed_ms, value

    async def _score_on_thread(self, function: Callable[[], Any]) -> tuple[float, Any]:
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
        # Both: before Python 3.11 (a conda image may run 3.10) asyncio.TimeoutError is a class of its own
        except (asyncio.TimeoutError, TimeoutError):
            self._interrupt(call)
            self._fast_in_a_row = 0
            raise ScoringTimeout(self.timeout_ms) from None
        finally:
            if future.done() and self._idle is future:
                self._idle = None
        self._count(call.elapsed_ms)
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
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(call.thread_id), ctypes.py_object(TimeoutError)
                )

    async def aclose(self, timeout_seconds: float = 30.0) -> bool:
        """Stops the thread once the call in flight has reported back; False if that call did
        not return within `timeout_seconds` (code blocked in C: the thread is left to the process's exit)."""
        try:
            async with asyncio.timeout(timeout_seconds):
                while self._idle is not None:
                    await asyncio.shield(self._idle)
        except TimeoutError:
            return False
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(timeout_seconds)  # at once: the thread is idle, woken only to return
        return not self._thread.is_alive()

    def _serve(self) -> None:
        while True:
            with self._condition:
                while not self._pending and not self._stopping:
                    self._condition.wait()
                if not self._pending:
                    return  # aclose(): nothing left to run
                call = self._pending.pop(0)
            outcome = None
            while outcome is None:
                try:
                    outcome = self._run(call)
                except BaseException as late:  # a timeout's interrupt that landed after run() returned
                    outcome = (False, late) if not call.running else None
            call.loop.call_soon_threadsafe(self._release, call, outcome)
            del call, outcome  # not kept while waiting for the next call: they hold run()'s input and output

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
