"""`/webhooks`: endpoints a workspace registers to receive its events (admin scope).

Secrets follow the Standard Webhooks spec: `whsec_` + base64 of 24 random bytes, shown once at
creation (and at rotation). They are stored as they are because the dispatcher signs with them
(the table is encrypted at rest; they never appear in a response after creation, or in logs).
"""

from __future__ import annotations

import base64
import builtins
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.api.schemas import Array, Choice, Object, Text
from chalicelib.domain import Item, utc_now
from chalicelib.domain.access import Principal
from chalicelib.domain.events import TEST_TYPE, TYPES, new_event_id
from chalicelib.errors import NotFoundError, ValidationError
from chalicelib.events import guard
from chalicelib.store.base import Webhooks

ROTATION_OVERLAP = timedelta(hours=24)  # both secrets sign during this window
MAX_HOOKS_PER_WORKSPACE = 20
MAX_DESCRIPTION = 500

# The request schema of POST /webhooks (it validates, and the OpenAPI document shows it).
NEW_WEBHOOK = Object(
    {
        "url": Text(
            max_length=guard.MAX_URL,
            non_blank=True,
            message="url must be an http(s) URL",
            description="Where events are POSTed: `https://` in AWS, resolving to public "
            "addresses only (checked again at every delivery).",
            example="https://hooks.example.com/video",
        ),
        "events": Array(
            Choice(TYPES),
            min_items=1,
            max_items=len(TYPES),
            message=f"events must be a non-empty list of: {', '.join(TYPES)}",
            description="The event types to receive (none: all of them).",
            example=["video.completed", "video.failed"],
        ),
        "description": Text(max_length=MAX_DESCRIPTION, default="", example="CI notifications"),
    },
    required=("url",),
)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def public_view(hook: Item) -> Item:
    keys = ("id", "url", "events", "description", "workspace", "enabled", "createdAt")
    view = {k: hook.get(k) for k in keys}
    if hook.get("disabledReason"):
        view["disabledReason"] = hook["disabledReason"]
    view["circuit"] = circuit_view(hook)
    return view


def circuit_view(hook: Item) -> Item:
    """The endpoint's circuit breaker as the dispatcher left it: `open` (deliveries wait until
    `retryAt`), `half-open` (the next attempt decides) or `closed`."""
    open_until = hook.get("circuitOpenUntil")
    state = "closed"
    if open_until:
        state = "open" if str(open_until) > _iso(datetime.now(UTC)) else "half-open"
    return {
        "state": state,
        "consecutiveFailures": int(hook.get("consecutiveFailures") or 0),
        "retryAt": open_until if state == "open" else None,
    }


def delivery_view(delivery: Item) -> Item:
    keys = (
        "id", "eventId", "eventType", "status", "attempts", "nextAttemptAt", "createdAt",
        "lastAttemptAt", "responseStatus", "durationMs", "error", "attemptHistory",
    )  # fmt: skip
    view = {k: delivery.get(k) for k in keys if k in delivery}
    view.setdefault("attemptHistory", [])  # oldest first, the last MAX_HISTORY attempts
    return view


class WebhookService:
    def __init__(self, store: Webhooks, *, allow_private: bool, require_https: bool) -> None:
        self._store = store
        self._allow_private = allow_private
        self._require_https = require_https

    def _owned(self, hook_id: str, actor: Principal) -> Item:
        hook = self._store.get_webhook(hook_id) if hook_id.isalnum() and len(hook_id) < 40 else None
        if hook is None or hook["workspace"] != actor.workspace:
            raise NotFoundError(f"webhook {hook_id!r} not found")
        return hook

    def create(self, body: Any, actor: Principal) -> Item:
        fields = NEW_WEBHOOK.check(body)
        url = guard.validate_url(
            fields["url"], allow_private=self._allow_private, require_https=self._require_https
        )
        events, description = fields.get("events"), fields["description"]
        if len(self._store.list_webhooks(actor.workspace)) >= MAX_HOOKS_PER_WORKSPACE:
            raise ValidationError(
                f"a workspace may have at most {MAX_HOOKS_PER_WORKSPACE} webhooks"
            )
        secret = new_secret()
        hook: Item = {
            "id": secrets.token_hex(8),
            "workspace": actor.workspace,
            "url": url,
            "events": sorted(set(events)) if events else None,
            "description": description,
            "secret": secret,
            "enabled": True,
            "createdAt": utc_now(),
            "createdBy": actor.token_id,
        }
        self._store.put_webhook(hook)
        return {**public_view(hook), "secret": secret}

    def list(self, actor: Principal) -> list[Item]:
        return [public_view(h) for h in self._store.list_webhooks(actor.workspace)]

    def get(self, hook_id: str, actor: Principal) -> Item:
        return public_view(self._owned(hook_id, actor))

    def delete(self, hook_id: str, actor: Principal) -> None:
        self._owned(hook_id, actor)
        self._store.delete_webhook(hook_id)

    def rotate(self, hook_id: str, actor: Principal) -> Item:
        """A new secret; the old one keeps signing (beside it) for 24 h."""
        hook = self._owned(hook_id, actor)
        secret = new_secret()
        until = _iso(datetime.now(UTC) + ROTATION_OVERLAP)
        self._store.update_webhook(
            hook_id,
            {"secret": secret, "previousSecret": hook["secret"], "previousSecretUntil": until},
        )
        return {**public_view(hook), "secret": secret, "previousSecretValidUntil": until}

    def test(self, hook_id: str, actor: Principal) -> Item:
        """Queue a `webhook.test` event for this endpoint only (delivered like any other)."""
        hook = self._owned(hook_id, actor)
        event_id = new_event_id()
        now = utc_now()
        envelope = {
            "id": event_id,
            "type": TEST_TYPE,
            "createdAt": now,
            "workspace": hook["workspace"],
            "data": {"webhookId": hook_id, "message": "a test event from the video service"},
        }
        delivery = {
            "id": f"{event_id}:{hook_id}",
            "webhookId": hook_id,
            "eventId": event_id,
            "eventType": TEST_TYPE,
            "event": envelope,  # no outbox record: the delivery carries its body
            "status": "pending",
            "attempts": 0,
            "nextAttemptAt": now,
            "createdAt": now,
        }
        self._store.put_delivery(delivery)
        return {"eventId": event_id, "deliveryId": delivery["id"], "status": "pending"}

    def deliveries(self, hook_id: str, actor: Principal, limit: int = 50) -> builtins.list[Item]:
        self._owned(hook_id, actor)
        return [delivery_view(d) for d in self._store.list_deliveries(hook_id, limit)]
