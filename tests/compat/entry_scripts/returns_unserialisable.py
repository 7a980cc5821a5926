"""run() returning what json cannot encode (a set): 500, the server's message, not the script's."""


def init():
    pass


def run(data):
    return {1, 2, 3}
