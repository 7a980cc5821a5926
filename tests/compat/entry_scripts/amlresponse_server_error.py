"""An AMLResponse of 5xx from run(): the server marks it x-ms-run-function-failed: True."""
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    if request.args.get("none"):
        return AMLResponse(None, 202)
    return AMLResponse("model unavailable", 503, {"Retry-After": "5"})
