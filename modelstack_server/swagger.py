"""GET /swagger.json?version=2|2.0|3|3.0|3.1, as azmlinfsrv serves it.

A user's own file in AML_APP_ROOT wins (swagger.json or swagger2.json for version 2,
swagger3.json, swagger3.1.json); otherwise the document is azmlinfsrv's template (read from its
installed package) filled with the service's name, version and path prefix and with the
schemas of an @input_schema/@output_schema run(). Built on the first request, then kept:
its cost is not paid at start.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from typing import Any

# (version, aliases, template, user files)
BUILDERS = (
    ("2", ("2", "2.0"), "swagger2_template.json", ("swagger.json", "swagger2.json")),
    ("3", ("3", "3.0"), "swagger3_template.json", ("swagger3.json",)),
    ("3.1", ("3.1",), "swagger3_template.json", ("swagger3.1.json",)),
)
VALID_VERSIONS = frozenset(alias for _, aliases, _, _ in BUILDERS for alias in aliases)
DEFAULT_VERSION = "2"


class SwaggerNotFound(Exception):
    pass


def templates_folder() -> str | None:
    spec = importlib.util.find_spec("azureml_inference_server_http")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "server")


class SwaggerDocuments:
    def __init__(
        self,
        run: Callable,
        app_root: str,
        service_name: str,
        service_version: str,
        path_prefix: str,
        templates: str | None = None,
    ):
        self._run = run
        self._app_root = app_root
        self._substitutions = {
            "$SERVICE_NAME$": service_name,
            "$SERVICE_VERSION$": service_version,
            "$PATH_PREFIX$": f"/{path_prefix.strip('/')}" if path_prefix else "",
        }
        self._templates = templates
        self._documents: dict[str, bytes] | None = None
        self._supported: list[str] = []

    def document(self, version: str | None) -> bytes:
        """The JSON text for a version; SwaggerNotFound with azmlinfsrv's message otherwise."""
        version = DEFAULT_VERSION if version is None else version
        documents = self._documents if self._documents is not None else self._build()
        listed = ", ".join(sorted(self._supported))
        if version not in VALID_VERSIONS:
            raise SwaggerNotFound(f"Swagger version [{version}] is not valid. Supported versions: [{listed}].")
        found = documents.get(version)
        if not found:
            raise SwaggerNotFound(
                f"Swagger version [{version}] is not supported for the scoring script. Supported swagger versions: [{listed}]."
            )
        return found

    def _build(self) -> dict[str, bytes]:
        documents: dict[str, bytes] = {}
        supported = []
        for version, aliases, template, user_files in BUILDERS:
            spec = self._user_file(user_files) or self._generate(version, aliases, template)
            if spec is not None:
                text = json.dumps(spec).encode()
                for alias in aliases:
                    documents[alias] = text
                supported.append(version)
        self._supported = sorted(supported)
        self._documents = documents
        return documents

    def _user_file(self, names) -> Any:
        for name in names:
            try:
                with open(os.path.join(self._app_root, name), encoding="utf-8") as handle:
                    return json.load(handle)
            except FileNotFoundError:
                continue
        return None

    def _generate(self, version: str, aliases, template: str) -> dict | None:
        from inference_schema.schema_util import (
            get_input_schema,
            get_output_schema,
            get_supported_versions,
            is_schema_decorated,
        )

        if all(alias not in get_supported_versions(self._run) for alias in aliases):
            return None
        if is_schema_decorated(self._run):
            input_schema, output_schema = get_input_schema(self._run), get_output_schema(self._run)
        else:
            input_schema = output_schema = {"type": "object", "example": {}}
        folder = self._templates or templates_folder()
        if folder is None:
            return None
        with open(os.path.join(folder, template), encoding="utf-8") as handle:
            text = handle.read()
        for marker, value in self._substitutions.items():
            text = text.replace(marker, value)
        spec = json.loads(text)
        if version == "2":
            spec["definitions"]["ServiceInput"] = input_schema
            spec["definitions"]["ServiceOutput"] = output_schema
        else:
            spec["components"]["schemas"]["ServiceInput"] = input_schema
            spec["components"]["schemas"]["ServiceOutput"] = output_schema
            if version == "3.1":
                spec["openapi"] = "3.1.0"
        return spec
