"""The `Outbox` contract: every video change writes its events in its own transaction."""

from __future__ import annotations

import pytest

from chalicelib.errors import TransitionRejected
from chalicelib.store.base import VideoStore
from tests.store.conftest import make, race_to_queue


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
