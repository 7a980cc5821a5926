"""How modelstack_server calls run(): on its scoring thread at first and whenever a call is slow,
on the event loop's own thread once calls have been fast for a while; one call at a time and the
timeout kept either way. In process, on the main thread as uvicorn runs it; the same in a real
server process is tests/compat/test_scoring_thread.py."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from modelstack_server.scoring import RunFailed, ScoringTimeout, SerialScorer

FAST_AFTER = 3  # calls in a row under the limit before run() is called inline
# A trivial call stays far under this limit however busy the machine is; a "slow" call sleeps
# past it (a sleep is never shorter than asked). Scorer timeouts here are above it, as in the server.
LIMIT_MS = 500.0
# Bounds that only stop a hang: how long a run() here waits for what the test does next.
WAIT_SECONDS = 20


_scorers: list[SerialScorer] = []  # made by the scenario being run


def run(coroutine):
    """Run on a loop of its own, on the main thread. Not asyncio.run: it leaves the main thread
    with no current loop, which the Pulumi mock runtime of later tests expects to find. Every
    scorer the scenario made is closed before the loop is: its thread must not report to a
    closed loop (a call that timed out is still running when the scenario ends)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            closed = [loop.run_until_complete(s.aclose(timeout_seconds=10)) for s in _scorers]
            assert all(closed), "a scoring thread did not stop"
        finally:
            _scorers.clear()
            loop.close()


def where() -> str:
    return "loop" if threading.current_thread() is threading.main_thread() else "thread"


def scorer(timeout_ms: int = 2000) -> SerialScorer:
    made = SerialScorer(timeout_ms, inline_after=FAST_AFTER, inline_below_ms=LIMIT_MS)
    _scorers.append(made)
    return made


def test_fast_calls_move_to_the_loop_and_a_slow_one_moves_back():
    def slow_where() -> str:
        time.sleep(LIMIT_MS * 1.2 / 1000)
        return where()

    async def scenario():
        s = scorer()
        places = [(await s.score(where))[1] for _ in range(FAST_AFTER + 2)]
        slow = (await s.score(slow_where))[1]
        after = (await s.score(where))[1]
        return places, slow, after

    places, slow, after = run(scenario())
    assert places == ["thread"] * FAST_AFTER + ["loop", "loop"]
    assert slow == "loop", "the slow call itself was already inline"
    assert after == "thread", "the call after a slow one goes back to the thread"


def test_the_health_route_answers_while_a_slow_call_runs_on_the_thread():
    """Shown by order: run() waits until the event loop, after several turns of its own, says it
    is free; it says so only while run() is in progress. A loop held by run() never would."""
    released = threading.Event()

    async def scenario():
        s = scorer(timeout_ms=(WAIT_SECONDS + 10) * 1000)
        busy = asyncio.ensure_future(s.score(lambda: released.wait(WAIT_SECONDS)))
        turns = 0
        while not busy.done():
            turns += 1
            if turns == 5:
                released.set()
            await asyncio.sleep(0.01)
        return (await busy)[1]

    assert run(scenario()) is True, "the loop was held while run() waited on the thread"


@pytest.mark.parametrize("inline_first", [False, True])
def test_the_timeout_holds_in_both_modes(inline_first):
    """The timeout is raised while run() is still working, not once it has returned: shown by
    order. run() works in Python until the test releases it (after the timeout has been raised)
    or until WAIT_SECONDS have passed, and notes if it got that far."""
    released = threading.Event()
    ran_to_its_end = threading.Event()

    def spin():
        deadline = time.monotonic() + WAIT_SECONDS
        while not released.is_set():
            if time.monotonic() > deadline:
                ran_to_its_end.set()
                return
            time.sleep(0.001)

    async def scenario():
        s = scorer(timeout_ms=1000)
        if inline_first:
            for _ in range(FAST_AFTER):
                await s.score(where)
            assert s.inline
        try:
            with pytest.raises(ScoringTimeout, match="Scoring timeout after 1000 ms"):
                await s.score(spin)
            return ran_to_its_end.is_set()
        finally:
            released.set()  # a run() the timeout did not interrupt stops now

    assert run(scenario()) is False, "the timeout came only once run() had run to its end"


def test_a_script_that_swallows_the_timeout_is_still_late():
    def stubborn():
        try:
            time.sleep(WAIT_SECONDS)
        except TimeoutError:
            time.sleep(0.05)
        return "done anyway"

    async def scenario():
        s = scorer(timeout_ms=1000)
        for _ in range(FAST_AFTER):
            await s.score(where)
        assert s.inline
        with pytest.raises(ScoringTimeout):
            await s.score(stubborn)
        return (await s.score(where))[1]

    assert run(scenario()) == "thread", "a timed-out call leaves the loop"


@pytest.mark.parametrize("inline_first", [False, True])
def test_run_raising_is_run_failed_with_its_cause(inline_first):
    async def scenario():
        s = scorer()
        if inline_first:
            for _ in range(FAST_AFTER):
                await s.score(where)
        with pytest.raises(RunFailed) as caught:
            await s.score(lambda: 1 / 0)
        return caught.value.__cause__

    assert isinstance(run(scenario()), ZeroDivisionError)


def test_calls_never_overlap_when_many_wait():
    active = 0
    most = 0

    def counted():
        nonlocal active, most
        active += 1
        most = max(most, active)
        time.sleep(0.001)
        active -= 1

    async def scenario():
        s = scorer()
        await asyncio.gather(*(s.score(counted) for _ in range(40)))

    run(scenario())
    assert most == 1
