"""No decorator: run() receives the body (or GET's query parameters) as a JSON string."""
import json


def init():
    pass


def run(raw_data):
    return {"type": type(raw_data).__name__, "value": json.loads(raw_data)}
