"""The store's ports, one per aggregate: videos, tokens, the outbox, webhooks (with their
deliveries) and capacity leases. Items are plain dicts in the API's shape (camelCase fields).

Each caller types against the slice it uses (the authenticator `Tokens`, the scaler `Leases`,
...). `VideoStore` bundles the five for the factory, which builds one per database.
"""

from __future__ import annotations

import builtins
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import Item
from chalicelib.errors import TransitionRejected


@dataclass(frozen=True)
class Page:
    items: list[Item]
    # Backend position after the last item, or None at the end. Opaque to callers;
    # the service signs it into a nextToken.
    cursor: dict[str, Any] | None


_WORD = re.compile(r"[^\W_]+")


def search_words(text: str) -> builtins.list[str]:
    """The words of a title or a search, as `Videos.search` matches them: runs of letters and
    digits, lower case, without diacritics ("Café-Intro" -> ["cafe", "intro"]), the way
    SQLite's `unicode61 remove_diacritics 2` tokenizer sees them."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(bare.lower())


def check_transition(
    video_id: str,
    current: Item | None,
    allowed_from: Iterable[str],
    only_if: Mapping[str, str | None] | None,
) -> Item:
    """`current` when a transition from it may apply (`Videos.transition`'s condition), else
    `TransitionRejected` with its status (None when the video does not exist). An `only_if`
    value of None requires the field to be absent."""
    if (
        current is None
        or current["status"] not in allowed_from
        or any(
            current.get(k) != v or (v is None and k in current) for k, v in (only_if or {}).items()
        )
    ):
        raise TransitionRejected(video_id, current["status"] if current else None)
    return current


class Videos(ABC):
    """Videos, and their life cycle: every status change writes its events (the outbox) in
    the same transaction, so a crash can neither lose an event nor emit one for a change
    that did not happen."""

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
    def list(
        self,
        status: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
        workspace: str | None = None,
    ) -> Page:
        """Newest first, one indexed query each: within `workspace` (by status or by creation
        time), or, for operators and recovery, every workspace's videos of one `status`
        (`workspace=None` requires a status)."""

    @abstractmethod
    def search(
        self,
        workspace: str,
        words: Sequence[str],
        status: str | None,
        limit: int,
        cursor: Mapping[str, Any] | None,
    ) -> Page:
        """The workspace's videos whose title has, for each of `words` (as `search_words`
        gives them), a word starting with it; newest first, `status` narrowing. A page may
        hold fewer than `limit` items and still have a cursor: a backend may bound what one
        call reads."""

    @abstractmethod
    def count_active(self, workspace: str, statuses: Iterable[str], cap: int) -> int:
        """How many of the workspace's videos have one of `statuses`, counted up to `cap`."""

    @abstractmethod
    def migrate(self) -> int:
        """Bring items written by older versions up to the current keys (idempotent); returns
        how many were changed. Items without a workspace join the default one."""

    @abstractmethod
    def transition(
        self,
        video_id: str,
        allowed_from: Iterable[str],
        to_status: str,
        set_fields: Mapping[str, Any] | None = None,
        remove_fields: Iterable[str] = (),
        only_if: Mapping[str, str | None] | None = None,
    ) -> Item:
        """One conditional write: apply only if the current status is in `allowed_from`
        (and each field named in `only_if` equals its given string value; None: is absent).

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


class Tokens(ABC):
    """Access tokens. Secrets are never stored: only their hash."""

    @abstractmethod
    def put_token(self, token: Item) -> None:
        """Insert a token record (`id`, `workspace`, `createdAt`, ...); fails if the id exists."""

    @abstractmethod
    def get_token(self, token_id: str) -> Item | None: ...

    @abstractmethod
    def list_tokens(self, workspace: str) -> builtins.list[Item]:
        """A workspace's tokens, newest first (revoked ones included)."""

    @abstractmethod
    def update_token(self, token_id: str, fields: Mapping[str, Any]) -> bool:
        """Set fields on an existing token (revokedAt, lastUsedAt); False when it is gone."""

    @abstractmethod
    def count_login_failure(self, key: str, expires_at: float) -> int:
        """Add one to the failed-login counter `key` atomically and return its count. The
        counter is forgotten after `expires_at` (epoch seconds); the caller puts its time
        window into `key`, so an expired counter is never read again."""


class Outbox(ABC):
    """Events not yet fanned out to webhooks (`Videos` writes them with each change)."""

    @abstractmethod
    def outbox(self, limit: int) -> builtins.list[Item]:
        """Events not yet fanned out to webhooks, oldest first."""

    @abstractmethod
    def get_event(self, event_id: str) -> Item | None: ...

    @abstractmethod
    def mark_dispatched(self, event_id: str) -> None:
        """The event's deliveries exist: it leaves the outbox (kept a while for deliveries)."""


class Webhooks(ABC):
    """Webhooks a workspace registers, and their deliveries (one per event and webhook)."""

    @abstractmethod
    def put_webhook(self, hook: Item) -> None: ...

    @abstractmethod
    def get_webhook(self, hook_id: str) -> Item | None: ...

    @abstractmethod
    def list_webhooks(self, workspace: str) -> builtins.list[Item]: ...

    @abstractmethod
    def update_webhook(self, hook_id: str, fields: Mapping[str, Any]) -> bool: ...

    @abstractmethod
    def delete_webhook(self, hook_id: str) -> bool: ...

    @abstractmethod
    def put_delivery(self, delivery: Item) -> bool:
        """Insert a delivery (`id` = `<eventId>:<webhookId>`); False when it already exists, so
        a fan-out repeated after a crash never delivers twice."""

    @abstractmethod
    def due_deliveries(
        self, now: str, limit: int, exclude: Collection[str] = ()
    ) -> builtins.list[Item]:
        """Pending deliveries whose `nextAttemptAt` <= `now`, soonest first, leaving out those of
        the webhooks in `exclude` (endpoints busy with an attempt: their backlog must not fill
        the page and starve the others)."""

    @abstractmethod
    def update_delivery(
        self, delivery_id: str, fields: Mapping[str, Any], only_if_attempts: int | None = None
    ) -> bool:
        """Record an attempt; with `only_if_attempts`, only when no one else recorded one
        since (two dispatchers never both count the same attempt). Values may be lists of
        flat dicts (`attemptHistory`), stored and returned as they are."""

    @abstractmethod
    def list_deliveries(self, hook_id: str, limit: int) -> builtins.list[Item]:
        """A webhook's most recent deliveries, newest first."""


class Leases(ABC):
    """Capacity leases: one per in-flight execution, per capacity pool."""

    @abstractmethod
    def acquire_lease(self, pool: str, holder: str, expires_at: float, now: float) -> int:
        """Add/refresh `holder`'s lease atomically; return the count of live leases. The first
        acquire records `now` as the lease's start (a refresh keeps it)."""

    @abstractmethod
    def lease_acquired_at(self, pool: str, holder: str) -> float | None:
        """When `holder` first acquired its lease (the batch's scale-up), None if it holds none."""

    @abstractmethod
    def release_lease(self, pool: str, holder: str, now: float) -> int:
        """Drop `holder`'s lease atomically; return the count of live leases left."""

    @abstractmethod
    def live_leases(self, pool: str, now: float) -> int:
        """Count leases that have not expired."""

    @abstractmethod
    def reset_leases(self, pool: str) -> None:
        """Forget every lease of `pool` (a local pool starting afresh holds no capacity)."""


class VideoStore(Videos, Tokens, Outbox, Webhooks, Leases, ABC):
    """Every aggregate of one database: what the factory builds and hands out in slices."""
