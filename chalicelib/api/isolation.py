"""A Chalice app object whose per-request state belongs to the request that set it.

Chalice keeps `current_request` and `lambda_context` as plain attributes of the one app object
(`Chalice.__call__` assigns both, and it is the only place in chalice/app.py that does: the
REST handler keeps its own per-call copies, and `lambda_function`, event-source and middleware
handlers are handed their event and context as arguments). One request at a time, as in a
Lambda process, that is fine; served on threads (chalice local, `make run`) a view reads
whichever request was assigned last (aws/chalice#759): another client's body, headers, query.

`IsolatedChalice` makes both attributes context variables and runs every request in a copy of
the caller's context. A thread has its own context, so concurrent requests cannot see each
other's; and since the copy is dropped when the request ends, whatever the request set (its
`current_request`, `REQUEST_BASE_URL`, any later request-scoped variable) never outlives it on a
kept-alive thread. Code the request hands to another thread sees no request at all (None), never
someone else's.
"""

from __future__ import annotations

import contextvars
from typing import Any

from chalice import Chalice
from chalice.app import Request


class IsolatedChalice(Chalice):
    """`Chalice` with `current_request` / `lambda_context` scoped to the running request."""

    def __init__(self, app_name: str, *args: Any, **kwargs: Any) -> None:
        # Per instance: two apps in one process (tests) must not share a request either.
        self._request_var: contextvars.ContextVar[Request | None] = contextvars.ContextVar(
            f"{app_name}.current_request", default=None
        )
        self._context_var: contextvars.ContextVar[Any] = contextvars.ContextVar(
            f"{app_name}.lambda_context", default=None
        )
        super().__init__(app_name, *args, **kwargs)

    # Chalice declares both as instance attributes; these properties take their place.
    @property
    def current_request(self) -> Request | None:
        return self._request_var.get()

    @current_request.setter
    def current_request(self, value: Request | None) -> None:
        self._request_var.set(value)

    @property
    def lambda_context(self) -> Any:
        return self._context_var.get()

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._context_var.set(value)

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        # Chalice.__call__ assigns current_request / lambda_context, then runs middleware and
        # the view: all of it inside this request's own context.
        return contextvars.copy_context().run(super().__call__, event, context)
