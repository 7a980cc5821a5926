"""run() returning a float JSON has no number for (NaN, Infinity)."""
import json


def init():
    pass


def run(data):
    return {"prediction": float(json.loads(data)["value"])}
