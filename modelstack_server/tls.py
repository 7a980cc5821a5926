"""HTTPS: the certificate and key the platform passes as environment variables (ACI with
ssl_enabled), written to files only this user can read, as uvicorn and gunicorn want files."""

from __future__ import annotations

import os
import tempfile


def write_tls_files(cert: str, key: str) -> tuple[str, str]:
    """(certificate file, key file) in a new private folder."""
    folder = tempfile.mkdtemp(prefix="modelstack-tls-")  # 0700, private to this user
    paths = (os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem"))
    for path, text in zip(paths, (cert, key), strict=True):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
    return paths
