"""@rawhttp answering CORS itself, preflight included (the v1 docs' pattern)."""
from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    if request.method == "OPTIONS":
        return AMLResponse("", 200, {"Access-Control-Allow-Origin": "https://docs.example.com", "Access-Control-Allow-Methods": "POST, OPTIONS", "Access-Control-Allow-Headers": "Content-Type"})
    response = AMLResponse({"scored": True}, 200, {"Access-Control-Allow-Origin": "https://docs.example.com"}, json_str=True)
    return response
