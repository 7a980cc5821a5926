"""@rawhttp streaming: an AMLResponse over a generator. The first item is yielded at once; the
next ones only once the file named by ?gate= exists (the test creates it after it has read the
first item), so the first item can only reach the client while the generator is still running.
The wait is bounded (30 s), then the generator says it gave up."""
import os
import time

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


def _items(gate):
    yield "first\n"
    deadline = time.monotonic() + 30
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            yield "gave up waiting\n"
            return
        time.sleep(0.01)
    yield "second\n"
    yield "third\n"


@rawhttp
def run(request):
    return AMLResponse(_items(request.args["gate"]), 200, {"Content-Type": "text/plain"})
