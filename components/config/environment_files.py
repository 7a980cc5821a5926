"""Rules of what a service's environment files hold (`pip_requirements`, `conda_file`): pure
functions over the text, which `components.config.reading` has read within its bounds.

The requirements (or the conda file's pip section) are copied into the image's build context
alone, and pip reads them on this machine first (the wheelhouse). So a line that makes pip read
another file (`-r`, `-c`, a local path) would name a file the image does not have, and would
have pip read, and print in its error, a file of this machine outside the project
(`-r /etc/passwd`): such lines are refused, naming the line.
"""

from __future__ import annotations

import re
from typing import Any

from components.config import reading
from components.errors import ConfigError

# pip's options that read another file, spelled as pip accepts them (-rFILE, -r FILE, --requirement=FILE).
INCLUDE = re.compile(r"^(-r|-c|--requirement|--constraint)(\s*=?\s*)(\S*)")
EDITABLE = re.compile(r"^(-e|--editable)(\s*=?\s*)(\S*)")
# A requirement that is a path on this machine rather than a package of an index or a URL.
LOCAL_PATH = re.compile(r"^(\.{1,2}/|/|~|file:)")
REQUIREMENTS_RULE = "a requirements file lists packages (from an index or a URL); it is copied into the image alone, so it names no other file (-r, -c) and no local path"
CONDA_RULE = "a conda file is a YAML mapping whose `dependencies` is a list of package names and one `pip:` list"


def _line_problem(line: str) -> str | None:
    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith("#"):
        return None
    if INCLUDE.match(text):
        return "includes another file"
    editable = EDITABLE.match(text)
    if editable and LOCAL_PATH.match(editable.group(3) or "."):
        return "installs a local folder"
    if LOCAL_PATH.match(text):
        return "names a local path"
    return None


def requirements_errors(text: str, key: str) -> list[ConfigError]:
    """The first line of the requirements that makes pip read a file of this machine, if any.
    The line itself is not shown: it may be a path, and the file's text is the user's."""
    for number, line in enumerate(text.splitlines(), start=1):
        problem = _line_problem(line)
        if problem:
            return [
                ConfigError(
                    f"line {number} {problem}",
                    key=key,
                    rule=REQUIREMENTS_RULE,
                    fix="list the packages themselves in this file (copy the included file's lines in), or publish the local package to an index",
                )
            ]
    return []


def conda_document(text: str, key: str) -> dict[str, Any]:
    """A conda file's YAML mapping, its shape checked (as the image's build renders it)."""
    try:
        document = reading.parse_yaml(text, "the conda file", rule=CONDA_RULE)
    except ConfigError as error:
        raise ConfigError(error.detail, key=key, rule=CONDA_RULE, fix=error.fix or "fix the file") from None
    document = {} if document is None else document
    if not isinstance(document, dict):
        raise ConfigError(
            f"the conda file holds a {type(document).__name__}, not a mapping",
            key=key,
            rule=CONDA_RULE,
            fix="start the file with `name:` and `dependencies:`",
        )
    dependencies = document.get("dependencies") or []
    if not isinstance(dependencies, list) or not all(
        isinstance(d, str)
        or (
            isinstance(d, dict)
            and set(d) == {"pip"}
            and isinstance(d["pip"], list)
            and all(isinstance(p, str) for p in d["pip"])
        )
        for d in dependencies
    ):
        raise ConfigError(
            "`dependencies` of the conda file is not a list of names and `pip:` lists",
            key=key,
            rule=CONDA_RULE,
            fix="write each dependency as `- name=version`, and pip's packages under `- pip:`",
        )
    return document


def conda_errors(text: str, key: str) -> list[ConfigError]:
    try:
        document = conda_document(text, key)
    except ConfigError as error:
        return [error]
    pip_lines = [p for d in document.get("dependencies") or [] if isinstance(d, dict) for p in d["pip"]]
    return requirements_errors("\n".join(pip_lines), key)
