"""AMLResponse with a status, headers (one with a comma: two values) and json_str."""
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    return AMLResponse({"created": [1, 2]}, 201, {"X-Model-Version": "7", "X-Tags": "a, b", "Cache-Control": "no-store"}, json_str=True)
