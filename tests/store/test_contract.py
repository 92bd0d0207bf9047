"""One contract, two adapters: SQLite on a temp file, DynamoDB over HTTP on moto's server."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain import ACTIVE, QUEUEABLE, new_video_id, utc_now
from chalicelib.errors import TransitionRejected
from chalicelib.store.base import VideoStore
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


def test_create_then_get_round_trips_nested_values(store: VideoStore) -> None:
    item = make(media={"duration": 1.5, "width": 1920, "fps": 29.97}, tags=["a", "b"])
    store.create(item)
    assert store.get(item["id"]) == {**item, "eventSequence": 1}  # video.created


def test_get_unknown_is_none(store: VideoStore) -> None:
    assert store.get(new_video_id()) is None


def test_create_rejects_duplicate_id(store: VideoStore) -> None:
    item = make()
    store.create(item)
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own integrity error
        store.create(item)


def test_list_is_newest_first_and_pages_without_gaps_or_repeats(store: VideoStore) -> None:
    items = [make() for _ in range(7)]
    for item in items:
        store.create(item)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.list(None, 3, cursor, workspace="default")
        pages += 1
        seen += [i["id"] for i in page.items]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == [i["id"] for i in reversed(items)]
    assert pages == 3  # 3 + 3 + 1: the last full page does not leave an empty one behind


def test_exact_multiple_of_limit_ends_without_cursor(store: VideoStore) -> None:
    for _ in range(4):
        store.create(make())
    first = store.list(None, 2, None, workspace="default")
    second = store.list(None, 2, first.cursor, workspace="default")
    assert first.cursor is not None
    assert len(second.items) == 2
    assert second.cursor is None


def test_list_by_status_filters(store: VideoStore) -> None:
    done = [make("completed") for _ in range(3)]
    for item in [make(), *done, make("failed")]:
        store.create(item)
    page = store.list("completed", 10, None)
    assert [i["id"] for i in page.items] == [i["id"] for i in reversed(done)]
    assert store.list("processing", 10, None).items == []


def test_lease_items_never_show_up_in_lists(store: VideoStore) -> None:
    store.create(make())
    store.acquire_lease("processor", "exec-1", 1e12, 0)
    assert len(store.list(None, 10, None, workspace="default").items) == 1


def test_transition_applies_only_from_allowed_states(store: VideoStore) -> None:
    item = make(thumbnail={"url": "x"}, progress=40)
    store.create(item)
    updated = store.transition(
        item["id"],
        QUEUEABLE,
        "queued",
        {"executionName": "e1"},
        remove_fields=("thumbnail", "progress"),
    )
    assert updated["status"] == "queued"
    assert "thumbnail" not in updated and "progress" not in updated
    assert store.get(item["id"]) == updated
    with pytest.raises(TransitionRejected) as info:
        store.transition(item["id"], QUEUEABLE, "queued")
    assert info.value.current == "queued"


def test_transition_of_missing_video_reports_none(store: VideoStore) -> None:
    with pytest.raises(TransitionRejected) as info:
        store.transition(new_video_id(), QUEUEABLE, "queued")
    assert info.value.current is None


def test_transition_only_if_checks_owner(store: VideoStore) -> None:
    item = make("queued", executionName="exec-a")
    store.create(item)
    with pytest.raises(TransitionRejected):
        store.transition(item["id"], ACTIVE, "failed", only_if={"executionName": "exec-b"})
    assert (
        store.transition(item["id"], ACTIVE, "failed", only_if={"executionName": "exec-a"})[
            "status"
        ]
        == "failed"
    )


def test_update_fields_respects_status(store: VideoStore) -> None:
    item = make("processing")
    store.create(item)
    assert store.update_fields(item["id"], {"progress": 55}, {"processing"}) is True
    assert store.get(item["id"])["progress"] == 55  # type: ignore[index]
    assert store.update_fields(item["id"], {"progress": 60}, {"queued"}) is False
    assert store.update_fields(new_video_id(), {"progress": 1}, {"processing"}) is False


def race_to_queue(store: VideoStore, racers: int) -> list[bool]:
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


def test_concurrent_transitions_have_exactly_one_winner(store: VideoStore) -> None:
    assert race_to_queue(store, 20).count(True) == 1


def test_leases_count_live_holders_and_expire(store: VideoStore) -> None:
    assert store.live_leases("p", now=100) == 0
    assert store.acquire_lease("p", "a", expires_at=200, now=100) == 1
    assert store.acquire_lease("p", "b", expires_at=150, now=100) == 2
    assert store.acquire_lease("p", "a", expires_at=300, now=100) == 2  # refresh, not a second
    assert store.live_leases("p", now=160) == 1  # b expired: a crashed execution
    assert store.release_lease("p", "a", now=160) == 0
    assert store.release_lease("p", "a", now=160) == 0  # releasing twice is harmless
    assert store.live_leases("other", now=0) == 0


def test_reset_leases(store: VideoStore) -> None:
    store.acquire_lease("p", "a", expires_at=200, now=100)
    store.reset_leases("p")
    assert store.live_leases("p", now=100) == 0
    assert store.acquire_lease("p", "b", expires_at=200, now=100) == 1


def test_concurrent_lease_acquires_are_all_counted(store: VideoStore) -> None:
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda n: store.acquire_lease("p", f"h{n}", 1e12, 0), range(10)))
    assert store.live_leases("p", now=0) == 10
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda n: store.release_lease("p", f"h{n}", 0), range(10)))
    assert store.live_leases("p", now=0) == 0


def test_ping_reaches_the_backend_and_its_loss_is_a_dependency_error(
    store: VideoStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from chalicelib.errors import DependencyError

    assert store.ping() is None
    store.create(make())  # a reachable backend also takes writes
    if store.backend_name == "sqlite":
        from chalicelib.store.sqlite import SqliteVideoStore

        db = tmp_path / "gone.sqlite3"
        sqlite_store = SqliteVideoStore(db)
        db.unlink()
        db.mkdir()  # the path is now a directory: the database cannot be opened
        sqlite_store.close()
        gone: VideoStore = sqlite_store
    else:
        from chalicelib.store.dynamodb import DynamoVideoStore

        gone = DynamoVideoStore(request.getfixturevalue("dynamodb"), "no-such-table")
    with pytest.raises(DependencyError):
        gone.ping()


def test_dynamodb_lists_query_indexes_and_never_scan(dynamodb: Any) -> None:
    from chalicelib.store.dynamodb import DynamoVideoStore

    table = f"videos-{uuid.uuid4().hex[:8]}"
    create_video_table(dynamodb, table)
    calls: list[tuple[str, str | None]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params.get("IndexName")))

    dynamodb.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        store = DynamoVideoStore(dynamodb, table)
        store.create(make("failed"))
        store.list(None, 10, None, workspace="default")
        store.list("failed", 10, None)
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert ("Query", "CreatedIndex") in calls
    assert ("Query", "StatusIndex") in calls
    assert not any(name == "Scan" for name, _ in calls)


def test_sqlite_lists_use_indexes(tmp_path: Path) -> None:
    from chalicelib.store.sqlite import SqliteVideoStore

    store = SqliteVideoStore(tmp_path / "v.sqlite3")
    conn = store._conn()
    for sql, args in (
        (
            "SELECT doc FROM videos WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT 5",
            ("queued",),
        ),
        ("SELECT doc FROM videos ORDER BY created_at DESC, id DESC LIMIT 5", ()),
    ):
        plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # served in index order, no sort


# --- workspaces -----------------------------------------------------------------------------
def test_workspaces_list_only_their_own_videos(store: VideoStore) -> None:
    mine = [make(workspace="acme") for _ in range(3)]
    theirs = [make(workspace="globex") for _ in range(2)]
    for item in [*mine, *theirs]:
        store.create(item)
    page = store.list(None, 10, None, workspace="acme")
    assert [i["id"] for i in page.items] == [i["id"] for i in reversed(mine)]
    assert {i["workspace"] for i in page.items} == {"acme"}
    first = store.list(None, 2, None, workspace="acme")
    rest = store.list(None, 2, first.cursor, workspace="acme")
    assert [i["id"] for i in first.items + rest.items] == [i["id"] for i in reversed(mine)]
    assert rest.cursor is None
    assert store.list("uploaded", 10, None, workspace="globex").items == list(
        reversed([{**t, "workspace": "globex", "eventSequence": 1} for t in theirs])
    )
    assert store.list(None, 10, None, workspace="nobody").items == []


def test_a_transition_moves_the_video_between_its_workspaces_status_lists(
    store: VideoStore,
) -> None:
    item = make(workspace="acme")
    store.create(item)
    store.transition(item["id"], {"uploaded"}, "queued", set_fields={"executionName": "e"})
    assert store.list("uploaded", 10, None, workspace="acme").items == []
    assert [i["id"] for i in store.list("queued", 10, None, workspace="acme").items] == [item["id"]]
    assert [i["id"] for i in store.list("queued", 10, None).items] == [item["id"]]
    assert store.count_active("acme", ACTIVE, 10) == 1
    assert store.count_active("globex", ACTIVE, 10) == 0


def test_count_active_stops_at_the_cap(store: VideoStore) -> None:
    for status in ("queued", "queued", "processing", "processing", "completed"):
        store.create(make(status, workspace="acme"))
    assert store.count_active("acme", ACTIVE, 100) == 4
    assert store.count_active("acme", ACTIVE, 3) == 3


def test_items_without_a_workspace_are_migrated_to_default(
    store: VideoStore, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    legacy = make("queued")
    legacy.pop("workspace")  # written as the previous version did: no workspace anywhere
    if store.backend_name == "sqlite":
        import sqlite3

        from chalicelib.store.sqlite import SqliteVideoStore

        path = tmp_path / "old.sqlite3"
        old = sqlite3.connect(path)
        old.executescript(
            "CREATE TABLE videos (id TEXT PRIMARY KEY, status TEXT NOT NULL, "
            "created_at TEXT NOT NULL, doc TEXT NOT NULL);"
        )
        old.execute(
            "INSERT INTO videos VALUES (?, ?, ?, ?)",
            (legacy["id"], legacy["status"], legacy["createdAt"], json.dumps(legacy)),
        )
        old.commit()
        old.close()
        store = SqliteVideoStore(path)  # opening the old file migrates it
        assert store.migrate() == 0  # idempotent
    else:
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()
        request.getfixturevalue("dynamodb").put_item(
            TableName=store._table,  # type: ignore[attr-defined]
            Item={k: ser.serialize(v) for k, v in {**legacy, "entity": "video"}.items()},
        )
        assert store.migrate() == 1
        assert store.migrate() == 0  # idempotent
    assert store.get(legacy["id"]) == {**legacy, "workspace": "default"}
    assert [i["id"] for i in store.list("queued", 10, None, workspace="default").items] == [
        legacy["id"]
    ]
    assert [i["id"] for i in store.list(None, 10, None, workspace="default").items] == [
        legacy["id"]
    ]
    assert store.count_active("default", ACTIVE, 10) == 1


# --- tokens ---------------------------------------------------------------------------------
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


# --- the outbox -------------------------------------------------------------------------------
def test_each_change_writes_its_events_in_order(store: VideoStore) -> None:
    item = make(workspace="acme")
    store.create(item)
    store.transition(item["id"], {"uploaded"}, "queued", {"executionName": "e"})
    store.transition(item["id"], {"queued"}, "processing")
    formats = [{"quality": "720p", "url": "media://x/y/a.mp4"}, {"quality": "360p"}]
    store.transition(item["id"], {"processing"}, "completed", {"transcoding": {"formats": formats}})
    store.update_fields(item["id"], {"progress": 50}, {"completed"})  # no event
    # The outbox is oldest first; events of one change may share an instant, and receivers
    # order by the per-video sequence (order is not promised), so read them by sequence.
    events = sorted(store.outbox(100), key=lambda e: e["sequence"])
    assert [e["type"] for e in events] == [
        "video.created",
        "video.queued",
        "video.processing",
        "video.rendition.ready",
        "video.rendition.ready",
        "video.completed",
    ]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e["workspace"] for e in events} == {"acme"} and len({e["id"] for e in events}) == 6
    assert events[-1]["data"]["status"] == "completed"
    assert events[3]["data"]["rendition"]["quality"] == "720p"
    assert store.get(item["id"])["eventSequence"] == 6  # type: ignore[index]
    store.mark_dispatched(events[0]["id"])
    assert {e["id"] for e in store.outbox(100)} == {e["id"] for e in events[1:]}
    assert store.get_event(events[0]["id"]) == events[0]


def test_a_rejected_transition_writes_no_event(store: VideoStore) -> None:
    item = make()
    store.create(item)
    with pytest.raises(TransitionRejected):
        store.transition(item["id"], {"processing"}, "completed")
    assert [e["type"] for e in store.outbox(100)] == ["video.created"]


def test_racing_transitions_write_one_event_each_winner(store: VideoStore) -> None:
    assert race_to_queue(store, 10).count(True) == 1
    types = sorted(e["type"] for e in store.outbox(100))
    assert types == ["video.created", "video.queued"]


def test_webhooks_and_deliveries(store: VideoStore) -> None:
    hook: dict[str, Any] = {"id": uuid.uuid4().hex[:16], "workspace": "acme",
            "url": "https://x.test/h", "createdAt": utc_now(), "secret": "whsec_abc",
            "enabled": True}  # fmt: skip
    store.put_webhook(hook)
    assert store.get_webhook(hook["id"]) == hook
    assert [h["id"] for h in store.list_webhooks("acme")] == [hook["id"]]
    assert store.list_webhooks("globex") == []
    assert store.update_webhook(hook["id"], {"enabled": False})
    assert store.get_webhook(hook["id"])["enabled"] is False  # type: ignore[index]
    delivery: dict[str, Any] = {
        "id": f"evt_1:{hook['id']}",
        "webhookId": hook["id"],
        "eventId": "evt_1",
        "status": "pending",
        "attempts": 0,
        "nextAttemptAt": "2026-01-01T00:00:00.000000Z",
        "createdAt": utc_now(),
    }
    assert store.put_delivery(delivery) is True
    assert store.put_delivery(delivery) is False  # fan-out twice: still one delivery
    assert [d["id"] for d in store.due_deliveries("2026-06-01T00:00:00.000000Z", 10)] == [
        delivery["id"]
    ]
    assert store.due_deliveries("2025-06-01T00:00:00.000000Z", 10) == []
    moved = {"attempts": 1, "nextAttemptAt": "2027-01-01T00:00:00.000000Z"}
    assert store.update_delivery(delivery["id"], moved, only_if_attempts=0)
    assert not store.update_delivery(delivery["id"], moved, only_if_attempts=0)  # raced
    assert store.update_delivery(delivery["id"], {"status": "delivered"}, only_if_attempts=1)
    assert store.due_deliveries("2030-01-01T00:00:00.000000Z", 10) == []
    (listed,) = store.list_deliveries(hook["id"], 10)
    assert (listed["status"], listed["attempts"]) == ("delivered", 1)
    assert store.delete_webhook(hook["id"]) and not store.delete_webhook(hook["id"])
    assert store.list(None, 10, None, workspace="acme").items == []  # none of it is a video
