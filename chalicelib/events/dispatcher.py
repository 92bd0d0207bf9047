"""Delivers the outbox to webhooks: fan-out, signed POSTs, retries with backoff, at least once.

1. `fan_out`: each pending event becomes one delivery per matching, enabled webhook of its
   workspace (`<eventId>:<webhookId>`, inserted only once), then leaves the outbox.
2. `deliver_due`: a due delivery is claimed by bumping its attempt count conditionally (two
   dispatchers never send the same attempt), POSTed with a 10 s timeout, and recorded: 2xx is
   delivered; anything else is retried on SCHEDULE (jittered), for more than 24 h, then failed.
   A crash mid-attempt leaves the claim to expire (CLAIM_SECONDS), so the event is sent again:
   receivers deduplicate on `webhook-id`, which is the event id, stable across retries.
An endpoint failing for DISABLE_AFTER is disabled with the reason.

Fairness: endpoints are served in parallel by a bounded pool (POOL_SIZE), at most one attempt in
flight per endpoint and at most PER_WORKSPACE endpoints per workspace, so slow endpoints hold
only their own slots; their backlog is left out of the due query (it cannot fill the page). A
circuit breaker per endpoint opens after BREAKER_AFTER consecutive failed attempts: its
deliveries wait COOLDOWN_SECONDS without an attempt being spent, then one attempt tries it
again (the state is on the webhook, `circuit` in its view). Each attempt is kept in the
delivery's `attemptHistory` (the last MAX_HISTORY).

Signing follows Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(secret,
"{id}.{timestamp}.{body}")>`, both secrets during a rotation. The runtime vendors no package
(the API bundle ships none), so it signs with hmac; the tests verify with the reference library
(`standardwebhooks`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain import Item
from chalicelib.domain.events import envelope, matches
from chalicelib.events import guard
from chalicelib.store.base import Outbox, Webhooks

log = logging.getLogger(__name__)

# Seconds before attempt 2, 3, ...: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (> 27 h in all).
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
CLAIM_SECONDS = 60  # an attempt in flight holds the delivery this long
TIMEOUT_SECONDS = 10.0
MAX_BODY = 256 * 1024
DISABLE_AFTER = timedelta(days=5)
USER_AGENT = "video-service-webhooks/1"
POOL_SIZE = 16  # endpoints served at once
PER_WORKSPACE = 4  # of which one workspace may hold this many
BREAKER_AFTER = 5  # consecutive failed attempts that open an endpoint's circuit
COOLDOWN_SECONDS = 60.0  # an open circuit waits this long before one attempt tries again
MAX_HISTORY = 20  # attempts kept per delivery (the newest)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<signature>` for one secret (`whsec_<base64 key>`)."""
    key = base64.b64decode(secret.removeprefix("whsec_") + "==")
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


@dataclass(frozen=True)
class Outcome:
    status: int | None  # HTTP status, None when no response
    ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(
    target: guard.Target,
    body: bytes,
    headers: dict[str, str],
    timeout: float = TIMEOUT_SECONDS,
    *,
    ca_certs: str | None = None,
) -> Outcome:
    """One POST to the checked address (no second lookup) with the URL's name as Host and as
    SNI/the name the certificate must carry; no redirects, no retries here. `ca_certs`: a CA
    bundle instead of the system's (a private CA)."""
    import urllib3  # lazy: only the dispatcher sends

    started = time.monotonic()
    kwargs: dict[str, Any] = {"timeout": urllib3.Timeout(total=timeout), "retries": False}
    if target.scheme == "https":
        pool: Any = urllib3.HTTPSConnectionPool(
            target.address, target.port, server_hostname=target.host,
            assert_hostname=target.host, ca_certs=ca_certs, **kwargs,
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **kwargs)
    host = f"[{target.host}]" if ":" in target.host else target.host  # an IPv6 literal
    if target.port not in (80, 443):
        host = f"{host}:{target.port}"
    try:
        with pool:
            resp = pool.urlopen(
                "POST", target.path, body=body, headers={**headers, "Host": host},
                redirect=False, preload_content=False,
            )  # fmt: skip
            resp.read(4096, decode_content=False)  # a bounded drain; the status is the answer
            resp.release_conn()
            return Outcome(resp.status, int((time.monotonic() - started) * 1000))
    except Exception as exc:  # any transport failure is a failed attempt, retried later
        return Outcome(None, int((time.monotonic() - started) * 1000), type(exc).__name__)


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        webhooks: Webhooks,
        render: Callable[[Item], Item],
        *,
        allow_private: bool,
        require_https: bool,
        sender: Callable[[guard.Target, bytes, dict[str, str], float], Outcome] = post,
        clock: Callable[[], float] = time.time,
        resolve: guard.Resolver | None = None,
        timeout: float = TIMEOUT_SECONDS,
        publish: Callable[[list[Item]], None] | None = None,
        pool_size: int = POOL_SIZE,
        per_workspace: int = PER_WORKSPACE,
        breaker_after: int = BREAKER_AFTER,
        cooldown: float = COOLDOWN_SECONDS,
    ) -> None:
        self._pool = ThreadPoolExecutor(pool_size, thread_name_prefix="webhook-delivery")
        self._pool_size = pool_size
        self._per_workspace = min(per_workspace, pool_size)
        self._breaker_after = breaker_after
        self._cooldown = timedelta(seconds=cooldown)
        self._lock = threading.Lock()
        self._busy: dict[str, str] = {}  # webhook id -> its workspace, while an attempt is out
        self._workspace_of: dict[str, str] = {}  # webhook id -> workspace, as last seen
        self._timeout = timeout
        self._publish = publish  # e.g. an EventBridge bus, before the event leaves the outbox
        self._outbox = outbox
        self._webhooks = webhooks
        self._render = render
        self._allow_private = allow_private
        self._require_https = require_https
        self._send = sender
        self._clock = clock
        self._resolve = resolve

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # --- 1. fan-out -------------------------------------------------------------------------
    def fan_out(self, limit: int = 100) -> int:
        """Turn pending events into deliveries; returns how many events left the outbox."""
        events = self._outbox.outbox(limit)
        if events and self._publish is not None:  # fails the pass: the events stay pending
            self._publish([envelope(evt, self._render) for evt in events])
        hooks_by_ws: dict[str, list[Item]] = {}
        for evt in events:
            hooks = hooks_by_ws.setdefault(
                evt["workspace"], self._webhooks.list_webhooks(evt["workspace"])
            )
            now = _iso(self._now())
            for hook in hooks:
                if not hook.get("enabled", True) or not matches(hook.get("events"), evt["type"]):
                    continue
                self._webhooks.put_delivery(
                    {
                        "id": f"{evt['id']}:{hook['id']}",
                        "webhookId": hook["id"],
                        "eventId": evt["id"],
                        "eventType": evt["type"],
                        "status": "pending",
                        "attempts": 0,
                        "nextAttemptAt": now,
                        "createdAt": now,
                    }
                )
            self._outbox.mark_dispatched(evt["id"])
        return len(events)

    # --- 2. delivery ------------------------------------------------------------------------
    def deliver_due(self, limit: int = 50) -> int:
        """Attempt every due delivery, endpoints in parallel, and wait for them (AWS's dispatcher
        function, tests); returns how many were attempted."""
        return sum(future.result() for future in self.start_due(limit))

    def start_due(self, limit: int = 50) -> list[Future[int]]:
        """Hand due deliveries to the pool, one job per endpoint that is not busy and whose
        workspace has a slot left; returns at once (`make run`'s loop does not wait)."""
        with self._lock:
            in_use = self._in_use()
            exclude = set(self._busy) | {
                hook_id
                for hook_id, workspace in self._workspace_of.items()
                if in_use.get(workspace, 0) >= self._per_workspace
            }
        due = self._webhooks.due_deliveries(_iso(self._now()), limit, exclude=exclude)
        batches: dict[str, list[Item]] = {}
        for delivery in due:
            batches.setdefault(delivery["webhookId"], []).append(delivery)
        started = []
        for hook_id, batch in batches.items():
            hook = self._webhooks.get_webhook(hook_id)
            workspace = hook["workspace"] if hook else ""
            with self._lock:
                self._workspace_of[hook_id] = workspace
                if len(self._busy) >= self._pool_size:
                    break
                if self._in_use().get(workspace, 0) >= self._per_workspace:
                    continue
                self._busy[hook_id] = workspace
            started.append(self._pool.submit(self._serve, hook_id, batch))
        return started

    def _in_use(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for workspace in self._busy.values():
            counts[workspace] = counts.get(workspace, 0) + 1
        return counts

    def _serve(self, hook_id: str, batch: list[Item]) -> int:
        """One endpoint's due deliveries, one after another (the pool's job)."""
        try:
            return sum(1 for delivery in batch if self.attempt(delivery))
        except Exception:  # a store hiccup: the claims expire and the deliveries come back
            log.exception("webhook delivery to %s failed", hook_id)
            return 0
        finally:
            with self._lock:
                self._busy.pop(hook_id, None)

    def _body(self, delivery: Item) -> bytes | None:
        if delivery.get("event"):
            return json.dumps(delivery["event"], separators=(",", ":")).encode()
        evt = self._outbox.get_event(delivery["eventId"])
        if evt is None:
            return None
        return json.dumps(envelope(evt, self._render), separators=(",", ":")).encode()

    def attempt(self, delivery: Item) -> bool:
        attempts = int(delivery.get("attempts", 0))
        now = self._now()
        hook = self._webhooks.get_webhook(delivery["webhookId"])
        if hook is not None and str(hook.get("circuitOpenUntil") or "") > _iso(now):
            error = (
                f"not attempted: the endpoint's circuit is open until {hook['circuitOpenUntil']} "
                f"after {hook.get('consecutiveFailures')} consecutive failed attempts"
            )
            deferred = {"nextAttemptAt": hook["circuitOpenUntil"], "error": error}
            self._webhooks.update_delivery(delivery["id"], deferred, only_if_attempts=attempts)
            return False
        claim = {
            "attempts": attempts + 1,
            "nextAttemptAt": _iso(now + timedelta(seconds=CLAIM_SECONDS)),
        }
        if not self._webhooks.update_delivery(delivery["id"], claim, only_if_attempts=attempts):
            return False  # another dispatcher has it
        delivery = {**delivery, **claim}
        body = self._body(delivery)
        if hook is None or not hook.get("enabled", True) or body is None:
            reason = "the webhook was deleted or disabled" if body else "the event is gone"
            self._record(delivery, "cancelled", now, error=reason)
            return True
        outcome = self._deliver(hook, delivery["eventId"], body)
        self._finish(hook, delivery, now, outcome)
        return True

    def _deliver(self, hook: Item, msg_id: str, body: bytes) -> Outcome:
        if len(body) > MAX_BODY:
            return Outcome(None, 0, f"the event body exceeds {MAX_BODY} bytes")
        try:
            target = guard.check(
                hook["url"],
                allow_private=self._allow_private,
                require_https=self._require_https,
                **({"resolve": self._resolve} if self._resolve else {}),
            )
        except guard.TargetRefused as exc:
            return Outcome(None, 0, f"refused: {exc}")
        timestamp = int(
            time.time()
        )  # the real send time (receivers check it), not the schedule clock
        signatures = [sign(hook["secret"], msg_id, timestamp, body)]
        if hook.get("previousSecret") and str(hook.get("previousSecretUntil", "")) > _iso(
            self._now()
        ):
            signatures.append(sign(hook["previousSecret"], msg_id, timestamp, body))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signatures),
        }
        return self._send(target, body, headers, self._timeout)

    def _finish(self, hook: Item, delivery: Item, now: datetime, outcome: Outcome) -> None:
        attempts = int(delivery["attempts"])
        if outcome.ok:
            self._record(delivery, "delivered", now, outcome=outcome)
            if hook.get("failingSince") or hook.get("consecutiveFailures"):
                healthy = {"failingSince": None, "consecutiveFailures": 0, "circuitOpenUntil": None}
                self._webhooks.update_webhook(hook["id"], healthy)
            return
        error = outcome.error or f"HTTP {outcome.status}"
        if attempts > len(SCHEDULE):
            self._record(delivery, "failed", now, outcome=outcome, error=error)
        else:
            delay = SCHEDULE[attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter
            retry_at = now + timedelta(seconds=delay)
            self._record(delivery, "pending", now, outcome=outcome, error=error, next_at=retry_at)
        self._webhooks.update_webhook(hook["id"], self._failed(hook, now, error))

    def _failed(self, hook: Item, now: datetime, error: str) -> dict[str, Any]:
        """The endpoint's new state after a failed attempt: its failure count, its circuit
        (open for the cool-down once the count reaches the threshold), and disabled after
        DISABLE_AFTER of nothing but failures."""
        failures = int(hook.get("consecutiveFailures") or 0) + 1
        failing_since = hook.get("failingSince") or _iso(now)
        fields: dict[str, Any] = {"consecutiveFailures": failures, "failingSince": failing_since}
        if failures >= self._breaker_after:
            fields["circuitOpenUntil"] = _iso(now + self._cooldown)
            log.warning("webhook %s: circuit open after %d failures", hook["id"], failures)
        since = datetime.strptime(failing_since, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        if now - since > DISABLE_AFTER:
            reason = f"every delivery failed since {failing_since} (last: {error})"
            fields.update(enabled=False, disabledReason=reason)
            log.warning("webhook %s disabled: %s", hook["id"], reason)
        return fields

    def _record(
        self,
        delivery: Item,
        status: str,
        now: datetime,
        *,
        outcome: Outcome | None = None,
        error: str | None = None,
        next_at: datetime | None = None,
    ) -> None:
        """The attempt's result on the delivery, and appended to its bounded history."""
        attempt = {
            "attempt": int(delivery["attempts"]),
            "at": _iso(now),
            "responseStatus": outcome.status if outcome else None,
            "durationMs": outcome.ms if outcome else 0,
            "error": error,
            "nextAttemptAt": _iso(next_at) if next_at else None,
        }
        history = [*(delivery.get("attemptHistory") or []), attempt][-MAX_HISTORY:]
        fields: dict[str, Any] = {
            "status": status,
            "lastAttemptAt": _iso(now),
            "nextAttemptAt": _iso(next_at) if next_at else _iso(now),
            "error": error,
            "attemptHistory": history,
        }
        if outcome is not None:
            fields["responseStatus"] = outcome.status
            fields["durationMs"] = outcome.ms
        self._webhooks.update_delivery(
            delivery["id"], fields, only_if_attempts=int(delivery["attempts"])
        )

    # --- the local loop ---------------------------------------------------------------------
    def run(
        self, stop: threading.Event, interval: float = 0.05, idle_interval: float = 1.0
    ) -> None:
        """`make run`'s dispatcher thread: fan out and deliver until `stop` is set.

        While there is work it passes again after `interval`; each idle pass doubles the wait up
        to `idle_interval`: a pass is 2 reads (outbox, due deliveries), so an idle server makes
        ~2 requests a second instead of 40 — it matters on DynamoDB (the AWS-mode recipe), and
        an event waits at most `idle_interval` more before it is fanned out."""
        wait = interval
        while not stop.is_set():
            try:
                busy = self.fan_out() + len(self.start_due())
            except Exception:  # a store hiccup must not end the thread
                log.exception("webhook dispatcher pass failed")
                busy = 0
            if busy:
                wait = interval
            else:
                stop.wait(wait)
                wait = min(wait * 2, idle_interval)


def eventbridge_publisher(client: Any, bus: str) -> Callable[[list[Item]], None]:
    """Put envelopes on an EventBridge bus (source `video-service`, detail-type = event type),
    in batches of 10 (the API's limit); a partial failure raises, so the pass is retried."""

    def publish(envelopes: list[Item]) -> None:
        for i in range(0, len(envelopes), 10):
            entries = [
                {
                    "EventBusName": bus,
                    "Source": "video-service",
                    "DetailType": env["type"],
                    "Detail": json.dumps(env, separators=(",", ":")),
                }
                for env in envelopes[i : i + 10]
            ]
            failed = client.put_events(Entries=entries).get("FailedEntryCount", 0)
            if failed:
                raise RuntimeError(f"EventBridge refused {failed} of {len(entries)} events")

    return publish
