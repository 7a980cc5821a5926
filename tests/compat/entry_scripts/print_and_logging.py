"""print() and logging from init() and run(): captured in the server's log format."""
import logging
import sys

log = logging.getLogger("azmlinfsrv.score")


def init():
    print("compat-print-init", 1, sep="|")


def run(data):
    print("compat-print-run", data)
    print("compat-print-stderr", file=sys.stderr)
    log.info("compat-logging-run")
    return "ok"
