"""No run(): the server does not start."""


def init():
    pass
