"""The `Tokens` contract: records by id and by workspace, never among videos."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chalicelib.domain import utc_now
from chalicelib.store.base import VideoStore


def make_token(workspace: str = "acme", **extra: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex[:16],
        "name": "ci",
        "scope": "read",
        "workspace": workspace,
        "hash": "scrypt$salt$digest",
        "createdAt": utc_now(),
        **extra,
    }


def test_tokens_round_trip_list_by_workspace_and_update(store: VideoStore) -> None:
    a, b, other = make_token(), make_token(), make_token("globex")
    for t in (a, b, other):
        store.put_token(t)
    assert store.get_token(a["id"]) == a
    assert store.get_token("0" * 16) is None
    assert [t["id"] for t in store.list_tokens("acme")] == [b["id"], a["id"]]
    assert store.update_token(a["id"], {"revokedAt": "2026-11-29T00:00:00.000000Z"}) is True
    assert store.get_token(a["id"])["revokedAt"] == "2026-11-29T00:00:00.000000Z"  # type: ignore[index]
    assert store.update_token("0" * 16, {"revokedAt": "x"}) is False
    # Tokens never show up among videos.
    assert store.list(None, 10, None, workspace="acme").items == []
    with pytest.raises(Exception):  # noqa: B017 - each adapter raises its own duplicate error
        store.put_token(a)


def test_failed_login_counters_count_atomically_per_key(store: VideoStore) -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    expires = time.time() + 120
    assert store.count_login_failure("token:abc@1", expires) == 1
    assert store.count_login_failure("token:abc@1", expires) == 2
    assert store.count_login_failure("client:192.0.2.1@1", expires) == 1  # its own count
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: store.count_login_failure("k@2", expires), range(16)))
    assert sorted(counts) == list(range(1, 17))  # no lost or repeated increments
    # Counters are neither tokens nor videos.
    assert store.get_token("abc") is None
    assert store.list(None, 10, None, workspace="default").items == []
