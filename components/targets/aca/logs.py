"""An aca service's console log: what its containers printed, as the stack's Log Analytics
workspace received it, queried through Azure Resource Manager with the user's Azure identity
(the Azure CLI's token, as image pushes and ACI logs use).

A scaled-to-zero app has no replica to stream from, and its earlier replicas are gone: the
workspace keeps what they printed. Log Analytics receives lines a minute or two after they are
printed, so there is no --follow here (`az containerapp logs show --follow` streams a live one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from components.errors import ModelstackError
from components.targets.azure.management import ARM, resource_group_access, unanswered

# Azure Resource Manager's proxy of the Log Analytics query API: the ARM token is enough.
QUERY_API_VERSION = "2020-08-01"
CONSOLE_TABLE = "ContainerAppConsoleLogs_CL"
# Bounded: a connection within 10 s, an answer within 60 s, at most 64 MiB of it.
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60
MAX_ANSWER_BYTES = 64 * 1024 * 1024
# How far back the query looks: Log Analytics keeps 30 days (components.targets.aca.environment).
QUERY_TIMESPAN = "P30D"


def console_query(app_name: str, tail: int) -> str:
    """The last `tail` lines the app printed, oldest first. The app's name is Azure's (lowercase
    letters, digits and '-', checked at config time), so it is safe inside the quotes."""
    return (
        f"{CONSOLE_TABLE} | where ContainerAppName_s == '{app_name}' "
        f"| top {int(tail)} by TimeGenerated desc | sort by TimeGenerated asc | project TimeGenerated, Log_s"
    )


def rows_of(document: Any) -> list[str]:
    """The Log_s column of the answer's first table."""
    tables = document.get("tables") if isinstance(document, dict) else None
    if not isinstance(tables, list) or not tables or not isinstance(tables[0], dict):
        raise ValueError("no tables")
    columns = [c.get("name") for c in tables[0].get("columns") or [] if isinstance(c, dict)]
    index = columns.index("Log_s")
    return ["" if row[index] is None else str(row[index]).rstrip("\n") for row in tables[0].get("rows") or []]


def _read_bounded(answer) -> bytes:
    body = b""
    for chunk in answer.iter_content(chunk_size=65536):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise ModelstackError(
                f"Azure's answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB",
                rule="modelstack logs reads a bounded answer",
                fix="ask for fewer lines (--tail)",
            )
    return body


def aca_logs(
    resource_group: str,
    workspace: str,
    app_name: str,
    *,
    tail: int,
    base_url: str = ARM,
    token_source: Callable[[], Any] | None = None,
) -> str:
    """The app's last `tail` console lines, from the workspace, with the user's Azure identity."""
    import requests

    access = resource_group_access(
        resource_group, finding="the stack's Log Analytics workspace", base_url=base_url, token_source=token_source
    )
    url = f"{access.url}/providers/Microsoft.OperationalInsights/workspaces/{workspace}/api/query"
    try:
        with requests.post(
            url,
            params={"api-version": QUERY_API_VERSION},
            json={"query": console_query(app_name, tail), "timespan": QUERY_TIMESPAN},
            headers=access.headers,
            timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
            stream=True,
        ) as answer:
            status = answer.status_code
            body = _read_bounded(answer)
    except requests.RequestException as failed:
        raise unanswered(
            failed, "aca logs are read from the stack's Log Analytics workspace through Azure's management API"
        ) from None
    if status == 404:
        raise ModelstackError(
            f"Log Analytics workspace {workspace} was not found in resource group {resource_group}",
            rule="an aca service's console logs go to the workspace its stack creates beside the Container Apps environment",
            fix="pulumi up for the stack (or `az account set` to the stack's subscription)",
        )
    if status in (401, 403):
        raise ModelstackError(
            f"Azure refused to query workspace {workspace}: HTTP {status}",
            rule="reading the console logs needs Microsoft.OperationalInsights/workspaces/query/read on the workspace",
            fix="ask for Log Analytics Reader on the stack's resource group, or check `az login`",
        )
    if status != 200:
        raise ModelstackError(
            f"Azure could not query workspace {workspace}: HTTP {status}",
            rule="aca logs are a query of the stack's Log Analytics workspace",
            fix="try again in a minute; if it persists, run the query in the portal's Logs view of the workspace",
        )
    try:
        lines = rows_of(json.loads(body))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise ModelstackError(
            f"the answer of workspace {workspace} is not a query result",
            rule="Log Analytics answers a query with tables of columns and rows",
            fix="try again; if it persists, run the query in the portal's Logs view of the workspace",
        ) from None
    return "\n".join(lines)
