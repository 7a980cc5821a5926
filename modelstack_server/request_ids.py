"""Request ids as azmlinfsrv echoes them on its routes.

- x-request-id: the client's, or a new UUID;
- x-ms-client-request-id: the client's, when sent;
- x-ms-request-id: the legacy id: the client's x-ms-request-id if sent (then it is also the
  client request id when x-ms-client-request-id is missing), else the client request id, else
  the request id;
- an id over 100 characters is refused with 431 and a message naming the header.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

HEADER_LIMIT = 100
REQUEST_ID_TOO_LONG = f"x-request-id must not exceed {HEADER_LIMIT} characters"
CLIENT_IDS_TOO_LONG = f"x-ms-request-id and x-ms-client-request-id must not exceed {HEADER_LIMIT} characters"


@dataclass(frozen=True)
class RequestIds:
    request_id: str = ""
    legacy_client_request_id: str = ""
    client_request_id: str = ""
    refusal: str | None = None  # the 431 message, when an id is too long

    def response_headers(self) -> list[tuple[str, str]]:
        headers = []
        if self.request_id:
            headers.append(("x-request-id", self.request_id))
        if self.legacy_client_request_id:
            headers.append(("x-ms-request-id", self.legacy_client_request_id))
        if self.client_request_id:
            headers.append(("x-ms-client-request-id", self.client_request_id))
        return headers


def request_ids(
    request_id: str | None, legacy: str | None, client: str | None, new_id=lambda: str(uuid.uuid4())
) -> RequestIds:
    """From the request's x-request-id, x-ms-request-id and x-ms-client-request-id headers."""
    request_id = request_id if request_id is not None else new_id()
    if len(request_id) > HEADER_LIMIT:
        return RequestIds(refusal=REQUEST_ID_TOO_LONG)
    legacy = legacy or ""
    client = client or ""
    if legacy:
        client = client or legacy
    else:
        legacy = client or request_id
    if len(legacy) > HEADER_LIMIT or len(client) > HEADER_LIMIT:
        return RequestIds(request_id=request_id, refusal=CLIENT_IDS_TOO_LONG)
    return RequestIds(request_id, legacy, client)
