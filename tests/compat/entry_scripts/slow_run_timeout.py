"""A run() slower than SCORING_TIMEOUT_MS: 500 with the timeout's message; a fast one after it works."""
import time


def init():
    pass


def run(data):
    if data == '"slow"':
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.01)
    return {"done": data}
