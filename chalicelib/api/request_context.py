"""The id of the request being served, for logs written below the route wrapper.

The route wrapper (chalicelib.api.http) sets it; code it calls (the service, adapters) may
quote it in a log line next to an internal detail that never goes into a response body.
"""

from __future__ import annotations

import contextvars

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    return REQUEST_ID.get()
