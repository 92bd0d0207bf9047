"""The `Leases` contract: live holders per pool, counted atomically, expiring."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from chalicelib.store.base import Leases, VideoStore
from tests.store.conftest import make


def test_leases_count_live_holders_and_expire(store: Leases) -> None:
    assert store.live_leases("p", now=100) == 0
    assert store.acquire_lease("p", "a", expires_at=200, now=100) == 1
    assert store.acquire_lease("p", "b", expires_at=150, now=100) == 2
    assert store.acquire_lease("p", "a", expires_at=300, now=100) == 2  # refresh, not a second
    assert store.live_leases("p", now=160) == 1  # b expired: a crashed execution
    assert store.release_lease("p", "a", now=160) == 0
    assert store.release_lease("p", "a", now=160) == 0  # releasing twice is harmless
    assert store.live_leases("other", now=0) == 0


def test_reset_leases(store: Leases) -> None:
    store.acquire_lease("p", "a", expires_at=200, now=100)
    store.reset_leases("p")
    assert store.live_leases("p", now=100) == 0
    assert store.acquire_lease("p", "b", expires_at=200, now=100) == 1


def test_concurrent_lease_acquires_are_all_counted(store: Leases) -> None:
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda n: store.acquire_lease("p", f"h{n}", 1e12, 0), range(10)))
    assert store.live_leases("p", now=0) == 10
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda n: store.release_lease("p", f"h{n}", 0), range(10)))
    assert store.live_leases("p", now=0) == 0


def test_lease_items_never_show_up_in_lists(store: VideoStore) -> None:
    store.create(make())
    store.acquire_lease("processor", "exec-1", 1e12, 0)
    assert len(store.list(None, 10, None, workspace="default").items) == 1


def test_a_lease_remembers_its_first_acquire(store: Leases) -> None:
    """The batch's scale-up time, which the capacity cost is counted from."""
    assert store.lease_acquired_at("p", "a") is None
    store.acquire_lease("p", "a", expires_at=500, now=100)
    store.acquire_lease("p", "b", expires_at=500, now=120)
    store.acquire_lease("p", "a", expires_at=900, now=300)  # a refresh keeps the start
    assert store.lease_acquired_at("p", "a") == 100
    assert store.lease_acquired_at("p", "b") == 120
    store.release_lease("p", "a", now=310)
    assert store.lease_acquired_at("p", "a") is None
    store.acquire_lease("p", "a", expires_at=900, now=400)  # a new lease starts anew
    assert store.lease_acquired_at("p", "a") == 400
    store.reset_leases("p")
    assert store.lease_acquired_at("p", "b") is None
