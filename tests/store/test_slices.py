"""Each aggregate's adapter stands alone: a caller handed only its slice (the scaler its leases,
the authenticator its tokens) works on the same database as the bundle the factory builds."""

from __future__ import annotations

from typing import Any

from chalicelib.store.base import Leases, Outbox, Tokens, Videos, VideoStore, Webhooks
from tests.store.conftest import make
from tests.store.test_tokens import make_token


def slices(store: VideoStore) -> dict[str, Any]:
    """The five adapters of `store`'s backend, each built alone on its database."""
    if store.backend_name == "sqlite":
        from chalicelib.store import sqlite as backend

        args: tuple[Any, ...] = (store.path,)  # type: ignore[attr-defined]
        prefix = "Sqlite"
    else:
        from chalicelib.store import dynamodb as backend  # type: ignore[no-redef]

        args = (store._client, store._table)  # type: ignore[attr-defined]
        prefix = "Dynamo"
    names = ("Videos", "Tokens", "Outbox", "Webhooks", "Leases")
    return {name: getattr(backend, prefix + name)(*args) for name in names}


def test_each_aggregate_adapter_works_alone_on_the_shared_database(store: VideoStore) -> None:
    alone = slices(store)
    videos: Videos = alone["Videos"]
    tokens: Tokens = alone["Tokens"]
    outbox: Outbox = alone["Outbox"]
    hooks: Webhooks = alone["Webhooks"]
    leases: Leases = alone["Leases"]
    for adapter, port in zip(
        alone.values(), (Videos, Tokens, Outbox, Webhooks, Leases), strict=True
    ):
        assert isinstance(adapter, port) and not isinstance(adapter, VideoStore)

    item = make()
    videos.create(item)
    token = make_token()
    tokens.put_token(token)
    assert leases.acquire_lease("p", "a", expires_at=200, now=100) == 1
    # Written through the slices, read through the bundle, and the other way round.
    assert store.get(item["id"])["id"] == item["id"]  # type: ignore[index]
    assert store.get_token(token["id"]) == token
    assert store.live_leases("p", now=100) == 1
    assert [e["videoId"] for e in outbox.outbox(10)] == [item["id"]]
    assert hooks.list_webhooks("acme") == []
