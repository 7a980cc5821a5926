"""@rawhttp returning what cannot become a response body: an AMLResponse over a list of numbers
(Flask cannot encode them), or a set (JSON cannot)."""
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    if request.args.get("kind") == "set":
        return {1, 2, 3}
    return AMLResponse([1, 2, 3], 200)
