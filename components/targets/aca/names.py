"""The names of a stack's Container Apps resources, and the rule Azure applies to an app's name.

They follow components.config.naming: <project>-<stack>-<what>, lowercase, shortened with a
hash of the whole when longer than Azure allows (still unique, still readable).
"""

from __future__ import annotations

import hashlib
import re

from components.config import naming

# "Resource naming restrictions" (Microsoft.App/containerApps): 2-32 lowercase letters, digits
# and '-', starting with a letter, ending with a letter or digit, no '--'.
APP_NAME_MAX = 32
APP_NAME = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,30}[a-z0-9]$")
APP_NAME_RULE = "a container app's name is 2-32 lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, without '--'"
# Managed environments take the same characters; their limit is 60, kept to the apps' 32 here.
ENVIRONMENT_NAME_MAX = 32
ENVIRONMENT_PURPOSE = "aca"


def shortened(name: str, limit: int) -> str:
    """`name` if it fits, else its head and a hash of the whole (as components.config.naming does)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"


def app_name(project: str, stack: str, service: str, configured: str | None = None) -> str:
    """The container app of a service: its configured app_name, else <project>-<stack>-<service>."""
    if configured:
        return configured
    return shortened(naming.container_group_name(project, stack, service), APP_NAME_MAX)


def environment_name(project: str, stack: str) -> str:
    """The stack's Container Apps environment: <project>-<stack>-aca."""
    return shortened(naming.identity_name(project, stack, ENVIRONMENT_PURPOSE), ENVIRONMENT_NAME_MAX)


def log_workspace_name(project: str, stack: str) -> str:
    """The environment's Log Analytics workspace: <project>-<stack>-aca-logs (not the Application
    Insights workspace of the same stack, <project>-<stack>-logs: each is owned by one resource)."""
    return naming.log_workspace_name(project, f"{stack}-{ENVIRONMENT_PURPOSE}")


def valid_app_name(name: str) -> bool:
    return bool(APP_NAME.match(name))


def suggested_app_name(name: str) -> str | None:
    """A valid name close to `name`, or None when nothing of it can be kept."""
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", name.lower())).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)
    candidate = shortened(slug, APP_NAME_MAX) if slug else ""
    return candidate if valid_app_name(candidate) else None
