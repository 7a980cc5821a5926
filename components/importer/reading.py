"""The source files of an import, read within bounds: whatever a file holds, the result is a
value or a ConfigError naming the file, the rule and the fix; never a traceback or a hang.

JSON and YAML go through `components.config.reading` (size, UTF-8, depth, aliases, duplicate
keys). Python is parsed, never run; a notebook is JSON whose code cells are joined into one
module, at most `MAX_NOTEBOOK_CELLS` cells (a notebook is written by people: more cells than
that is not a notebook anyone deploys from).
"""

from __future__ import annotations

import ast
import bisect
import json
import json.decoder
import json.scanner
import re
from pathlib import Path
from typing import Any

from components.config import reading
from components.errors import ConfigError

MAX_SOURCE_BYTES = reading.MAX_CONFIG_BYTES  # JSON, YAML and Python sources: 1 MiB
MAX_NOTEBOOK_BYTES = 16 * 1024 * 1024
MAX_NOTEBOOK_CELLS = 2000
SOURCE_RULE = "an import source is a UTF-8 file of at most 1 MiB (a notebook: 16 MiB), nested at most 64 levels"


def _text(path: Path, limit: int = MAX_SOURCE_BYTES) -> str:
    try:
        return reading.read_text(path, limit=limit, rule=SOURCE_RULE, key=path.name)
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist",
            key=path.name,
            rule="every source named on the command line is a file",
            fix="check the path",
        ) from None


def read_json(path: Path, lines: dict[str, int] | None = None) -> Any:
    """The JSON document; a key given twice in one object is refused (Python's json keeps the
    last silently), naming the key and both lines. `lines` receives each field's line, by its
    dotted name ("autoScaler.minReplicas")."""
    text = _text(path)
    value = reading.parse_json(
        text,
        path.name,
        rule=SOURCE_RULE,
        fix=f"fix {path.name} (is it the file Azure ML used?)",
        error=ConfigError,
        key=path.name,
    )
    found = _JsonKeys(text, path.name).lines  # the text is valid JSON nested at most 64 levels here
    if lines is not None:
        lines.update(found)
    return value


_DECODER: Any = json.decoder  # the pure-Python parts the standard library's json is made of
_SCANNER: Any = json.scanner
_SPACE = re.compile(r"[ \t\n\r]*")


class _JsonKeys:
    """One more pass over valid JSON with the standard library's pure-Python scanner, whose
    object parser is replaced by one that notes where each key is and refuses one given twice."""

    def __init__(self, text: str, name: str):
        self.name = name
        self.newlines = [i for i, c in enumerate(text) if c == "\n"]
        self.lines: dict[str, int] = {}
        self.path: list[str] = []
        decoder: Any = json.JSONDecoder()
        decoder.parse_object = self._object
        decoder.parse_array = self._array
        decoder.memo = {}
        scan = _SCANNER.py_make_scanner(decoder)
        scan(text, _SPACE.match(text, 0).end())  # type: ignore[union-attr]

    def _line(self, offset: int) -> int:
        return bisect.bisect_left(self.newlines, offset) + 1

    def _array(self, s_and_end, scan_once, *_):
        self.path.append("[]")
        try:
            return _DECODER.JSONArray(s_and_end, scan_once)
        finally:
            self.path.pop()

    def _object(self, s_and_end, strict, scan_once, *_):
        text, end = s_and_end
        seen: dict[str, int] = {}
        end = _SPACE.match(text, end).end()  # type: ignore[union-attr]
        if text[end] == "}":
            return {}, end + 1
        while True:
            line = self._line(end)
            key, end = _DECODER.scanstring(text, end + 1, strict)
            where = ".".join([*self.path, key])
            if key in seen:
                raise ConfigError(
                    f"'{key}' is given twice in one object (lines {seen[key]} and {line})",
                    key=f"{self.name}: {where} (line {line})",
                    rule="a JSON object names each field once; Azure ML and Python keep the last silently, so modelstack refuses it",
                    fix=f"keep one of the two '{key}' in {self.name}",
                )
            seen[key] = line
            self.lines.setdefault(where, line)
            end = _SPACE.match(text, end).end() + 1  # type: ignore[union-attr]  # past ':'
            end = _SPACE.match(text, end).end()  # type: ignore[union-attr]
            self.path.append(key)
            try:
                _, end = scan_once(text, end)
            finally:
                self.path.pop()
            end = _SPACE.match(text, end).end()  # type: ignore[union-attr]
            if text[end] == "}":
                return {}, end + 1
            end = _SPACE.match(text, end + 1).end()  # type: ignore[union-attr]  # past ','


def read_yaml(path: Path, lines: dict[str, int] | None = None) -> Any:
    """The YAML document (a key given twice is refused by the reader); `lines` receives each
    field's line, by its dotted name."""
    text = _text(path)
    value = reading.parse_yaml(text, path.name, rule=SOURCE_RULE)
    if lines is not None:
        _yaml_lines(text, lines)
    return value


def _yaml_lines(text: str, lines: dict[str, int]) -> None:
    """Each mapping key's line (the document already read within bounds, so this walk is bounded)."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return  # lines are for the report only
    pending: list[tuple[Any, list[str]]] = [(root, [])]
    while pending:
        node, path = pending.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    where = [*path, str(key_node.value)]
                    lines.setdefault(".".join(where), key_node.start_mark.line + 1)
                    pending.append((value_node, where))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend((item, [*path, "[]"]) for item in node.value)


def read_mapping(path: Path, loaded: Any) -> dict:
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"{path.name} holds a {type(loaded).__name__}, not a mapping",
            key=path.name,
            rule="an Azure ML configuration file is a mapping of fields",
            fix=f"point the import at the file Azure ML read ({path.name} is not one)",
        )
    return loaded


def _parse_python(text: str, name: str) -> ast.Module:
    try:
        return ast.parse(text, filename=name)
    except SyntaxError as exc:
        raise ConfigError(
            f"{name} is not valid Python (line {exc.lineno}: {exc.msg})",
            key=name,
            rule="a Python source is read as Python, without running it",
            fix="fix the syntax at that line",
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise ConfigError(
            f"{name} nests too deeply to be read",
            key=name,
            rule=f"{SOURCE_RULE}; its expressions nest at most a few hundred levels",
            fix="split the deeply nested expression",
        ) from None


def read_python(path: Path) -> tuple[ast.Module, list[int]]:
    """The module, and the line numbers as the user sees them (identity for a .py file)."""
    tree = _parse_python(_text(path), path.name)
    _check_depth(tree, path.name)
    return tree, []


def read_notebook(path: Path) -> tuple[ast.Module, list[int]]:
    """The notebook's code cells as one module, and per line of that module 'cell number'
    (so an error says 'cell 3, line 2', where the user looks)."""
    document = reading.parse_json(
        _text(path, MAX_NOTEBOOK_BYTES),
        path.name,
        rule=SOURCE_RULE,
        fix="save the notebook again from Jupyter",
        error=ConfigError,
        key=path.name,
    )
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise ConfigError(
            f"{path.name} has no list of cells",
            key=f"{path.name}: cells",
            rule="a notebook (.ipynb, nbformat 4) holds a list `cells`",
            fix="save the notebook again from Jupyter",
        )
    if len(cells) > MAX_NOTEBOOK_CELLS:
        raise ConfigError(
            f"{path.name} has {len(cells):,} cells",
            key=f"{path.name}: cells",
            rule=f"a notebook is read up to {MAX_NOTEBOOK_CELLS:,} cells",
            fix="copy the cells that register and deploy the model into a .py file and import that",
        )
    lines: list[str] = []
    cell_of_line: list[int] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise ConfigError(
                f"cell {number} of {path.name} has a source that is not text",
                key=f"{path.name}: cells[{number - 1}].source",
                rule="a code cell's source is a string or a list of strings",
                fix="save the notebook again from Jupyter",
            )
        for text_line in source.splitlines():
            # IPython magics and shell escapes are not Python: blank them, keeping line numbers.
            lines.append("" if text_line.lstrip().startswith(("%", "!")) else text_line)
            cell_of_line.append(number)
        lines.append("")
        cell_of_line.append(number)
    tree = _parse_python("\n".join(lines), path.name)
    _check_depth(tree, path.name)
    return tree, cell_of_line


def _check_depth(tree: ast.AST, name: str, limit: int = reading.MAX_DEPTH * 4) -> None:
    """Refuse absurdly nested code up front (iteratively), so no later walk recurses too deep."""
    pending = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            raise ConfigError(
                f"{name} nests expressions deeper than {limit} levels",
                key=name,
                rule=f"{SOURCE_RULE}; expressions nest at most {limit} levels",
                fix="split the deeply nested expression",
            )
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
