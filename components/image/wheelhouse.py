"""Wheelhouses: the pip packages of an image, downloaded on the host before the build.

The build then installs with `--no-index`, so it needs no network (air-gapped users, and
machines whose containers cannot reach PyPI) and installs exactly what was downloaded.
A wheelhouse is keyed by the digest of the rendered requirements and reused by every
service and every build that asks for the same requirements.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from components.errors import BuildError

# The interpreter inside our images (Debian bookworm's python3); wheels are picked for it,
# whatever Python runs modelstack on the host.
IMAGE_PYTHON_VERSION = "3.11"
IMAGE_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64")
COMPLETE_MARKER = ".complete"


def wheelhouse_dir(cache_root: Path, requirements_digest: str) -> Path:
    return cache_root / "wheelhouse" / requirements_digest


def pip_download_command(requirements_file: Path, dest: Path) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(dest),
        "--only-binary=:all:",
        "--python-version",
        IMAGE_PYTHON_VERSION,
        "--implementation",
        "cp",
    ]
    for platform in IMAGE_PLATFORMS:
        command += ["--platform", platform]
    return command + ["--requirement", str(requirements_file)]


def ensure_wheelhouse(cache_root: Path, requirements_digest: str, requirements: str, log=print) -> Path:
    """The wheelhouse for these requirements, downloading it the first time only."""
    target = wheelhouse_dir(cache_root, requirements_digest)
    if (target / COMPLETE_MARKER).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"downloading wheels for the image ({requirements_digest}) into {target}")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        scratch_path = Path(scratch)
        requirements_file = scratch_path / "requirements.txt"
        requirements_file.write_text(requirements)
        wheels = scratch_path / "wheels"
        result = subprocess.run(pip_download_command(requirements_file, wheels), capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-8:])
            raise BuildError(
                f"pip could not download the image's packages:\n{tail}",
                rule=f"every requirement needs a wheel for CPython {IMAGE_PYTHON_VERSION} on linux x86_64 (the image's Python)",
                fix="pin a version that publishes such a wheel, or check that PyPI (or your PIP_INDEX_URL) is reachable",
            )
        (wheels / COMPLETE_MARKER).write_text(requirements)
        # Services with the same requirements build side by side and may both download: the
        # first to finish wins, and a wheelhouse another build may be reading is never replaced.
        try:
            wheels.rename(target)
        except OSError:
            if not (target / COMPLETE_MARKER).exists():  # an unfinished folder of an older modelstack
                shutil.rmtree(target)
                wheels.rename(target)
    count = sum(1 for f in target.iterdir() if f.suffix == ".whl")
    log(f"wheelhouse ready: {count} wheels")
    return target
