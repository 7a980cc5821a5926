"""run() returning None: azmlinfsrv answers {}."""


def init():
    pass


def run(data):
    return None
