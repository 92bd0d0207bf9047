"""The `Videos` contract: creation, listing pages, conditional transitions, workspaces."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain import ACTIVE, QUEUEABLE, VIDEO_ID_RE, new_video_id, utc_now
from chalicelib.errors import TransitionRejected
from chalicelib.store.base import Videos
from tests.conftest import create_video_table
from tests.store.conftest import make, race_to_queue


def test_create_then_get_round_trips_nested_values(store: Videos) -> None:
    item = make(media={"duration": 1.5, "width": 1920, "fps": 29.97}, tags=["a", "b"])
    store.create(item)
    assert store.get(item["id"]) == {**item, "eventSequence": 1}  # video.created


def test_get_unknown_is_none(store: Videos) -> None:
    assert store.get(new_video_id()) is None


def test_create_rejects_duplicate_id(store: Videos) -> None:
    item = make()
    store.create(item)
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own integrity error
        store.create(item)


def test_list_is_newest_first_and_pages_without_gaps_or_repeats(store: Videos) -> None:
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


def test_exact_multiple_of_limit_ends_without_cursor(store: Videos) -> None:
    for _ in range(4):
        store.create(make())
    first = store.list(None, 2, None, workspace="default")
    second = store.list(None, 2, first.cursor, workspace="default")
    assert first.cursor is not None
    assert len(second.items) == 2
    assert second.cursor is None


def test_list_by_status_filters(store: Videos) -> None:
    done = [make("completed") for _ in range(3)]
    for item in [make(), *done, make("failed")]:
        store.create(item)
    page = store.list("completed", 10, None)
    assert [i["id"] for i in page.items] == [i["id"] for i in reversed(done)]
    assert store.list("processing", 10, None).items == []


def test_transition_applies_only_from_allowed_states(store: Videos) -> None:
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


def test_transition_of_missing_video_reports_none(store: Videos) -> None:
    with pytest.raises(TransitionRejected) as info:
        store.transition(new_video_id(), QUEUEABLE, "queued")
    assert info.value.current is None


def test_transition_only_if_checks_owner(store: Videos) -> None:
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


def test_update_fields_respects_status(store: Videos) -> None:
    item = make("processing")
    store.create(item)
    assert store.update_fields(item["id"], {"progress": 55}, {"processing"}) is True
    assert store.get(item["id"])["progress"] == 55  # type: ignore[index]
    assert store.update_fields(item["id"], {"progress": 60}, {"queued"}) is False
    assert store.update_fields(new_video_id(), {"progress": 1}, {"processing"}) is False


def test_concurrent_transitions_have_exactly_one_winner(store: Videos) -> None:
    assert race_to_queue(store, 20).count(True) == 1


def test_ping_reaches_the_backend_and_its_loss_is_a_dependency_error(
    store: Videos, tmp_path: Path, request: pytest.FixtureRequest
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
        gone: Videos = sqlite_store
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
        store.search("default", ["t"], None, 10, None)
        store.search("default", ["t"], "failed", 10, None)
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert ("Query", "CreatedIndex") in calls
    assert ("Query", "StatusIndex") in calls
    assert ("Query", "WorkspaceStatusIndex") in calls
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


def test_workspaces_list_only_their_own_videos(store: Videos) -> None:
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
    store: Videos,
) -> None:
    item = make(workspace="acme")
    store.create(item)
    store.transition(item["id"], {"uploaded"}, "queued", set_fields={"executionName": "e"})
    assert store.list("uploaded", 10, None, workspace="acme").items == []
    assert [i["id"] for i in store.list("queued", 10, None, workspace="acme").items] == [item["id"]]
    assert [i["id"] for i in store.list("queued", 10, None).items] == [item["id"]]
    assert store.count_active("acme", ACTIVE, 10) == 1
    assert store.count_active("globex", ACTIVE, 10) == 0


def test_count_active_stops_at_the_cap(store: Videos) -> None:
    for status in ("queued", "queued", "processing", "processing", "completed"):
        store.create(make(status, workspace="acme"))
    assert store.count_active("acme", ACTIVE, 100) == 4
    assert store.count_active("acme", ACTIVE, 3) == 3


def test_items_without_a_workspace_are_migrated_to_default(
    store: Videos, request: pytest.FixtureRequest, tmp_path: Path
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
    # ...and its title is searchable (the index is filled on open / by migrate).
    assert [i["id"] for i in store.search("default", ["t"], None, 10, None).items] == [legacy["id"]]


# --- title search ---------------------------------------------------------------------------
def _search(store: Videos, query: str, status: str | None = None, limit: int = 50) -> list[str]:
    """Every title found, newest first, over all the pages."""
    from chalicelib.store.base import search_words

    titles: list[str] = []
    cursor = None
    while True:
        page = store.search("acme", search_words(query), status, limit, cursor)
        assert len(page.items) <= limit
        titles += [i["title"] for i in page.items]
        if page.cursor is None:
            return titles
        cursor = page.cursor


def test_search_matches_word_prefixes_case_and_accent_blind_in_the_workspace(
    store: Videos,
) -> None:
    for title, status in (
        ("Intro to Kubernetes", "completed"),
        ("Café tour — PARIS", "uploaded"),
        ("Deep-dive: kube_ctl tips", "completed"),
        ("Introduction", "failed"),
    ):
        store.create(make(status, title=title, workspace="acme"))
    store.create(make(title="Intro elsewhere", workspace="globex"))
    assert _search(store, "intro") == ["Introduction", "Intro to Kubernetes"]
    assert _search(store, "KUBE") == ["Deep-dive: kube_ctl tips", "Intro to Kubernetes"]
    assert _search(store, "café") == _search(store, "CAFE") == ["Café tour — PARIS"]
    assert _search(store, "paris tou") == ["Café tour — PARIS"]  # every word, any order
    assert _search(store, "intro kub") == ["Intro to Kubernetes"]
    assert _search(store, "ntro") == []  # the start of a word, not any substring
    assert _search(store, "ctl") == ["Deep-dive: kube_ctl tips"]
    assert _search(store, "intro", status="completed") == ["Intro to Kubernetes"]
    assert _search(store, "intro", status="queued") == []
    assert _search(store, "elsewhere") == []  # another workspace's title


def test_search_pages_without_gaps_or_repeats(store: Videos) -> None:
    for n in range(9):
        title = f"match {n}" if n % 3 else f"other {n}"
        store.create(make(title=title, workspace="acme"))
    expected = [f"match {n}" for n in reversed(range(9)) if n % 3]
    assert _search(store, "match", limit=2) == expected
    assert _search(store, "match", limit=6) == expected


def test_dynamodb_search_reads_a_bounded_amount_per_call(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search that passes over many other titles reads at most the budget per call and
    hands back a cursor (even on an empty page) to go on from there."""
    import chalicelib.store.dynamodb.videos as module
    from chalicelib.store.dynamodb import DynamoVideoStore

    table = f"videos-{uuid.uuid4().hex[:8]}"
    create_video_table(dynamodb, table)
    store = DynamoVideoStore(dynamodb, table)
    store.create(make(title="needle", workspace="acme"))
    for _ in range(9):
        store.create(make(title="hay", workspace="acme"))
    monkeypatch.setattr(module, "SEARCH_READ_BUDGET", 4)
    monkeypatch.setattr(module, "_SEARCH_CHUNK", 2)
    scanned: list[int] = []

    def record(parsed: dict[str, Any], **_: Any) -> None:
        scanned.append(int(parsed.get("ScannedCount", 0)))

    dynamodb.meta.events.register("after-call.dynamodb.Query", record)
    try:
        first = store.search("acme", ["needle"], None, 10, None)
        assert first.items == [] and first.cursor is not None
        assert sum(scanned) == 4
        assert _search(store, "needle", limit=10) == ["needle"]
    finally:
        dynamodb.meta.events.unregister("after-call.dynamodb.Query", record)


_PLAYBACK = {"hlsUrl": "media://x/y/hls_master.m3u8", "state": "partial"}


def test_an_only_if_none_requires_the_field_absent(store: Any) -> None:
    """The playable write (issue 24): the first of two racing jobs sets `playback`."""
    vid, now = new_video_id(), utc_now()
    store.create({"id": vid, "title": "t", "description": "", "sourceUrl": "s3://b/k",
                  "status": "processing", "executionName": "e", "createdAt": now,
                  "updatedAt": now})  # fmt: skip
    only_if = {"executionName": "e", "playback": None}
    item = store.transition(vid, {"processing"}, "processing", {"playback": _PLAYBACK}, (), only_if)
    assert item["playback"] == _PLAYBACK
    with pytest.raises(TransitionRejected):  # a racing job's attempt: nothing written
        store.transition(vid, {"processing"}, "processing", {"playback": _PLAYBACK}, (), only_if)


def test_a_new_video_id_never_starts_with_a_dash_or_an_underscore() -> None:
    """A command line takes an id that starts with "-" for an option (the CLI failed on one in
    64): 5000 draws — the old ids started with one of those two in 1 of 32."""
    ids = {new_video_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(VIDEO_ID_RE.fullmatch(i) and i[0].isalnum() for i in ids)
