"""An entry script that imports nothing and loads nothing: each server's own start, alone."""


def init():
    pass


def run(data):
    return data
