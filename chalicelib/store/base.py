"""The `VideoStore` port. Items are plain dicts in the API's shape (camelCase fields)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Item = dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[Item]
    # Backend position after the last item, or None at the end. Opaque to callers;
    # the service signs it into a nextToken.
    cursor: dict[str, Any] | None


class VideoStore(ABC):
    backend_name = "abstract"

    @abstractmethod
    def ping(self) -> None:
        """Raise if the store is unreachable."""

    @abstractmethod
    def create(self, item: Item) -> None:
        """Insert a new item (fails if the id exists)."""

    @abstractmethod
    def get(self, video_id: str) -> Item | None: ...

    @abstractmethod
    def list(self, status: str | None, limit: int, cursor: Mapping[str, Any] | None) -> Page:
        """Newest first; by `status` through the status index, else through the creation index."""

    @abstractmethod
    def transition(
        self,
        video_id: str,
        allowed_from: Iterable[str],
        to_status: str,
        set_fields: Mapping[str, Any] | None = None,
        remove_fields: Iterable[str] = (),
        only_if: Mapping[str, str] | None = None,
    ) -> Item:
        """One conditional write: apply only if the current status is in `allowed_from`
        (and each field named in `only_if` equals its given string value).

        Returns the updated item; raises `TransitionRejected` (with the current status,
        None when the video does not exist) otherwise.
        """

    @abstractmethod
    def update_fields(
        self, video_id: str, fields: Mapping[str, Any], only_if_status: Iterable[str]
    ) -> bool:
        """Set fields (progress, partial results) while the status is one of `only_if_status`.

        Returns False when the condition did not hold (nothing written).
        """

    # --- capacity leases: one per in-flight execution, per capacity pool -----------------
    @abstractmethod
    def acquire_lease(self, pool: str, holder: str, expires_at: float, now: float) -> int:
        """Add/refresh `holder`'s lease atomically; return the count of live leases."""

    @abstractmethod
    def release_lease(self, pool: str, holder: str, now: float) -> int:
        """Drop `holder`'s lease atomically; return the count of live leases left."""

    @abstractmethod
    def live_leases(self, pool: str, now: float) -> int:
        """Count leases that have not expired."""

    @abstractmethod
    def reset_leases(self, pool: str) -> None:
        """Forget every lease of `pool` (a local pool starting afresh holds no capacity)."""
