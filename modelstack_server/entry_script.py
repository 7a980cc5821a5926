"""The entry script: loading it as azmlinfsrv does, and turning a request into run()'s arguments.

Loading: the script is executed as module `entry_module` with AML_APP_ROOT (and
AML_APP_ROOT/AZUREML_SOURCE_DIRECTORY) appended to sys.path; it must define init() and run();
a proxy "driver module" (`driver_module` attribute with its own run) is looked through for run().
`from azureml.contrib.services.aml_request import AMLRequest, rawhttp` works, as in Azure ML's
docs, without that package: the names resolve to azmlinfsrv's own modules, and only when a
script asks for them (they import Flask, which a plain script never pays for).

How run() is called, decided once from the script:
- `@rawhttp` anywhere in the script: run(request) with a Flask request built from the HTTP one;
- `@input_schema` (inference-schema): run(**{parameter: body[parameter]}) from a JSON object body;
- otherwise: run(body as a str) (GET: the query parameters as a JSON object string);
- a `request_headers` parameter receives the request's headers as a dict.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

RAW, SCHEMA, JSON_STRING = "rawhttp", "input_schema", "json_string"
AML_REQUEST_MODULE = "azureml_inference_server_http.api.aml_request"
AML_RESPONSE_MODULE = "azureml_inference_server_http.api.aml_response"
CONTRIB_ALIASES = {
    "azureml.contrib.services.aml_request": AML_REQUEST_MODULE,
    "azureml.contrib.services.aml_response": AML_RESPONSE_MODULE,
}
CONTRIB_PARENTS = ("azureml", "azureml.contrib", "azureml.contrib.services")
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class ScriptError(Exception):
    """The script cannot be served (missing init/run, a bad run() signature, an import error)."""


class InputError(Exception):
    """The request cannot become run()'s arguments: status and message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class UnsupportedMethod(Exception):
    """run() takes no input from this method (OPTIONS, HEAD) unless it is @rawhttp."""


class _ContribAliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """azureml.contrib.services.aml_request/aml_response -> azmlinfsrv's modules, on demand."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in CONTRIB_ALIASES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(CONTRIB_ALIASES[spec.name])

    def exec_module(self, module):
        pass


class _ContribParents(importlib.abc.MetaPathFinder):
    """Empty packages azureml, azureml.contrib, azureml.contrib.services, last on sys.meta_path:
    a real azureml package, when installed, is found first."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in CONTRIB_PARENTS:
            spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
            spec.submodule_search_locations = []
            return spec
        return None


def install_contrib_aliases() -> None:
    if not any(isinstance(finder, _ContribAliases) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ContribAliases())
        sys.meta_path.append(_ContribParents())


@dataclass
class EntryScript:
    init: Callable[[], Any]
    run: Callable[..., Any]
    kind: str
    parameters: list[inspect.Parameter]
    takes_request_headers: bool
    module: ModuleType | None  # None: run() and init() given without their module (tests)

    @property
    def first_parameter(self) -> str:
        return self.parameters[0].name

    def call(self, arguments: dict[str, Any], request_headers: dict[str, str]) -> Any:
        if self.takes_request_headers:
            return self.run(**arguments, request_headers=request_headers)
        return self.run(**arguments)


def load(path: str, app_root: str, source_dir: str | None = None) -> EntryScript:
    install_contrib_aliases()
    sys.path.append(app_root)
    if source_dir:
        sys.path.append(os.path.join(app_root, source_dir))
    spec = importlib.util.spec_from_file_location("entry_module", path)
    if spec is None or spec.loader is None:  # no loader takes a file whose name does not end in .py (or .pyc, .so)
        raise ScriptError(f"the entry script {path} is not a Python file: its name must end in .py")
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException as error:
        raise ScriptError(f"importing the entry script {path} raised {type(error).__name__}: {error}") from error
    for name in ("init", "run"):
        if not hasattr(module, name):
            raise ScriptError(f"the entry script {path} does not define {name}()")
    driver = getattr(module, "driver_module", None)
    run = driver.run if isinstance(driver, ModuleType) and hasattr(driver, "run") else module.run
    return analyse(run, module.init, module)


def analyse(run: Callable, init: Callable = lambda: None, module: ModuleType | None = None) -> EntryScript:
    parameters = list(inspect.signature(run).parameters.values())
    if any(p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters):
        raise ScriptError("run() cannot accept positional-only arguments, *args, or **kwargs.")
    takes_headers = any(p.name == "request_headers" for p in parameters)
    parameters = [p for p in parameters if p.name != "request_headers"]
    if not parameters:
        raise ScriptError(
            'run() needs to accept an argument other than "request_headers".'
            if takes_headers
            else "run() needs to accept an argument for input data."
        )
    raw = rawhttp_requested()
    decorated = schema_decorated(run)
    if raw and decorated:
        raise ScriptError("run() cannot be decorated with both @rawhttp and @input_schema")
    kind = RAW if raw else SCHEMA if decorated else JSON_STRING
    return EntryScript(init, run, kind, parameters, takes_headers, module)


def rawhttp_requested() -> bool:
    # @rawhttp is azmlinfsrv's decorator: it marks its module, whichever function it decorates.
    module = sys.modules.get(AML_REQUEST_MODULE)
    return bool(getattr(module, "_rawHttpRequested", False))


def schema_decorated(run: Callable) -> bool:
    if "inference_schema.schema_util" not in sys.modules:
        return False  # the script never imported inference-schema: it cannot be decorated
    from inference_schema.schema_util import is_schema_decorated

    return is_schema_decorated(run)


# --- run()'s arguments from a request --------------------------------------------------------


def mimetype(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    kind = mimetype(content_type)
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def unparsable_json(error: Exception) -> str:
    """What was wrong with a JSON body that is well-formed text yet cannot be parsed (never a traceback)."""
    if isinstance(error, UnicodeDecodeError):
        return f"POST body is not UTF-8 (byte {error.start}); send JSON encoded in UTF-8"
    if isinstance(error, RecursionError):
        return (
            "POST body is JSON nested too deeply to parse; send arrays and objects nested at most a few hundred levels"
        )
    if isinstance(error, ValueError) and "digits" in str(error):
        return "POST body holds an integer of more than 4300 digits, which cannot be parsed; send it as a string"
    return f"POST body could not be decoded as JSON ({type(error).__name__})"


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value
    except RecursionError:
        raise InputError(400, "a query parameter is JSON nested too deeply to parse") from None


def query_parameters(query_string: bytes) -> dict[str, Any]:
    """GET /score?a=1&b=[1,2]&c=x&c=y -> {"a": 1, "b": [1, 2], "c": ["x", "y"]}: values parsed as
    JSON where they are JSON, a repeated name becomes a list."""
    grouped: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string.decode("utf-8", "replace"), keep_blank_values=True):
        grouped.setdefault(name, []).append(value)
    return {
        name: _json_or_text(values[0]) if len(values) == 1 else [_json_or_text(v) for v in values]
        for name, values in grouped.items()
    }


def run_arguments(
    script: EntryScript, method: str, query_string: bytes, body: bytes, content_type: str | None
) -> dict[str, Any]:
    """run()'s keyword arguments for a JSON-string or an @input_schema script."""
    if method == "GET":
        parsed = query_parameters(query_string)
        if script.kind == JSON_STRING:
            return {script.first_parameter: json.dumps(parsed)}
        return _schema_arguments(script, parsed)
    if method != "POST":
        raise UnsupportedMethod(method)
    if script.kind == JSON_STRING:
        if mimetype(content_type) in FORM_MIMETYPES:
            body = b""  # a form body is parsed as a form, as Flask's request.data does
        try:
            return {script.first_parameter: str(body, "utf-8")}
        except UnicodeDecodeError as error:
            raise InputError(400, f"Input cannot be decoded as UTF-8: {error}") from None
    if not is_json(content_type):
        raise InputError(415, "Expects Content-Type to be application/json")
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as error:
        if body:
            raise InputError(400, f"POST body could not be decoded as JSON: {error}") from None
        raise InputError(400, "POST body is empty. Expecting a JSON dictionary.") from None
    except Exception as error:  # azmlinfsrv's internal error (500): the caller's body, so 400 here
        raise InputError(400, unparsable_json(error)) from None
    if not isinstance(parsed, dict):
        raise InputError(400, "POST body should be a JSON dictionary.")
    return _schema_arguments(script, parsed)


def _schema_arguments(script: EntryScript, values: dict[str, Any]) -> dict[str, Any]:
    arguments = {}
    for parameter in script.parameters:
        value = values.get(parameter.name, parameter.default)
        if value is inspect.Parameter.empty:
            raise InputError(400, f"A value is not provided for the {parameter.name!r} parameter.")
        arguments[parameter.name] = value
    return arguments


def title_case_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's headers as run(request_headers=...) receives them: names Title-Cased,
    repeated headers joined with a comma."""
    result: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").title()
        value = raw_value.decode("latin-1")
        result[name] = f"{result[name]},{value}" if name in result else value
    return result


def wsgi_environ(scope: dict, body: bytes) -> dict[str, Any]:
    """A WSGI environ for @rawhttp scripts' Flask request (built only for them)."""
    import io

    server = scope.get("server") or ("127.0.0.1", 5001)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        # The body is complete (read before run() is called, chunked or not): Flask reads it
        # whole even without a Content-Length, as under gunicorn, which sets this too.
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = name
        else:
            key = "HTTP_" + name
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if "CONTENT_LENGTH" not in environ and body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def raw_request(scope: dict, body: bytes):
    """The request object a @rawhttp run() receives: Flask's, as under azmlinfsrv."""
    from flask import Request

    return Request(wsgi_environ(scope, body))


def flask_response_type():
    """Flask's Response class when Flask is loaded (a script returned an AMLResponse), else None."""
    flask = sys.modules.get("flask")
    return getattr(flask, "Response", None) if flask else None
