"""@rawhttp: the body as request.get_data() gives it, by length and SHA-256 (binary bodies too)."""
import hashlib
import json

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    body = request.get_data()
    return AMLResponse(json.dumps({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}), 200, {"Content-Type": "application/json"})
