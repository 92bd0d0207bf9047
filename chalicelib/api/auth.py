"""Access tokens: who is calling, in which workspace, with which scope.

A token reads `vt_<id>_<secret>`: the id finds the record, the secret (256 random bits) is
checked against a salted scrypt hash, never stored in clear and never logged. The record is
read on every request, so a revocation or an expiry takes effect on the next request; only the
scrypt result is cached (by a SHA-256 of the presented token, for `cache_seconds`), which keeps
the hot path at one indexed read. Comparisons are constant-time.

The operator's admin token (`VIDEO_ADMIN_TOKEN`, or generated locally) is configuration, not a
record: it belongs to workspace `default` and may act for any workspace.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.api.schemas import Choice, Integer, Object, Query, Text
from chalicelib.domain import DEFAULT_WORKSPACE, Item, utc_now
from chalicelib.domain.access import SCOPES, Principal
from chalicelib.errors import ForbiddenError, RateLimitedError, UnauthorizedError
from chalicelib.store.base import Tokens

PREFIX = "vt"
_TOKEN_RE = re.compile(r"^vt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
WORKSPACE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~40 ms and 16 MiB per hash: slow for a guesser
_TOUCH_SECONDS = 60.0  # lastUsedAt is written at most once a minute per token and process
_MAX_CACHE = 10_000
MIN_EXPIRY, MAX_EXPIRY = 60, 366 * 86400

# The request schemas of /tokens (they validate, and the OpenAPI document shows them).
WORKSPACE = Text(
    max_length=63,
    pattern=WORKSPACE_RE.pattern.removeprefix("^").removesuffix("$"),
    message="workspace must match [a-z0-9][a-z0-9-]{0,62}",
    description="A workspace name; only the operator's admin token may name another one.",
    example="acme",
)
NEW_TOKEN = Object(
    {
        "name": Text(max_length=100, non_blank=True, strip=True, example="ci"),
        "scope": Choice(SCOPES, description="read < write < admin", example="write"),
        "workspace": WORKSPACE,
        "expiresIn": Integer(
            minimum=MIN_EXPIRY,
            maximum=MAX_EXPIRY,
            message=f"expiresIn must be whole seconds between {MIN_EXPIRY} and {MAX_EXPIRY}",
            description="Lifetime in seconds (none: the token does not expire).",
            example=2592000,
        ),
    },
    required=("name", "scope"),
)
TOKEN_LIST_PARAMS = Query({"workspace": WORKSPACE})


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    enc = base64.urlsafe_b64encode
    return f"scrypt${enc(salt).decode()}${enc(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, digest = base64.urlsafe_b64decode(salt_b64), base64.urlsafe_b64decode(digest_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    return hmac.compare_digest(candidate, digest)


def new_token() -> tuple[str, str, str]:
    """`(token id, secret, the whole token)`."""
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return token_id, secret, f"{PREFIX}_{token_id}_{secret}"


def _parse_expiry(value: int | None) -> str | None:
    if value is None:
        return None
    return (datetime.now(UTC) + timedelta(seconds=value)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def public_view(token: Item) -> Item:
    """A token record as the API shows it: never the hash."""
    keys = ("id", "name", "scope", "workspace", "expiresAt", "createdAt", "lastUsedAt")
    view = {k: token.get(k) for k in keys}
    view["revoked"] = bool(token.get("revokedAt"))
    if token.get("revokedAt"):
        view["revokedAt"] = token["revokedAt"]
    return view


class RateLimiter:
    """Token bucket per key (in-process: per API process, i.e. per Lambda environment)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds until a request would be."""
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self._burst), now))
            tokens = min(float(self._burst), tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate


class Authenticator:
    def __init__(
        self,
        store: Tokens,
        admin_token: Callable[[], str],
        *,
        cache_seconds: float = 300.0,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._admin_token = admin_token
        self._cache_seconds = cache_seconds
        self._limiter = limiter
        self._clock = clock
        self._verified: dict[bytes, tuple[str, float]] = {}  # sha256(token) -> (hash, until)
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of a request with this `Authorization` header, or UnauthorizedError."""
        if not authorization:
            raise UnauthorizedError("an access token is required (Authorization: Bearer ...)", "")
        scheme, _, presented = authorization.strip().partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented or len(presented) > 512:
            raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
        principal = self._operator(presented) or self._record(presented)
        if self._limiter is not None:
            wait = self._limiter.take(principal.token_id)
            if wait > 0:
                raise RateLimitedError(
                    "too many requests with this token; slow down", retry_after=wait
                )
        return principal

    def _operator(self, presented: str) -> Principal | None:
        admin = self._admin_token()
        fingerprint = hashlib.sha256(presented.encode()).digest()
        if admin and hmac.compare_digest(fingerprint, hashlib.sha256(admin.encode()).digest()):
            return Principal("operator", DEFAULT_WORKSPACE, "admin", operator=True)
        return None

    def _record(self, presented: str) -> Principal:
        match = _TOKEN_RE.match(presented)
        invalid = UnauthorizedError("the access token is invalid, revoked or expired")
        if match is None:
            raise invalid
        token_id, secret = match.groups()
        record = self._store.get_token(token_id)
        if record is None or record.get("revokedAt"):
            raise invalid
        expires = record.get("expiresAt")
        now_iso = utc_now()
        if expires and expires <= now_iso:
            raise invalid
        if not self._secret_matches(presented, secret, str(record.get("hash", ""))):
            raise invalid
        self._touch(token_id, now_iso)
        return Principal(token_id, str(record["workspace"]), str(record["scope"]))

    def _secret_matches(self, presented: str, secret: str, stored: str) -> bool:
        key = hashlib.sha256(presented.encode()).digest()
        now = self._clock()
        with self._lock:
            cached = self._verified.get(key)
        if cached is not None and cached[1] > now and hmac.compare_digest(cached[0], stored):
            return True
        if not verify_secret(secret, stored):
            return False
        with self._lock:
            if len(self._verified) >= _MAX_CACHE:
                self._verified.clear()
            self._verified[key] = (stored, now + self._cache_seconds)
        return True

    def _touch(self, token_id: str, now_iso: str) -> None:
        now = self._clock()
        with self._lock:
            if now - self._touched.get(token_id, -_TOUCH_SECONDS) < _TOUCH_SECONDS:
                return
            self._touched[token_id] = now
        self._store.update_token(token_id, {"lastUsedAt": now_iso})


class TokenService:
    """`POST/GET/DELETE /tokens` (admin scope) and the operators' CLI."""

    def __init__(self, store: Tokens) -> None:
        self._store = store

    def create(self, body: Any, actor: Principal) -> Item:
        fields = NEW_TOKEN.check(body)
        name, scope = fields["name"], fields["scope"]
        workspace = fields.get("workspace", actor.workspace)
        if workspace != actor.workspace and not actor.operator:
            raise ForbiddenError(
                "only the operator's admin token may mint tokens for another workspace"
            )
        token_id, secret, whole = new_token()
        record: Item = {
            "id": token_id,
            "name": name,
            "scope": scope,
            "workspace": workspace,
            "hash": hash_secret(secret),
            "createdAt": utc_now(),
            "createdBy": actor.token_id,
            "expiresAt": _parse_expiry(fields.get("expiresIn")),
        }
        self._store.put_token(record)
        return {**public_view(record), "secret": whole}

    def list(self, actor: Principal, workspace: str | None = None) -> list[Item]:
        target = workspace or actor.workspace
        if target != actor.workspace and not actor.operator:
            return []
        return [public_view(t) for t in self._store.list_tokens(target)]

    def revoke(self, token_id: str, actor: Principal) -> None:
        from chalicelib.errors import NotFoundError

        record = (
            self._store.get_token(token_id) if re.fullmatch(r"[0-9a-f]{16}", token_id) else None
        )
        if record is None or (record["workspace"] != actor.workspace and not actor.operator):
            raise NotFoundError(f"token {token_id!r} not found")
        if not record.get("revokedAt"):
            self._store.update_token(
                token_id, {"revokedAt": utc_now(), "revokedBy": actor.token_id}
            )
