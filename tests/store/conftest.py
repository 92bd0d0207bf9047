"""The store's contract suite: one file per aggregate (videos, tokens, outbox, webhooks,
leases), each test run on both adapters: SQLite on a temp file, DynamoDB over HTTP on moto's
server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain import QUEUEABLE, new_video_id, utc_now
from chalicelib.errors import TransitionRejected
from chalicelib.store.base import Videos, VideoStore
from tests.conftest import create_video_table


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VideoStore]:
    if request.param == "sqlite":
        from chalicelib.store.sqlite import SqliteVideoStore

        s = SqliteVideoStore(tmp_path / "videos.sqlite3")
        yield s
        s.close()
    else:
        from chalicelib.store.dynamodb import DynamoVideoStore

        client = request.getfixturevalue("dynamodb")
        table = f"videos-{uuid.uuid4().hex[:8]}"
        create_video_table(client, table)
        yield DynamoVideoStore(client, table)
        client.delete_table(TableName=table)


def make(status: str = "uploaded", **extra: Any) -> dict[str, Any]:
    now = utc_now()
    return {
        "id": new_video_id(),
        "title": "t",
        "description": "",
        "sourceUrl": "s3://b/k",
        "status": status,
        "createdAt": now,
        "updatedAt": now,
        "workspace": "default",
        **extra,
    }


def race_to_queue(store: Videos, racers: int) -> list[bool]:
    """`racers` threads queue one new video at the same instant; who won."""
    item = make()
    store.create(item)
    barrier = threading.Barrier(racers)

    def attempt(n: int) -> bool:
        barrier.wait()
        try:
            store.transition(item["id"], QUEUEABLE, "queued", {"executionName": f"e{n}"})
        except TransitionRejected:
            return False
        return True

    with ThreadPoolExecutor(racers) as pool:
        return list(pool.map(attempt, range(racers)))
