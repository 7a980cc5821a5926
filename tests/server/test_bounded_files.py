"""Key files read bounded (modelstack_server/bounded_files.py): a Secret's file that is a fifo, a
device or huge is never waited on or read whole; the key it would hold counts as absent, and the
other key still works. In process; the same in a real server is tests/compat/test_bad_input.py."""

from __future__ import annotations

import os
import threading

import pytest

from modelstack_server.bounded_files import MAX_SECRET_FILE_BYTES, FileRefused, read_bounded
from modelstack_server.keys import KeySource

HANG_SECONDS = 30  # only catches a read that waits for a writer


def _fifo(path):
    os.mkfifo(path)


def _zero(path):
    os.symlink("/dev/zero", path)


def _huge(path):
    with open(path, "wb") as handle:  # sparse: no disk or memory used
        handle.truncate(2 * 2**30)


def _just_over(path):
    path.write_bytes(b"k" * (MAX_SECRET_FILE_BYTES + 1))


def _folder(path):
    path.mkdir()


NOT_A_KEY = {"a fifo": _fifo, "/dev/zero": _zero, "a 2 GiB file": _huge, "a byte over": _just_over, "a folder": _folder}


@pytest.mark.parametrize("case", list(NOT_A_KEY))
def test_a_key_file_that_is_not_a_small_regular_file_counts_as_absent(tmp_path, case):
    NOT_A_KEY[case](tmp_path / "primary_key")
    (tmp_path / "secondary_key").write_text("second-0123\n")
    source = KeySource(folder=str(tmp_path))
    found: list = []
    reader = threading.Thread(target=lambda: found.append(source.keys()), daemon=True)
    reader.start()
    reader.join(HANG_SECONDS)
    try:
        assert not reader.is_alive(), f"reading the keys waited on {case}"
    finally:
        if case == "a fifo" and reader.is_alive():  # a writer that closes at once lets the old read end
            os.close(os.open(tmp_path / "primary_key", os.O_WRONLY | os.O_NONBLOCK))
    assert found == [(b"second-0123",)]
    assert source.matches(b"second-0123") and not source.matches(b"k")


@pytest.mark.parametrize("case", list(NOT_A_KEY))
def test_read_bounded_names_the_file_and_the_rule(tmp_path, case):
    path = tmp_path / "primary_key"
    NOT_A_KEY[case](path)
    with pytest.raises(FileRefused) as refused:
        read_bounded(str(path))
    text = str(refused.value)
    assert text.startswith(f"{path} is ") and ("regular file" in text or f"at most {MAX_SECRET_FILE_BYTES}" in text)


def test_a_key_of_the_limit_is_read(tmp_path):
    path = tmp_path / "primary_key"
    path.write_bytes(b"k" * MAX_SECRET_FILE_BYTES)
    assert read_bounded(str(path)) == b"k" * MAX_SECRET_FILE_BYTES
