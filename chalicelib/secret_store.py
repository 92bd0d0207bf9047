"""The service's three secrets: the operator's admin token, the page-cursor key and the
URL-signing key, each from where the deployment keeps it.

Each comes from the first of: its plain setting (local dev, the emulator: `VIDEO_ADMIN_TOKEN`,
`VIDEO_CURSOR_SECRET`, `VIDEO_SIGNING_SECRET`); the Secrets Manager secret its `*_SECRET_ARN`
setting names (AWS: a function's environment holds only ARNs, never a secret); a file in the
local data dir, made on first use (local backend). Each is read once per process and cached:
a rotated secret reaches an environment at its next cold start.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from typing import Any

from chalicelib.config import Settings
from chalicelib.errors import DependencyError

ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret
CURSOR_KEY_FILE = "cursor.key"
SIGNING_KEY_FILE = "signing.key"


def local_secret(settings: Settings, name: str, make: Callable[[], str]) -> str:
    """A secret kept in the local data dir (mode 0600), made on first use."""
    path = settings.data_dir / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(make())
        if not path.exists():  # another process may have won the race: keep its secret
            tmp.replace(path)
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


class SecretsManagerReader:
    """`GetSecretValue` by ARN, each secret fetched once. The client is built on first use,
    so a process that never needs a secret never creates one."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client_factory = client
        self._client: Any = None
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, arn: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        with self._lock:
            if arn not in self._values:
                if self._client is None:
                    self._client = self._client_factory()
                try:
                    answer = self._client.get_secret_value(SecretId=arn)
                except (BotoCoreError, ClientError) as exc:
                    # The ARN and the driver's message stay in the chained cause (logs only).
                    raise DependencyError(
                        f"a secret could not be read ({type(exc).__name__}); try again"
                    ) from exc
                self._values[arn] = str(answer["SecretString"]).strip()
            return self._values[arn]


class SecretStore:
    """The admin token, the cursor key and the signing key for one process."""

    def __init__(self, settings: Settings, read: Callable[[str], str]) -> None:
        self.settings = settings
        self._read = read
        self._lock = threading.RLock()  # re-entered: the derived signing key reads the token
        self._cache: dict[str, Any] = {}

    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = build()
            return self._cache[name]

    def admin_token(self) -> str:
        """The operator's token; "" in AWS without one (only minted tokens work then)."""
        return str(self._once("admin", self._admin_token))

    def cursor_key(self) -> bytes:
        """The HMAC key of page cursors (`nextToken`)."""
        return bytes(self._once("cursor", self._cursor_key))

    def signing_key(self) -> bytes:
        """The key of signed media and stream URLs (never the cursor key)."""
        return bytes(self._once("signing", self._signing_key))

    def _first(self, plain: str, arn: str, file: str, make: Callable[[], str]) -> str | None:
        """The plain setting, else the secret at `arn`, else (local) the data dir's `file`."""
        if plain:
            return plain
        if arn:
            return self._read(arn)
        if self.settings.is_local:
            return local_secret(self.settings, file, make)
        return None

    def _admin_token(self) -> str:
        s = self.settings
        token = self._first(
            s.admin_token,
            s.admin_token_secret_arn,
            ADMIN_TOKEN_FILE,
            lambda: "vt_admin_" + secrets.token_urlsafe(32),
        )
        return token or ""

    def _cursor_key(self) -> bytes:
        s = self.settings
        key = self._first(s.cursor_secret, s.cursor_secret_arn, CURSOR_KEY_FILE, _random_key)
        if key is not None:
            return key.encode()
        # Without a configured key a cursor is still tamper-evident, though not secret-keyed.
        return hashlib.sha256(f"cursor:{s.table_name}".encode()).digest()

    def _signing_key(self) -> bytes:
        s = self.settings
        key = self._first(s.signing_secret, s.signing_secret_arn, SIGNING_KEY_FILE, _random_key)
        if key is not None:
            return key.encode()
        # A deployment without its own signing key (an older Chalice stage): derived from the
        # admin token, so rotating that rotates this too.
        return hmac.new(self.admin_token().encode(), b"video-url-signing", "sha256").digest()


def _random_key() -> str:
    return secrets.token_hex(32)
