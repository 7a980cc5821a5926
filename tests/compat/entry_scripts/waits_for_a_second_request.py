"""Two requests at once, shown by order rather than by time: run() records its arrival in a folder
named by its input, under $COMPAT_ARRIVALS_DIR, then waits (at most WAIT_SECONDS) for a second
arrival in that folder. It answers "together" when it saw one and "alone" when the wait ran out:
two requests run at once both answer "together"; one after the other, the first answers "alone".
SCORING_TIMEOUT_MS must be above WAIT_SECONDS so that the wait, not the timeout, ends a lone run().

Every call lasts at least SLOW_SECONDS, the second to arrive too: a slow script's calls stay on
modelstack's scoring thread (a run of calls under 5 ms moves them onto the event loop's thread,
which a call then holds, and a held worker passes nothing on; see modelstack_server/scoring.py)."""
import json
import os
import time
import uuid

WAIT_SECONDS = 20
SLOW_SECONDS = 0.05


def init():
    pass


def run(data):
    folder = os.path.join(os.environ["COMPAT_ARRIVALS_DIR"], json.loads(data))
    os.makedirs(folder, exist_ok=True)
    open(os.path.join(folder, f"{os.getpid()}-{uuid.uuid4().hex}"), "w").close()
    time.sleep(SLOW_SECONDS)
    deadline = time.monotonic() + WAIT_SECONDS
    while len(os.listdir(folder)) < 2:
        if time.monotonic() > deadline:
            return {"seen": "alone"}
        time.sleep(0.01)
    return {"seen": "together"}
