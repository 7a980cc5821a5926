"""Values that end up in a Dockerfile or a command: image references, registry addresses, the
CUDA version, the entry script's path. Each is checked against its grammar, so that no config
value can add a line (or a quote, a `$`, a space) to a rendered Dockerfile.

Image references follow the grammar of Docker's distribution/reference package:
`[domain[:port]/]path[:tag][@digest]`, lowercase path components, a name of at most 255
characters. Pure functions; `components.config.rules` calls them.
"""

from __future__ import annotations

import re

from components.config.schema import EnvironmentSpec, config_key
from components.errors import ConfigError

_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]{{1,5}})?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAME = rf"(?:{DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
TAG = r"[\w][\w.-]{0,127}"
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
NAME_MAX = 255

IMAGE_REFERENCE = re.compile(rf"^(?P<name>{NAME})(?::{TAG})?(?:@{DIGEST})?$")
PINNED_REFERENCE = re.compile(rf"^(?P<name>{NAME})(?::{TAG})?@sha256:[0-9a-f]{{64}}$")
REGISTRY_ADDRESS = re.compile(rf"^{DOMAIN}(?:/{_PATH_PART})*/?$")
CUDA_VERSION = re.compile(r"^[0-9]{1,2}\.[0-9]{1,2}(?:\.[0-9]{1,3})?$")
# A path as the Dockerfile names it (ENV and CMD): no spaces, quotes, `$` or line breaks.
SCRIPT_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")

IMAGE_RULE = "an image reference is [registry[:port]/]name[:tag][@digest]: lowercase name parts of letters, digits, '.', '_' and '-', no spaces, quotes or line breaks"


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def image_reference_error(value: str, key: str, *, pinned: bool = False) -> ConfigError | None:
    """None when `value` is an image reference (with a sha256 digest, when `pinned`)."""
    match = (PINNED_REFERENCE if pinned else IMAGE_REFERENCE).match(value)
    if match and len(match.group("name")) <= NAME_MAX:
        return None
    if pinned:
        return ConfigError(
            f"{_shown(value)} is not an image pinned by digest",
            key=key,
            rule=f"{IMAGE_RULE}; a release pin ends in @sha256:<64 hex digits>",
            fix="promote again (`modelstack promote`) to rewrite the release",
        )
    return ConfigError(
        f"{_shown(value)} is not an image reference",
        key=key,
        rule=IMAGE_RULE,
        fix="write it as e.g. myregistry.azurecr.io/team/base:1.0 (lowercase, no spaces)",
    )


def check_environment(service_name: str, env: EnvironmentSpec) -> list[ConfigError]:
    """The environment's values that are rendered into the Dockerfile."""
    key = ("services", service_name, "environment")
    errors = []
    if env.base_image is not None:
        error = image_reference_error(env.base_image, config_key(*key, "base_image"))
        errors += [error] if error else []
    if env.base_image_registry is not None and not REGISTRY_ADDRESS.match(env.base_image_registry.address):
        errors.append(
            ConfigError(
                f"{_shown(env.base_image_registry.address)} is not a registry address",
                key=config_key(*key, "base_image_registry", "address"),
                rule="a registry address is a host name with an optional :port (and path), without a scheme, spaces or quotes",
                fix="write it as e.g. myregistry.azurecr.io (no https://)",
            )
        )
    if env.cuda_version is not None and not CUDA_VERSION.match(env.cuda_version):
        errors.append(
            ConfigError(
                f"{_shown(env.cuda_version)} is not a CUDA version",
                key=config_key(*key, "cuda_version"),
                rule="cuda_version is MAJOR.MINOR[.PATCH] in digits (it names the CUDA base image)",
                fix="write it as e.g. '11.8' (quoted, so YAML keeps it text)",
            )
        )
    return errors


def script_path_error(value: str, key: str) -> ConfigError | None:
    """None when `value` can be named in a Dockerfile's ENV and CMD as it is."""
    if SCRIPT_PATH.match(value) and ".." not in value.split("/"):
        return None
    return ConfigError(
        f"{_shown(value)} is not a plain relative path",
        key=key,
        rule="entry_script is a relative path of letters, digits, '.', '_', '-' and '/', without '..' (it is written into the Dockerfile)",
        fix="rename the script (or its folders) to such a path",
    )
