"""run(*args): refused at start, as azmlinfsrv refuses it."""


def init():
    pass


def run(*args):
    return args
