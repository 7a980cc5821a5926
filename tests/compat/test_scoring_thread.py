"""Where a real modelstack_server process calls run(): on its scoring thread at first, on the event
loop's thread once calls have been fast for a while, and back after a slow one (the in-process
cases are tests/server/test_scoring_modes.py)."""

from __future__ import annotations


def test_a_real_server_moves_run_to_the_loop_after_fast_calls_and_back_after_a_slow_one(servers):
    """The server's own limit (5 ms) decides which calls are fast, and a busy machine can make a
    trivial call slower than that now and then, which starts the count again: so fast calls are
    sent until one runs inline (bounded), and every step is checked by order, not by timing."""
    import requests

    server = servers("reports_its_thread.py", {"MODELSTACK_INLINE_AFTER_CALLS": "2"}, kinds=("modelstack",))[
        "modelstack"
    ]
    with requests.Session() as session:

        def thread_of(body: str) -> str:
            answer = session.post(
                server.base + "/score", data=body, headers={"Content-Type": "application/json"}, timeout=10
            )
            assert answer.status_code == 200, answer.text
            return answer.json()

        first = [thread_of('"fast"') for _ in range(2)]
        assert first == ["scoring", "scoring"], "inline before two fast calls in a row"
        further: list[str] = []
        while "MainThread" not in further:
            assert len(further) < 200, f"200 more fast calls and none inline: {further[-5:]}"
            further.append(thread_of('"fast"'))
        assert set(further[:-1]) <= {"scoring"}
        # A call after fast ones runs inline however long it takes; the one after a slow call does not.
        assert [thread_of('"slow"'), thread_of('"fast"')] == ["MainThread", "scoring"]
