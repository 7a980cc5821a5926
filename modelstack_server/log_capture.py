"""Logs as azmlinfsrv writes them, so log queries keep working:

- the server's lines go to the logger `azmlinfsrv` on stdout, formatted
  `2024-01-01 00:00:00,000 I [pid] azmlinfsrv - message` (UTC);
- print() to stdout inside the entry script becomes a line of the logger `azmlinfsrv.print`;
  print to any other file is left alone;
- a logging.json in AML_APP_ROOT (or the entry script's folder) replaces this configuration;
- the root logger is left to the script, as azmlinfsrv leaves it.
One line per scoring request (`POST /score 200 0.412ms 7`), none for the health probe. With the
default configuration that line is written by `access_line` straight to stdout in the same format:
Python's logging machinery per record (a LogRecord, a formatter, a lock) cost about 12% of the
requests a replica serves at concurrency 8 and 32; with a logging.json it goes through logging.
"""

from __future__ import annotations

import builtins
import functools
import json
import logging
import logging.config
import os
import sys
import time

LOGGER = "azmlinfsrv"
PRINT_LOGGER = "azmlinfsrv.print"
FORMAT = "%(asctime)s %(levelname).1s [%(process)d] %(name)s - %(message)s"

_builtin_print = builtins.print


class UtcFormatter(logging.Formatter):
    # mypy takes the function for a method bound to the formatter; a builtin is not bound, and
    # logging calls it with the record's time alone, as the logging documentation shows
    converter = time.gmtime  # type: ignore[assignment]


class AccessLine:
    """The per-request line, formatted as FORMAT formats it, written in one call. The date part of
    the timestamp is formatted once a second."""

    def __init__(self, stream):
        self._stream = stream
        self._second = -1
        self._stamp = ""
        self._set_prefix()
        os.register_at_fork(after_in_child=self._set_prefix)  # workers log their own pid, as logging does

    def _set_prefix(self) -> None:
        self._prefix = f" I [{os.getpid()}] {LOGGER} - "

    def __call__(self, message: str) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        self._stream.write(f"{self._stamp},{int((now - second) * 1000):03d}{self._prefix}{message}\n")


def _logged(message: str) -> None:
    logging.getLogger(LOGGER).info(message)


# How the server writes its access line: through logging until `configure` has chosen.
access_line = _logged


def configure(app_root: str, entry_script: str) -> None:
    try:
        # a line shows up in `docker logs` when written; typed TextIO, sys.stdout is a TextIOWrapper
        # unless replaced, and a replacement without reconfigure is the AttributeError below
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    for folder in (app_root, os.path.dirname(entry_script)):
        path = os.path.join(folder, "logging.json")
        if os.path.isfile(path):
            with open(path) as handle:
                logging.config.dictConfig(json.load(handle))
            logging.getLogger(LOGGER).info(f"Loaded logging config from {path}")
            _use_access_line(_logged)
            break
    else:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(UtcFormatter(FORMAT))
        logger = logging.getLogger(LOGGER)
        logger.handlers[:] = [handler]
        logger.setLevel(os.environ.get("AZUREML_LOG_LEVEL", "INFO").upper())
        logger.propagate = False
        _use_access_line(AccessLine(sys.stdout) if logger.isEnabledFor(logging.INFO) else (lambda message: None))
    builtins.print = print_to_log


def _use_access_line(writer) -> None:
    global access_line
    access_line = writer


@functools.wraps(_builtin_print)
def print_to_log(*objects, sep=" ", end="\n", file=None, flush=False):
    target = file or sys.stdout
    if target is sys.stdout:
        logging.getLogger(PRINT_LOGGER).info((sep if sep is not None else " ").join(map(str, objects)))
    else:
        _builtin_print(*objects, sep=sep, end=end, file=file, flush=flush)
