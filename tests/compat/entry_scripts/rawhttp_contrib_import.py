"""Exactly as Azure ML's docs write it: the azureml.contrib.services modules (not installed)."""
from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    if request.method == "POST":
        reqBody = request.get_data(False)
        return AMLResponse(reqBody, 200)
    if request.method == "GET":
        respBody = str.encode(request.full_path)
        return AMLResponse(respBody, 200)
    return AMLResponse("bad request", 500)
