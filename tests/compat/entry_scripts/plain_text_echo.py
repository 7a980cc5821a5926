"""No decorator, no JSON parsing: the string itself comes back (bad JSON is the script's business)."""


def init():
    pass


def run(data):
    return data
