"""run() answers with the name of the thread it runs on; "slow" makes it sleep 20 ms first."""
import json
import threading
import time


def init():
    pass


def run(raw_data):
    if json.loads(raw_data) == "slow":
        time.sleep(0.02)
    return threading.current_thread().name
