"""run(data, request_headers): the headers as a dict with Title-Cased names."""


def init():
    pass


def run(data, request_headers):
    return {"data": data, "custom": request_headers.get("X-Custom"), "type": request_headers.get("Content-Type"), "has_host": "Host" in request_headers}
