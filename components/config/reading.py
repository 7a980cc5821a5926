"""Reading the files modelstack is handed (project and stack files, the files the configuration
names, previews, check results) within bounds: whatever a file holds, the result is a value or a
ModelstackError, never a traceback, a hang or a memory blow-up. This module is the one way
modelstack reads such a file: `read_config_file` for a file a config key names (a kubeconfig, a
requirements or conda file, extra Dockerfile steps, a PEM file), `read_text` for the rest.

The limits (stated in docs/configuration.md, "Limits of what is read"):
- a path a config key gives is non-empty text without NUL bytes, at most `MAX_PATH_CHARS`
  (4,096) characters, each of its parts at most `MAX_NAME_BYTES` (255) bytes (Linux's limits);
- a file is a regular file (not a folder, device, socket or fifo) of at most `MAX_CONFIG_BYTES`
  (1 MiB) for YAML configuration and the files the configuration names, `MAX_DOCUMENT_BYTES`
  (64 MiB) for JSON documents;
- text is UTF-8;
- nesting is at most `MAX_DEPTH` levels deep;
- a YAML document expands to at most `MAX_NODES` values once its aliases are followed (a
  "billion laughs" file is refused before anything expands it), and an alias may not refer
  to the collection that holds it;
- a YAML mapping names each key once (as Pulumi's own YAML reader requires);
- YAML scalars are read as the Pulumi engine reads them (YAML 1.2, Go's yaml.v3): only
  true/false are booleans (`yes`, `on` are text), `1:30` is text (not YAML 1.1's 90), `0o17`
  and `017` are octal, timestamps stay text. `check` and the engine thus see the same values.

Pure except for the one read of the file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from components.errors import ConfigError, ModelstackError

MAX_CONFIG_BYTES = 1024 * 1024
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000

MAX_PATH_CHARS = 4096
MAX_NAME_BYTES = 255

MERGE_TAG = "tag:yaml.org,2002:merge"


class UnreadableFileError(ConfigError):
    """A file or folder the configuration names cannot be read safely (not a regular file, too
    big, not text, an impossible path): `check` stops before it runs the program on it."""


def path_value_error(value: str, key: str) -> ConfigError | None:
    """None when a path a config key gives can name a file on Linux; else the error. Looked at
    before the path is handed to the file system (a NUL byte or an overlong name raise there)."""
    rule = (
        f"a path is 1-{MAX_PATH_CHARS:,} characters without NUL bytes, each of its parts at most {MAX_NAME_BYTES} bytes"
    )
    if not value.strip():
        return UnreadableFileError("the path is empty", key=key, rule=rule, fix="name the file, or remove the setting")
    if "\0" in value:
        return UnreadableFileError("the path holds a NUL byte", key=key, rule=rule, fix="correct the path")
    if len(value) > MAX_PATH_CHARS:
        return UnreadableFileError(
            f"the path is {len(value):,} characters long",
            key=key,
            rule=rule,
            fix="correct the path (is it the file's content instead of its path?)",
        )
    longest = max(value.split("/"), key=lambda part: len(part.encode("utf-8", "surrogateescape")))
    if len(longest.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        return UnreadableFileError(
            f"a part of the path is {len(longest.encode('utf-8', 'surrogateescape')):,} bytes long",
            key=key,
            rule=rule,
            fix="correct the path",
        )
    return None


def read_config_file(path: Path, *, key: str, what: str, limit: int = MAX_CONFIG_BYTES) -> str:
    """The text of a file a config key names, within the limits above; every problem is an
    UnreadableFileError naming the key (a missing file too). Nothing of the file's content
    appears in an error: it may be a kubeconfig, with credentials."""
    rule = f"{what} is a UTF-8 text file of at most {limit:,} bytes"
    problem = path_value_error(str(path), key)
    if problem is not None:
        raise problem
    try:
        text = read_text(path, limit=limit, rule=rule, error=UnreadableFileError, key=key)
    except FileNotFoundError:
        raise UnreadableFileError(
            f"{path} does not exist", key=key, rule=rule, fix="create the file, or correct the path"
        ) from None
    return text


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_text(
    path: Path,
    *,
    limit: int = MAX_CONFIG_BYTES,
    rule: str,
    error: type[ModelstackError] = ConfigError,
    key: str | None = None,
) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes.

    The file's type is looked at before it is opened, so a fifo or a device never blocks or
    streams forever; FileNotFoundError is left to the caller, which knows what the file is for.
    """
    name = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    except ValueError:  # a NUL byte in the path
        raise error(f"{name!r} holds a NUL byte", rule=rule, fix="correct the path", key=key) from None
    except OSError as exc:
        raise error(
            f"cannot read {name}: {exc.strerror or exc}", rule=rule, fix="check the path and its permissions", key=key
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise error(
            f"{name} is {_kind(info.st_mode)}",
            rule=f"{rule}; it is a regular file",
            fix=f"point {path.name} at a regular file (or replace it with one)",
            key=key,
        )
    if info.st_size > limit:
        raise error(
            f"{name} is {info.st_size:,} bytes",
            rule=f"{rule}; it is at most {limit:,} bytes",
            fix="shorten the file (is it the file you meant?)",
            key=key,
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(
            f"cannot read {name}: {exc.strerror or exc}", rule=rule, fix="check the path and its permissions", key=key
        ) from None
    if len(data) > limit:  # grew since it was looked at
        raise error(
            f"{name} is over {limit:,} bytes",
            rule=f"{rule}; it is at most {limit:,} bytes",
            fix="shorten the file",
            key=key,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line})",
            rule=f"{rule}; it is UTF-8 text",
            fix="save the file as UTF-8 (is it a binary file?)",
            key=key,
        ) from None


# --- YAML ------------------------------------------------------------------------------------


# The implicit types of plain scalars as Go's yaml.v3 (the Pulumi engine's reader) resolves
# them when it decodes a stack file's values; PyYAML's own are YAML 1.1's (yes/on booleans,
# sexagesimal 1:30 = 90), so `check` would read another value than the engine hands the program.
BOOL_TAG, INT_TAG, FLOAT_TAG, TIMESTAMP_TAG = (f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float", "timestamp"))
YAML12_RESOLVERS = (
    (BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    # Go's strconv.ParseInt with base 0 after yaml.v3 drops underscores: decimal, 0x, 0o, 0b, and 0-prefixed octal
    (
        INT_TAG,
        re.compile(r"^[-+]?(?:0|[1-9][0-9_]*|0[0-7_]+|0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+)$"),
        list("-+0123456789"),
    ),
    (
        FLOAT_TAG,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    ),
)


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with yaml.v3's implicit types (see YAML12_RESOLVERS)."""

    yaml_implicit_resolvers = {
        first: [
            (tag, pattern) for tag, pattern in resolvers if tag not in (BOOL_TAG, INT_TAG, FLOAT_TAG, TIMESTAMP_TAG)
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_int(self, node):
        # yaml.v3 has no sexagesimal ints, and reads 0o17 as Go does; PyYAML's constructor
        # handles 0x, 0b and 0-prefixed octal as Go does.
        text = self.construct_scalar(node).replace("_", "")
        sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
        try:
            if digits[:2] in ("0o", "0O"):
                return sign * int(digits[2:], 8)
            return super().construct_yaml_int(node)
        except ValueError:  # longer than Python converts (sys.get_int_max_str_digits(), 4,300 digits)
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of more than {sys.get_int_max_str_digits():,} digits", node.start_mark
            ) from None

    def construct_unsupported(self, node):
        # Values the engine's config cannot carry as they are: bytes, sets, ordered pairs, dates.
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"a value tagged !!{node.tag.rsplit(':', 1)[-1]}: only text, numbers, booleans, null, lists and "
            "mappings are read",
            node.start_mark,
        )


for _tag, _pattern, _first in YAML12_RESOLVERS:
    _Yaml12Loader.add_implicit_resolver(_tag, _pattern, _first)
_Yaml12Loader.add_constructor(INT_TAG, _Yaml12Loader.construct_yaml_int)
for _unsupported in ("binary", "set", "omap", "pairs", "timestamp"):
    _Yaml12Loader.add_constructor(f"tag:yaml.org,2002:{_unsupported}", _Yaml12Loader.construct_unsupported)


class _BoundedLoader(_Yaml12Loader):
    """The YAML 1.2 loader above, refusing duplicate keys and documents too deep or too big."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=False)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # unhashable: the base constructor says so with its own message
                if duplicate:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def expanded_size(root: Node) -> int:
    """How many values the node graph holds once every alias is followed, counted without
    following them (each node's size is computed once); a node that contains itself is refused."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        ident = id(node)
        if ident in sizes:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(ident)
            sizes[ident] = min(MAX_NODES + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        if ident in open_nodes:
            raise yaml.composer.ComposerError(
                None, None, "an alias refers to the collection that holds it", node.start_mark
            )
        open_nodes.add(ident)
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise yaml.composer.ComposerError(
                    None, None, "an alias refers to the collection that holds it", child.start_mark
                )
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def parse_yaml(text: str, name: str, *, rule: str, error: type[ModelstackError] = ConfigError) -> Any:
    """The value of a YAML document, within the limits above; errors point at the line."""
    loader = None
    try:
        loader = _BoundedLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        size = expanded_size(node)
        if size > MAX_NODES:
            raise error(
                f"{name} expands to more than {MAX_NODES:,} values (through its aliases)",
                rule=f"{rule}; once aliases (*name) are followed it holds at most {MAX_NODES:,} values",
                fix="write the values out instead of repeating aliases of aliases",
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        problem = _problem(exc)
        if problem.startswith("duplicate key"):
            fix = "keep one of the two (the engine refuses a key given twice)"
        elif problem.startswith("a value tagged !!"):
            fix = "remove the tag and write the value as text (quoted), a list or a mapping"
        elif problem.startswith("an integer of more than"):
            fix = "write a shorter number, or quote it to make it text"
        else:
            fix = "fix the indentation or quoting at that line"
        raise error(f"{name} is not valid YAML{_where(exc, text)}: {problem}", rule=rule, fix=fix) from None
    finally:
        if loader is not None:
            loader.dispose()


def _where(exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f" at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(exc, yaml.reader.ReaderError):
        return f" at line {text[: exc.position].count(chr(10)) + 1}"
    return ""


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character #x{exc.character:04x} is not allowed"
    return getattr(exc, "problem", None) or str(exc).splitlines()[0]


# --- JSON ------------------------------------------------------------------------------------


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed value nests deeper than `limit` (iterative: any depth is safe)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def parse_json(
    text: str,
    name: str,
    *,
    rule: str,
    fix: str,
    error: type[ModelstackError] = ModelstackError,
    key: str | None = None,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """The value of a JSON document, nested at most `max_depth` (MAX_DEPTH) levels."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{name} is not JSON ({exc.msg} at line {exc.lineno})", rule=rule, fix=fix, key=key) from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits(), 4,300 digits)
        raise error(
            f"{name} holds an integer of more than {sys.get_int_max_str_digits():,} digits",
            rule=f"{rule}; JSON numbers are at most {sys.get_int_max_str_digits():,} digits long",
            fix=fix,
            key=key,
        ) from None
    except RecursionError:
        value = None
        deep = True
    else:
        deep = _too_deep(value, max_depth)
    if deep:
        raise error(
            f"{name} nests deeper than {max_depth} levels",
            rule=f"{rule}; JSON nests at most {max_depth} levels",
            fix=fix,
            key=key,
        )
    return value
