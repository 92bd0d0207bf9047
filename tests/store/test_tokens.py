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
