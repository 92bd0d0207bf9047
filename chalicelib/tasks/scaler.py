"""The scaler: capacity for the processor, shared safely by overlapping executions.

Each execution holds a lease in the store while it needs capacity. Acquire adds the lease
and scales up; release drops it and scales to zero only when no live lease is left, then
re-reads the leases and scales up again if work arrived in between (reconcile). Leases
expire, so a crashed execution cannot pin capacity up forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.capacity.base import CapacityController, ScalingState
from chalicelib.config import Settings
from chalicelib.errors import ValidationError
from chalicelib.store.base import Leases

POOL = "processor"


class Scaler:
    def __init__(
        self,
        store: Leases,
        capacity: CapacityController,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._capacity = capacity
        self._settings = settings
        self._clock = clock

    @property
    def _busy(self) -> tuple[int, int]:
        return self._settings.scale_min, self._settings.scale_max

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        action = event.get("action")
        holder = event.get("executionId")
        if action == "status":
            attempt = event.get("attempt", 0)
            if not isinstance(attempt, int) or attempt < 0:
                raise ValidationError("attempt must be a non-negative integer")
            return self.status(attempt)
        if action not in ("acquire", "release"):
            raise ValidationError(f"unknown scaler action {action!r}")
        if not isinstance(holder, str) or not holder:
            raise ValidationError("executionId is required")
        return self.acquire(holder) if action == "acquire" else self.release(holder)

    def acquire(self, holder: str) -> dict[str, Any]:
        now = self._clock()
        leases = self._store.acquire_lease(
            POOL, holder, now + self._settings.lease_ttl_seconds, now
        )
        lo, hi = self._busy
        self._capacity.set_scaling(lo, hi)
        return {"leases": leases, "min": lo, "max": hi}

    def status(self, attempt: int) -> dict[str, Any]:
        lo, hi = self._busy
        state = self._capacity.get_scaling()
        wanted = (state.requested_min, state.requested_max) == (lo, hi)
        if not wanted and self._store.live_leases(POOL, self._clock()) > 0:
            # Someone scaled down under live leases (a release racing our acquire): heal it.
            self._capacity.set_scaling(lo, hi)
        ready = wanted and state.settled
        attempt += 1
        return {
            "ready": ready,
            "attempt": attempt,
            "exhausted": not ready and attempt >= self._settings.capacity_max_polls,
            **scaling_view(state),
        }

    def view(self) -> dict[str, Any]:
        """`GET /capacity`: requested vs applied scaling and the live leases."""
        return {
            **scaling_view(self._capacity.get_scaling()),
            "leases": self._store.live_leases(POOL, self._clock()),
        }

    def release(self, holder: str) -> dict[str, Any]:
        leases = self._store.release_lease(POOL, holder, self._clock())
        if leases > 0:
            return {"leases": leases, "scaledToZero": False}
        self._capacity.set_scaling(self._settings.idle_min, self._settings.idle_max)
        # Reconcile: an acquire may have landed between our count and our scale-down.
        leases = self._store.live_leases(POOL, self._clock())
        if leases > 0:
            self._capacity.set_scaling(*self._busy)
            return {"leases": leases, "scaledToZero": False}
        return {"leases": 0, "scaledToZero": True}


def scaling_view(state: ScalingState) -> dict[str, Any]:
    """Requested vs applied scaling, as the status action and `GET /capacity` report it."""
    return {
        "requested": {"min": state.requested_min, "max": state.requested_max},
        "applied": None
        if state.applied_min is None
        else {"min": state.applied_min, "max": state.applied_max},
    }
