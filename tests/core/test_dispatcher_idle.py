"""`make run`'s webhook dispatcher backs off while idle (the AWS-mode recipe points it at
DynamoDB, where 40 reads a second of an empty outbox cost money) and is prompt again once there
is work."""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any

from chalicelib.events.dispatcher import Dispatcher


class IdleStore:
    """An outbox that has one event on chosen passes and nothing on the others."""

    def __init__(self, busy_passes: set[int]) -> None:
        self.busy_passes = busy_passes
        self.passes = 0
        self.reads = 0

    def outbox(self, limit: int) -> list[dict[str, Any]]:
        self.passes += 1
        self.reads += 1
        if self.passes in self.busy_passes:
            return [{"id": f"evt{self.passes}", "workspace": "default", "type": "video.created"}]
        return []

    def list_webhooks(self, workspace: str) -> list[dict[str, Any]]:
        self.reads += 1
        return []

    def mark_dispatched(self, event_id: str) -> None:
        pass

    def due_deliveries(
        self, now: str, limit: int, exclude: Collection[str] = ()
    ) -> list[dict[str, Any]]:
        self.reads += 1
        return []


class CountedStop(threading.Event):
    """Records each wait instead of sleeping; stops the loop after `passes` waits."""

    def __init__(self, passes: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.passes = passes

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        if len(self.waits) >= self.passes:
            self.set()
        return self.is_set()


def dispatcher(store: IdleStore) -> Dispatcher:
    return Dispatcher(
        store,  # type: ignore[arg-type]
        store,  # type: ignore[arg-type]
        lambda item: item,
        allow_private=True,
        require_https=False,
    )


def test_idle_passes_back_off_to_the_idle_interval() -> None:
    store = IdleStore(busy_passes=set())
    stop = CountedStop(passes=10)
    dispatcher(store).run(stop, interval=0.05, idle_interval=1.0)
    assert stop.waits == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0]
    # idle, about two reads per second of waiting (was one pass every 50 ms: 40 reads a second)
    assert store.reads / sum(stop.waits) < 4


def test_work_resets_the_wait_to_the_short_interval() -> None:
    store = IdleStore(busy_passes={6})
    stop = CountedStop(passes=8)
    dispatcher(store).run(stop, interval=0.05, idle_interval=1.0)
    # five idle passes back off; the busy sixth pass runs again at once, then the wait restarts
    assert stop.waits == [0.05, 0.1, 0.2, 0.4, 0.8, 0.05, 0.1, 0.2]
