"""Opaque, signed pagination tokens.

A token carries the backend position (createdAt + id of the last item), the filter it was
issued for and when it was issued, signed with HMAC-SHA256. A forged, truncated, expired
or re-used-with-another-filter token is a 400, never a 500 and never a silent restart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.errors import ValidationError

_MAX_TOKEN = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(
        self, secret: bytes, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self._ttl = ttl_seconds
        self._clock = clock

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]

    def encode(self, cursor: Mapping[str, Any], status: str | None) -> str:
        body = {"c": cursor["createdAt"], "i": cursor["id"], "s": status, "t": int(self._clock())}
        payload = json.dumps(body, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, token: str, status: str | None) -> dict[str, Any]:
        invalid = ValidationError(
            "nextToken is not a token this service issued", code="InvalidToken"
        )
        if len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise invalid
        body_b64, sig_b64 = token.split(".")
        try:
            payload, sig = _unb64(body_b64), _unb64(sig_b64)
        except (binascii.Error, ValueError):
            raise invalid from None
        if not hmac.compare_digest(sig, self._sign(payload)):
            raise invalid
        try:
            body = json.loads(payload)
            created, vid, issued = body["c"], body["i"], body["t"]
            token_status = body["s"]
        except (ValueError, KeyError, TypeError):
            raise invalid from None
        if not (isinstance(created, str) and isinstance(vid, str) and isinstance(issued, int)):
            raise invalid
        if token_status != status:
            raise ValidationError(  # the scope names the filter and workspace: never echoed
                "nextToken was issued for another status filter or workspace",
                code="InvalidToken",
            )
        if self._clock() - issued > self._ttl:
            raise ValidationError(
                "nextToken has expired; list again from the start", code="ExpiredToken"
            )
        return {"createdAt": created, "id": vid}
