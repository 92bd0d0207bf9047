"""The `Webhooks` contract: webhooks by workspace, deliveries inserted once and claimed
attempt by attempt."""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib.domain import utc_now
from chalicelib.store.base import VideoStore


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
    # a busy endpoint's backlog is left out, so it cannot fill the page
    assert store.due_deliveries("2026-06-01T00:00:00.000000Z", 10, exclude={hook["id"]}) == []
    assert len(store.due_deliveries("2026-06-01T00:00:00.000000Z", 10, exclude={"other"})) == 1
    moved = {"attempts": 1, "nextAttemptAt": "2027-01-01T00:00:00.000000Z"}
    assert store.update_delivery(delivery["id"], moved, only_if_attempts=0)
    assert not store.update_delivery(delivery["id"], moved, only_if_attempts=0)  # raced
    assert store.update_delivery(delivery["id"], {"status": "delivered"}, only_if_attempts=1)
    assert store.due_deliveries("2030-01-01T00:00:00.000000Z", 10) == []
    (listed,) = store.list_deliveries(hook["id"], 10)
    assert (listed["status"], listed["attempts"]) == ("delivered", 1)
    assert store.delete_webhook(hook["id"]) and not store.delete_webhook(hook["id"])
    assert store.list(None, 10, None, workspace="acme").items == []  # none of it is a video


def test_a_delivery_keeps_its_attempt_history(store: VideoStore) -> None:
    hook_id = uuid.uuid4().hex[:16]
    delivery: dict[str, Any] = {"id": f"evt_2:{hook_id}", "webhookId": hook_id,
            "eventId": "evt_2", "status": "pending", "attempts": 0,
            "nextAttemptAt": "2026-01-01T00:00:00.000000Z", "createdAt": utc_now()}  # fmt: skip
    store.put_delivery(delivery)
    history: list[dict[str, Any]] = []
    retry = "2026-01-02T00:00:00.000000Z"
    for n, (status, error) in enumerate([(500, "HTTP 500"), (None, "ReadTimeout"), (200, None)], 1):
        attempt = {
            "attempt": n,
            "at": f"2026-01-01T00:0{n}:00.000000Z",
            "durationMs": 12 * n,
            "responseStatus": status,
            "error": error,
            "nextAttemptAt": error and retry,
        }
        history = [*history, attempt]
        fields = {"attempts": n, "attemptHistory": history, "responseStatus": status}
        assert store.update_delivery(delivery["id"], fields, only_if_attempts=n - 1)
    (listed,) = store.list_deliveries(hook_id, 10)
    assert listed["attemptHistory"] == history
    assert [a["responseStatus"] for a in listed["attemptHistory"]] == [500, None, 200]
