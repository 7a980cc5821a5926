"""@rawhttp from azmlinfsrv's own module: the request object as Flask's, GET and POST."""
import json

from azureml_inference_server_http.api.aml_request import AMLRequest, rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    if request.method == "GET":
        return {"method": "GET", "args": request.args.to_dict(flat=False), "path": request.path, "query": request.query_string.decode()}
    if request.method == "POST":
        body = request.get_data()
        described = {
            "method": "POST",
            "body": body.decode(),
            "content_type": request.content_type,
            "mimetype": request.mimetype,
            "is_json": request.is_json,
            "json": request.get_json(silent=True),
            "custom": request.headers.get("X-Custom"),
            "length": request.content_length,
        }
        return AMLResponse(json.dumps(described), 200, {"Content-Type": "application/json"})
    return AMLResponse("method " + request.method, 405)
