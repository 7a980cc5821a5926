"""Asking a registry whether it has an image: a missing tag is None, a registry that does not
answer is an error (never a reason to rebuild), against stand-ins on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from components.errors import BuildError
from components.image.builder import registry_digest

DIGEST = "sha256:" + "ab" * 32


class Registry(BaseHTTPRequestHandler):
    def do_HEAD(self):  # http.server's name for the handler
        if self.path == "/v2/diabetes/manifests/present":
            self.send_response(200)
            self.send_header("Docker-Content-Digest", DIGEST)
        else:
            self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def registry():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_present_and_missing(registry):
    assert registry_digest(f"{registry}/diabetes", "present") == DIGEST
    assert registry_digest(f"{registry}/diabetes", "missing") is None


def test_a_registry_that_does_not_answer_is_an_error_not_a_missing_image(silent_port):
    with pytest.raises(BuildError) as caught:
        registry_digest(f"localhost:{silent_port}/diabetes", "any", timeout=0.2, attempts=2)
    assert str(caught.value) == (
        f"the registry localhost:{silent_port} did not answer whether it has diabetes:any (ReadTimeout, 2 tries of 0.2 s)\n"
        "  Rule: an image is built only when its registry says it is missing\n"
        f"  Fix: check that the registry at localhost:{silent_port} runs (`pulumi refresh` restarts a local one), then run again"
    )
