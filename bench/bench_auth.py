"""What a rejected login costs: a wrong secret for a known token id against an unknown id.

Both through the real authenticator on a SQLite store (the read, the hash check, the failed-login
counter write). Baseline in the same run: tokens whose hash is still the old scrypt one, which is
exactly how the previous version checked every token. Run: `.venv/bin/python bench/bench_auth.py`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.api.auth import (
    Authenticator,
    LoginThrottle,
    SecretHasher,
    new_token,
    scrypt_hash,
)
from chalicelib.errors import UnauthorizedError
from chalicelib.store.sqlite import SqliteVideoStore

ROUNDS = 200


def reject_ms(auth: Authenticator, header: str, rounds: int = ROUNDS) -> float:
    """Median milliseconds to answer 401 to `header`."""
    times = []
    for n in range(rounds):
        start = time.perf_counter()
        try:
            auth.authenticate(header, f"198.51.100.{n % 200}")
        except UnauthorizedError:
            pass
        else:
            raise AssertionError("accepted a wrong secret")
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    hasher = SecretHasher(b"k" * 32)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteVideoStore(Path(tmp) / "bench.sqlite3")
        throttle = LoginThrottle(store, per_token=10**9, per_client=10**9)  # count, never block
        auth = Authenticator(store, lambda: "", hasher, throttle=throttle)
        tokens = {}
        for kind, make_hash in (("scrypt", scrypt_hash), ("hmac", hasher.hash)):
            token_id, secret, whole = new_token()
            store.put_token(
                {
                    "id": token_id,
                    "name": kind,
                    "scope": "read",
                    "workspace": "bench",
                    "hash": make_hash(secret),
                    "createdAt": "2026-12-02T00:00:00.000000Z",
                }
            )
            tokens[kind] = whole
        unknown = "Bearer vt_0123456789abcdef_" + "A" * 43
        rows = [
            ("unknown id", reject_ms(auth, unknown)),
            (
                "known id, old scrypt hash (before)",
                reject_ms(auth, f"Bearer {tokens['scrypt'][:-1]}A", 30),
            ),
            ("known id, HMAC hash (after)", reject_ms(auth, f"Bearer {tokens['hmac'][:-1]}A")),
        ]
        bare = Authenticator(store, lambda: "", hasher)  # no counter: its cost by difference
        rows.append(("unknown id, no failure counter", reject_ms(bare, unknown)))
        print(f"{'wrong secret for':<38} median ms per 401")
        for name, ms in rows:
            print(f"{name:<38} {ms:8.3f}")
        store.close()


if __name__ == "__main__":
    main()
