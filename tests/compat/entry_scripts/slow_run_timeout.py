"""A run() slower than SCORING_TIMEOUT_MS: 500 with the timeout's message; a fast one after it works.

"slow" runs for up to RUN_SECONDS, far past the timeouts the tests set, unless the server's timeout
interrupts it (TimeoutError raised inside run(), as both servers do). If it runs to its end it
leaves the file ran-to-its-end in $COMPAT_MARKS_DIR before returning: a server that answers only
once run() has returned is then seen by order (the mark is there when the answer arrives), not by
how long the answer took."""
import os
import time

RUN_SECONDS = 20


def init():
    pass


def run(data):
    if data == '"slow"':
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.01)
        marks = os.environ.get("COMPAT_MARKS_DIR")
        if marks:
            open(os.path.join(marks, "ran-to-its-end"), "w").close()
    return {"done": data}
