"""Signed URLs for what a browser fetches without headers: `<video>`, `<img>`, hls.js segments.

`?exp=<unix seconds>&sig=<HMAC-SHA256(key, "<path>\\n<exp>")>`, base64url. The key is the
service's signing secret (never the cursor key). Unsigned, tampered or expired -> 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from chalicelib.errors import ForbiddenError


class UrlSigner:
    def __init__(
        self, key: bytes, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        if len(key) < 16:
            raise ValueError("the URL signing key must have at least 16 bytes")
        self._key = key
        self._ttl = ttl_seconds
        self._clock = clock

    def _sig(self, path: str, exp: int) -> str:
        mac = hmac.new(self._key, f"{path}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def mac(self, context: str, message: str) -> str:
        """A MAC of `message` for another use of this key (`context` keeps uses apart)."""
        return self._sig(f"{context}\n{message}", 0)

    def query(self, path: str) -> str:
        """The query string (`exp=...&sig=...`) that makes `path` fetchable until it expires."""
        exp = int(self._clock()) + self._ttl
        return urlencode({"exp": exp, "sig": self._sig(path, exp)})

    def sign(self, url: str, path: str) -> str:
        """`url` (whose path is `path`) with its signature appended."""
        return f"{url}{'&' if '?' in url else '?'}{self.query(path)}"

    def verify(self, path: str, params: Mapping[str, str] | None) -> None:
        """Raise ForbiddenError unless `params` carry a valid, unexpired signature of `path`."""
        params = params or {}
        exp_raw, sig = params.get("exp", ""), params.get("sig", "")
        if not exp_raw or not sig:
            raise ForbiddenError("this URL must be signed (exp and sig); read the item again")
        # ASCII only: '²'.isdigit() is True but int() refuses it, and compare_digest raises on
        # non-ASCII text (both were 500s, found by fuzzing).
        if not (exp_raw.isascii() and exp_raw.isdigit()) or len(exp_raw) > 12:
            raise ForbiddenError("invalid URL signature")
        exp = int(exp_raw)
        if not sig.isascii() or not hmac.compare_digest(self._sig(path, exp), sig):
            raise ForbiddenError("invalid URL signature")
        if exp < self._clock():
            raise ForbiddenError("this signed URL has expired; read the item again")
