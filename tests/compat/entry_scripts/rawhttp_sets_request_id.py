"""@rawhttp setting the request-id headers the server sets itself."""
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    return AMLResponse("ok", 200, {"x-request-id": "the-scripts-own", "X-Ms-Request-Id": "also-the-scripts"})
