"""run() raising: 500, the traceback in the logs, nothing of it in the body."""


def init():
    pass


def run(data):
    raise ValueError("secret detail that must not reach the client")
