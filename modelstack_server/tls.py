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


def refusal(cert_file: str, key_file: str) -> str | None:
    """Why the certificate and key cannot serve HTTPS (not PEM, or not a pair), or None."""
    import ssl

    from .contract import TLS_CERT_ENV, TLS_KEY_ENV

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, ValueError) as error:
        reason = getattr(error, "reason", None)  # OpenSSL's word for it, when it has one
        return (
            f"{TLS_CERT_ENV} and {TLS_KEY_ENV} must hold a PEM certificate and its PEM private key "
            f"(-----BEGIN CERTIFICATE----- ... and -----BEGIN PRIVATE KEY----- ...); "
            f"they could not be loaded ({reason.lower().replace('_', ' ') if reason else 'not PEM'})"
        )
    return None
