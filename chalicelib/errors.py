"""Errors are values with a code; one mapping (in app.py) turns them into HTTP responses."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A failure the caller can understand: carries an HTTP status and a stable code."""

    status = 400
    code = "BadRequest"

    def __init__(self, message: str, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
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


class TransitionRejected(Exception):
    """A conditional status transition did not apply (the video was not in an allowed state)."""

    def __init__(self, video_id: str, current: str | None) -> None:
        super().__init__(f"video {video_id} is {current or 'missing'}")
        self.video_id = video_id
        self.current = current
