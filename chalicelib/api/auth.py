"""Access tokens: who is calling, in which workspace, with which scope.

A token reads `vt_<id>_<secret>`: the id finds the record, the secret (256 random bits) is
checked against an HMAC-SHA256 of it under a server key (`SecretHasher`), never stored in clear
and never logged. A 256-bit random secret cannot be guessed, so a password KDF buys nothing and
costs every request (and every failed login) ~40 ms of CPU; hashes written by older versions
(scrypt) are still accepted and rewritten on their first successful use. The record is read on
every request, so a revocation or an expiry takes effect on the next request. Comparisons are
constant-time, and an unknown id costs the same read and HMAC as a known one (no timing oracle).

Failed logins are counted per token id and per client (`LoginThrottle`): past the limit within a
window the answer is 429 with `Retry-After` instead of 401.

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
from typing import Any, NoReturn

from chalicelib.api.schemas import Choice, Integer, Object, Query, Text
from chalicelib.domain import DEFAULT_WORKSPACE, Item, utc_now
from chalicelib.domain.access import SCOPES, Principal
from chalicelib.errors import ForbiddenError, RateLimitedError, UnauthorizedError
from chalicelib.store.base import Tokens

PREFIX = "vt"
_TOKEN_RE = re.compile(r"^vt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
WORKSPACE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # the parameters of hashes written by older versions
_FAST = "hmac-sha256"
_TOUCH_SECONDS = 60.0  # lastUsedAt is written at most once a minute per token and process
_MAX_BLOCKED = 10_000
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


class SecretHasher:
    """Token secrets' hashes: `hmac-sha256$<HMAC-SHA256(server key, secret)>`. No salt and no
    work factor: a secret of 256 random bits is neither in a dictionary nor guessable."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the token hash key must have at least 16 bytes")
        self._key = key

    def _digest(self, secret: str) -> bytes:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).digest()

    def hash(self, secret: str) -> str:
        return f"{_FAST}${base64.urlsafe_b64encode(self._digest(secret)).decode()}"

    def verify(self, secret: str, stored: str) -> tuple[bool, bool]:
        """`(matches, outdated)`: outdated when `stored` is an older scheme that should be
        rewritten with `hash` now that the secret is known to be right. The HMAC is computed
        whatever `stored` holds, so every rejection costs the same."""
        scheme, _, encoded = stored.partition("$")
        candidate = self._digest(secret)
        if scheme == _FAST:
            try:
                expected = base64.urlsafe_b64decode(encoded)
            except ValueError:
                expected = b""
            return hmac.compare_digest(candidate, expected), False
        return scheme == "scrypt" and _scrypt_matches(secret, encoded), True


def _scrypt_matches(secret: str, encoded: str) -> bool:
    """A hash written by an older version (`scrypt$<salt>$<digest>`)."""
    try:
        salt_b64, digest_b64 = encoded.split("$")
        salt, digest = base64.urlsafe_b64decode(salt_b64), base64.urlsafe_b64decode(digest_b64)
    except ValueError:
        return False
    candidate = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    return hmac.compare_digest(candidate, digest)


def scrypt_hash(secret: str) -> str:
    """A hash as older versions wrote it (tests of the migration)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    enc = base64.urlsafe_b64encode
    return f"scrypt${enc(salt).decode()}${enc(digest).decode()}"


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


class LoginThrottle:
    """Failed logins counted per key (`token:<id>`, `client:<address>`) in fixed windows.

    The count lives in the store (`Tokens.count_login_failure`: one write per failure, none per
    success), so every API process, and in AWS every Lambda environment, adds to the same
    count. A key past its limit is also remembered in this process until its window ends:
    further failures from it cost no store call."""

    def __init__(
        self,
        store: Tokens,
        *,
        per_token: int = 10,
        per_client: int = 50,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._limits = {"token": per_token, "client": per_client}
        self._window = window_seconds
        self._clock = clock
        self._blocked: dict[str, float] = {}  # key -> end of the window it is blocked in
        self._lock = threading.Lock()

    def blocked(self, key: str) -> float:
        """Seconds until `key` may fail again (0: not blocked, as far as this process knows)."""
        now = self._clock()
        with self._lock:
            until = self._blocked.get(key, 0.0)
        return until - now if until > now else 0.0

    def failed(self, keys: list[str]) -> float:
        """Count one failure against each key; the seconds to wait when one is past its limit."""
        now = self._clock()
        window = int(now // self._window)
        until = (window + 1) * self._window
        wait = 0.0
        for key in keys:
            if self.blocked(key):  # known already: no need to count it again
                wait = max(wait, until - now)
                continue
            count = self._store.count_login_failure(f"{key}@{window}", until + self._window)
            if count > self._limits[key.partition(":")[0]]:
                with self._lock:
                    if len(self._blocked) >= _MAX_BLOCKED:
                        self._blocked.clear()
                    self._blocked[key] = until
                wait = max(wait, until - now)
        return wait


class Authenticator:
    def __init__(
        self,
        store: Tokens,
        admin_token: Callable[[], str],
        hasher: SecretHasher,
        *,
        throttle: LoginThrottle | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._admin_token = admin_token
        self._hasher = hasher
        self._throttle = throttle
        self._limiter = limiter
        self._clock = clock
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None, client: str = "") -> Principal:
        """The caller of a request with this `Authorization` header, coming from `client` (its
        address), or UnauthorizedError (RateLimitedError once its failures are past the limit)."""
        if not authorization:
            raise UnauthorizedError("an access token is required (Authorization: Bearer ...)", "")
        if self._throttle is not None:
            wait = self._throttle.blocked(f"client:{client}")
            if wait > 0:
                raise _too_many_failures(wait)
        scheme, _, presented = authorization.strip().partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented or len(presented) > 512:
            self._reject(
                UnauthorizedError("the Authorization header must be 'Bearer <token>'"), client
            )
        principal = self._operator(presented) or self._record(presented, client)
        if self._limiter is not None:
            wait = self._limiter.take(principal.token_id)
            if wait > 0:
                raise RateLimitedError(
                    "too many requests with this token; slow down", retry_after=wait
                )
        return principal

    def _reject(
        self, error: UnauthorizedError, client: str, token_id: str | None = None
    ) -> NoReturn:
        """Count the failure (per client, and per token id when there is one), then refuse."""
        keys = [f"client:{client}"] + ([f"token:{token_id}"] if token_id else [])
        wait = self._throttle.failed(keys) if self._throttle is not None else 0.0
        if wait > 0:
            raise _too_many_failures(wait) from None
        raise error

    def _operator(self, presented: str) -> Principal | None:
        admin = self._admin_token()
        fingerprint = hashlib.sha256(presented.encode()).digest()
        if admin and hmac.compare_digest(fingerprint, hashlib.sha256(admin.encode()).digest()):
            return Principal("operator", DEFAULT_WORKSPACE, "admin", operator=True)
        return None

    def _record(self, presented: str, client: str) -> Principal:
        invalid = UnauthorizedError("the access token is invalid, revoked or expired")
        match = _TOKEN_RE.match(presented)
        if match is None:
            self._reject(invalid, client)
        token_id, secret = match.groups()
        record = self._store.get_token(token_id)
        # An unknown id is checked against a hash that matches nothing: the same work as a
        # known one, so the time to answer does not tell whether an id exists.
        stored = str(record.get("hash", "")) if record else f"{_FAST}$"
        matches, outdated = self._hasher.verify(secret, stored)
        now_iso = utc_now()
        expires = record.get("expiresAt") if record else None
        if (
            record is None
            or not matches
            or record.get("revokedAt")
            or (expires and expires <= now_iso)
        ):
            self._reject(invalid, client, token_id)
        if outdated:  # an older version's hash, and the secret is right: rewrite it
            self._store.update_token(token_id, {"hash": self._hasher.hash(secret)})
        self._touch(token_id, now_iso)
        return Principal(token_id, str(record["workspace"]), str(record["scope"]))

    def _touch(self, token_id: str, now_iso: str) -> None:
        now = self._clock()
        with self._lock:
            if now - self._touched.get(token_id, -_TOUCH_SECONDS) < _TOUCH_SECONDS:
                return
            self._touched[token_id] = now
        self._store.update_token(token_id, {"lastUsedAt": now_iso})


def _too_many_failures(wait: float) -> RateLimitedError:
    return RateLimitedError(
        "too many failed sign-ins from this client or for this token; try again later",
        retry_after=wait,
        code="TooManyFailedLogins",
    )


class TokenService:
    """`POST/GET/DELETE /tokens` (admin scope) and the operators' CLI."""

    def __init__(self, store: Tokens, hasher: SecretHasher) -> None:
        self._store = store
        self._hasher = hasher

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
            "hash": self._hasher.hash(secret),
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
