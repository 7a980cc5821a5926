"""@rawhttp calling request.get_json(): Flask's own errors on a bad body become a script failure."""
from azureml_inference_server_http.api.aml_request import rawhttp


def init():
    pass


@rawhttp
def run(request):
    return {"sum": sum(request.get_json()["values"])}
