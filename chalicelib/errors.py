"""Errors are values with a code; one mapping (chalicelib.api.http) turns them into responses."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar


class ServiceError(Exception):
    """A failure the caller can understand: carries an HTTP status and a stable code."""

    status = 400
    code = "BadRequest"

    def __init__(
        self,
        message: str,
        details: Any = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}
        if code:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            err["details"] = self.details
        return {"error": err}


class ValidationError(ServiceError):
    status = 400
    code = "ValidationError"


class NotFoundError(ServiceError):
    status = 404
    code = "NotFound"


class UnauthorizedError(ServiceError):
    """No usable credentials: missing, malformed, unknown, revoked or expired token."""

    status = 401
    code = "Unauthorized"

    def __init__(self, message: str, error: str = "invalid_token") -> None:
        # RFC 6750: the challenge names the scheme; `error` only when a token was presented.
        challenge = 'Bearer realm="video-service"'
        if error:
            challenge += f', error="{error}"'
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class ForbiddenError(ServiceError):
    """Valid credentials without the right (a scope too small, a bad URL signature)."""

    status = 403
    code = "Forbidden"


class RateLimitedError(ServiceError):
    status = 429
    code = "TooManyRequests"

    def __init__(
        self, message: str, retry_after: float, code: str | None = None, details: Any = None
    ) -> None:
        super().__init__(
            message,
            details=details,
            code=code,
            headers={"Retry-After": str(max(1, int(retry_after + 0.999)))},
        )


class ConflictError(ServiceError):
    status = 409
    code = "Conflict"


class PayloadTooLargeError(ServiceError):
    status = 413
    code = "PayloadTooLarge"


class UnsupportedMediaTypeError(ServiceError):
    status = 415
    code = "UnsupportedMediaType"


class DependencyError(ServiceError):
    """A backing service (store, orchestrator) failed; the request may be retried."""

    status = 503
    code = "DependencyUnavailable"


T = TypeVar("T", bound=type)


def dependency_errors(service: str, *kinds: type[BaseException]) -> Callable[[T], T]:
    """Class decorator for adapters: every public method re-raises the backend's own failures
    (`kinds`) as `DependencyError`, so callers never sniff driver exception types."""

    def wrap_method(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except kinds as exc:
                # The driver's error name helps an operator; its message (ARNs, keys) stays in
                # the chained cause, which reaches logs but never a response body.
                raise DependencyError(
                    f"the {service} is unavailable ({type(exc).__name__}); try again"
                ) from exc

        return wrapped

    def decorate(cls: T) -> T:
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(member):
                setattr(cls, name, wrap_method(member))
        return cls

    return decorate


class TransitionRejected(Exception):
    """A conditional status transition did not apply (the video was not in an allowed state)."""

    def __init__(self, video_id: str, current: str | None) -> None:
        super().__init__(f"video {video_id} is {current or 'missing'}")
        self.video_id = video_id
        self.current = current
