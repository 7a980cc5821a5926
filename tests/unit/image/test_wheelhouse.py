"""Wheelhouses shared by services with the same requirements: two builds side by side may both
download; the one that finishes second never replaces the folder the first is building from.
pip is replaced by a stand-in that writes the wheels (the real download is covered by the
integration tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from components.image import wheelhouse
from components.image.wheelhouse import COMPLETE_MARKER, ensure_wheelhouse, wheelhouse_dir


def fake_pip(wheel_name: str, during=None):
    def run(command, **kwargs):
        dest = Path(command[command.index("--dest") + 1])
        dest.mkdir(parents=True)
        (dest / wheel_name).write_bytes(b"wheel")
        if during:
            during()
        return subprocess.CompletedProcess(command, 0, "", "")

    return run


def test_a_wheelhouse_another_build_finished_meanwhile_is_kept(tmp_path, monkeypatch):
    target = wheelhouse_dir(tmp_path, "abc")

    def other_build_finishes_first():
        target.mkdir(parents=True)
        (target / "theirs-1.0-py3-none-any.whl").write_bytes(b"in use by the other build")
        (target / COMPLETE_MARKER).write_text("x")

    monkeypatch.setattr(wheelhouse.subprocess, "run", fake_pip("ours-1.0-py3-none-any.whl", other_build_finishes_first))
    assert ensure_wheelhouse(tmp_path, "abc", "x\n", log=lambda _: None) == target
    assert (target / "theirs-1.0-py3-none-any.whl").read_bytes() == b"in use by the other build"
    assert not (target / "ours-1.0-py3-none-any.whl").exists()
    assert [p.name for p in target.parent.iterdir()] == ["abc"], "the scratch download is gone"


def test_an_unfinished_folder_is_replaced(tmp_path, monkeypatch):
    target = wheelhouse_dir(tmp_path, "abc")
    target.mkdir(parents=True)
    (target / "half.whl").write_bytes(b"")
    monkeypatch.setattr(wheelhouse.subprocess, "run", fake_pip("ours-1.0-py3-none-any.whl"))
    ensure_wheelhouse(tmp_path, "abc", "x\n", log=lambda _: None)
    assert sorted(p.name for p in target.iterdir()) == [COMPLETE_MARKER, "ours-1.0-py3-none-any.whl"]


def test_a_complete_wheelhouse_is_reused_without_pip(tmp_path, monkeypatch):
    target = wheelhouse_dir(tmp_path, "abc")
    target.mkdir(parents=True)
    (target / COMPLETE_MARKER).write_text("x")

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran for a complete wheelhouse")

    monkeypatch.setattr(wheelhouse.subprocess, "run", no_pip)
    assert ensure_wheelhouse(tmp_path, "abc", "x\n", log=lambda _: None) == target
