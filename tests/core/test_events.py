"""Events and webhooks: outbox -> signed deliveries to a real receiver on 127.0.0.1, verified
with the Standard Webhooks reference library; retries, rotation, restarts, SSRF, SSE."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import free_port

JSON = {"content-type": "application/json"}


class Receiver:
    """A webhook endpoint: verifies every request and answers from a script of statuses."""

    def __init__(self) -> None:
        self.port = free_port()
        self.secrets: list[str] = []
        self.script: list[int] = []  # statuses to answer first (then 200)
        self.delay = 0.0
        self.hold: threading.Event | None = None  # when set: answer only once it is set
        self.arrived = 0  # requests read (before any hold)
        self.received: list[dict[str, Any]] = []
        self.rejected = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.arrived += 1
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                time.sleep(receiver.delay)
                headers = dict(self.headers.items())
                verified = []
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(secret)
                    except WebhookVerificationError:
                        pass
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    if not verified:
                        receiver.rejected += 1
                        status = 400
                    elif status == 200:
                        receiver.received.append(
                            {"body": json.loads(body), "headers": headers, "verified": verified}
                        )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def ids(self) -> list[str]:
        return [r["headers"]["webhook-id"] for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def dispatcher(clock: Clock | None = None, timeout: float = 2.0) -> Any:
    from chalicelib.events.dispatcher import Dispatcher
    from chalicelib.factory import container

    c = container()
    return Dispatcher(
        c.store,
        c.store,
        c.renderer.item,
        allow_private=True,
        require_https=False,
        clock=clock or time.time,
        timeout=timeout,
    )


def register(client: Any, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    resp = client.http.post(
        "/webhooks", headers=JSON, body=json.dumps({"url": receiver.url, **extra})
    )
    assert resp.status_code == 201, resp.body
    hook = json.loads(resp.body)
    assert hook["secret"].startswith("whsec_")
    receiver.secrets.append(hook["secret"])
    return dict(hook)


def make_video(client: Any, data_dir: Path, name: str = "clip.mp4") -> str:
    src = data_dir / "inbox" / name
    src.write_bytes(b"x")
    resp = client.http.post(
        "/videos", headers=JSON, body=json.dumps({"title": "t", "sourceUrl": f"file://{src}"})
    )
    assert resp.status_code == 201
    return str(json.loads(resp.body)["id"])


def drain(d: Any, rounds: int = 20) -> None:
    for _ in range(rounds):
        if not (d.fan_out() + d.deliver_due()):
            return


def test_events_are_delivered_signed_with_the_video_as_get_returns_it(
    client: Any, local_env: Path, receiver: Receiver
) -> None:
    hook = register(client, receiver)
    vid = make_video(client, local_env)
    drain(dispatcher())
    (got,) = receiver.received
    body = got["body"]
    assert body["type"] == "video.created" and body["workspace"] == "default"
    assert got["headers"]["webhook-id"] == body["id"]
    assert body["data"]["id"] == vid and body["data"]["sequence"] == 1
    assert body["data"]["title"] == json.loads(client.http.get(f"/videos/{vid}").body)["title"]
    deliveries = json.loads(client.http.get(f"/webhooks/{hook['id']}/deliveries").body)
    (d,) = deliveries["deliveries"]
    assert (d["status"], d["attempts"], d["responseStatus"]) == ("delivered", 1, 200)
    listed = json.loads(client.http.get("/webhooks").body)["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]


def test_failures_are_retried_with_backoff_until_delivered(
    client: Any, local_env: Path, receiver: Receiver
) -> None:
    register(client, receiver)
    receiver.script = [500, 500]
    clock = Clock()
    d = dispatcher(clock)
    make_video(client, local_env)
    drain(d)
    assert receiver.received == []
    clock.now += 6  # first retry after ~5 s
    drain(d)
    assert receiver.received == []
    clock.now += 400  # second retry after ~5 min
    drain(d)
    assert len(receiver.received) == 1


def test_each_attempt_is_listed_under_its_delivery(
    client: Any, local_env: Path, receiver: Receiver
) -> None:
    hook = register(client, receiver)
    receiver.script = [500, 500]
    clock = Clock()
    d = dispatcher(clock)
    make_video(client, local_env)
    for step in (0, 6, 400):  # the first try, then past each retry's time
        clock.now += step
        drain(d)
    (got,) = json.loads(client.http.get(f"/webhooks/{hook['id']}/deliveries").body)["deliveries"]
    assert (got["status"], got["attempts"], got["responseStatus"]) == ("delivered", 3, 200)
    history = got["attemptHistory"]
    assert [a["attempt"] for a in history] == [1, 2, 3]
    assert [a["responseStatus"] for a in history] == [500, 500, 200]
    assert [a["error"] for a in history] == ["HTTP 500", "HTTP 500", None]
    assert history[0]["at"] < history[0]["nextAttemptAt"] <= history[1]["at"]
    assert history[1]["nextAttemptAt"] <= history[2]["at"] and history[2]["nextAttemptAt"] is None
    assert all(a["durationMs"] >= 0 for a in history)


def test_the_attempt_history_is_bounded(
    client: Any, local_env: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.events import dispatcher as module

    monkeypatch.setattr(module, "MAX_HISTORY", 2)
    hook = register(client, receiver)
    receiver.script = [500, 503]
    clock = Clock()
    d = dispatcher(clock)
    make_video(client, local_env)
    for step in (0, 6, 400):
        clock.now += step
        drain(d)
    (got,) = json.loads(client.http.get(f"/webhooks/{hook['id']}/deliveries").body)["deliveries"]
    assert got["attempts"] == 3
    assert [(a["attempt"], a["responseStatus"]) for a in got["attemptHistory"]] == [
        (2, 503),
        (3, 200),
    ]  # the newest two


def test_a_receiver_that_is_down_then_up_gets_the_event(
    client: Any, local_env: Path, receiver: Receiver
) -> None:
    register(client, receiver)
    receiver.stop()
    clock = Clock()
    d = dispatcher(clock)
    make_video(client, local_env)
    drain(d)
    receiver.start()
    clock.now += 6
    drain(d)
    assert [r["body"]["type"] for r in receiver.received] == ["video.created"]


def test_a_slow_receiver_times_out_and_is_retried(
    client: Any, local_env: Path, receiver: Receiver
) -> None:
    hook = register(client, receiver)
    receiver.delay = 1.5
    clock = Clock()
    d = dispatcher(clock, timeout=0.3)
    make_video(client, local_env)
    drain(d)
    (first,) = json.loads(client.http.get(f"/webhooks/{hook['id']}/deliveries").body)["deliveries"]
    assert first["status"] == "pending" and first["error"] and first["responseStatus"] is None
    receiver.delay = 0
    clock.now += 6
    drain(d)
    assert len({r["headers"]["webhook-id"] for r in receiver.received}) >= 1


def test_rotation_signs_with_both_secrets(client: Any, local_env: Path, receiver: Receiver) -> None:
    hook = register(client, receiver)
    old = hook["secret"]
    rotated = json.loads(client.http.post(f"/webhooks/{hook['id']}/rotate").body)
    assert rotated["secret"] != old and rotated["secret"].startswith("whsec_")
    receiver.secrets.append(rotated["secret"])
    make_video(client, local_env)
    drain(dispatcher())
    (got,) = receiver.received
    assert set(got["verified"]) == {old, rotated["secret"]}  # both verify during the overlap
    assert got["headers"]["webhook-signature"].count("v1,") == 2


def test_test_event_and_unknown_hook(client: Any, receiver: Receiver) -> None:
    hook = register(client, receiver)
    resp = client.http.post(f"/webhooks/{hook['id']}/test")
    assert resp.status_code == 202
    drain(dispatcher())
    assert [r["body"]["type"] for r in receiver.received] == ["webhook.test"]
    assert client.http.post("/webhooks/ffffffffffffffff/test").status_code == 404
    assert client.http.delete(f"/webhooks/{hook['id']}").status_code == 204
    assert client.http.get(f"/webhooks/{hook['id']}").status_code == 404


def test_undelivered_events_survive_a_restart_and_go_out_once(
    client: Any, local_env: Path, receiver: Receiver
) -> None:
    register(client, receiver)
    for i in range(3):
        make_video(client, local_env, f"v{i}.mp4")
    from chalicelib.config import Settings
    from chalicelib.factory import Container, use_container

    use_container(Container(Settings.from_env()))  # the server restarts; nothing was sent
    drain(dispatcher())
    drain(dispatcher())  # a second dispatcher finds nothing left to send
    assert len(receiver.received) == 3
    assert len(set(receiver.ids())) == 3


def test_twenty_videos_changing_concurrently_deliver_every_event_once(
    client: Any, local_env: Path, receiver: Receiver
) -> None:
    from chalicelib.factory import container

    register(client, receiver)
    vids = [make_video(client, local_env, f"c{i}.mp4") for i in range(20)]
    store = container().store
    stop = threading.Event()
    dispatchers = [dispatcher(), dispatcher()]  # two, racing for the same deliveries
    threads = [threading.Thread(target=d.run, args=(stop, 0.01)) for d in dispatchers]
    for t in threads:
        t.start()

    def life(vid: str) -> None:
        store.transition(vid, {"uploaded"}, "queued", {"executionName": "e"})
        store.transition(vid, {"queued"}, "processing")
        store.transition(vid, {"processing"}, "failed", {"error": {"code": "X", "message": "m"}})

    ws = [threading.Thread(target=life, args=(v,)) for v in vids]
    for t in ws:
        t.start()
    for t in ws:
        t.join()
    deadline = time.monotonic() + 30
    while len(receiver.received) < 80 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    assert len(receiver.received) == 80  # created, queued, processing, failed x 20
    assert len(set(receiver.ids())) == 80  # none twice
    per_video: dict[str, list[int]] = {}
    for r in receiver.received:
        per_video.setdefault(r["body"]["data"]["id"], []).append(r["body"]["data"]["sequence"])
    assert all(sorted(seqs) == [1, 2, 3, 4] for seqs in per_video.values())
    failed = [r["body"] for r in receiver.received if r["body"]["type"] == "video.failed"]
    assert all(b["data"]["error"]["code"] == "X" for b in failed)


# --- fairness and the circuit breaker ---------------------------------------------------------
def _hook(store: Any, workspace: str, receiver: Receiver) -> str:
    hook_id = f"{workspace}{receiver.port}".ljust(16, "0")
    secret = "whsec_" + "QUFB" * 8
    receiver.secrets.append(secret)
    created = "2026-01-01T00:00:00.000000Z"
    store.put_webhook({"id": hook_id, "workspace": workspace, "url": receiver.url,
                       "secret": secret, "enabled": True, "createdAt": created})  # fmt: skip
    return hook_id


def _test_delivery(store: Any, hook_id: str, workspace: str) -> str:
    """A `webhook.test` delivery, queued as `POST /webhooks/{id}/test` queues it."""
    from chalicelib.api.webhooks import WebhookService
    from chalicelib.domain.access import Principal

    service = WebhookService(store, allow_private=True, require_https=False)
    return str(service.test(hook_id, Principal("t", workspace, "admin"))["eventId"])


@pytest.mark.parametrize("pool_size", [16, 1])
def test_slow_endpoints_do_not_hold_up_another_workspaces_delivery(
    local_env: Path, pool_size: int
) -> None:
    """Three endpoints of workspace b hang (answering only when released); workspace a's
    delivery, queued after theirs, arrives while they still hang. With a pool of one (the old
    sequential dispatcher) it waits behind them."""
    from chalicelib.factory import container

    store = container().store
    release = threading.Event()
    slow = [Receiver() for _ in range(3)]
    fast = Receiver()
    for r in [*slow, fast]:
        r.hold = release if r in slow else None
        r.start()
    stop = threading.Event()
    loop = None
    try:
        for r in slow:
            _test_delivery(store, _hook(store, "b", r), "b")
        fast_event = _test_delivery(store, _hook(store, "a", fast), "a")
        from chalicelib.events.dispatcher import Dispatcher

        d = Dispatcher(store, store, container().renderer.item, allow_private=True,
                       require_https=False, timeout=20.0, pool_size=pool_size)  # fmt: skip
        loop = threading.Thread(target=d.run, args=(stop, 0.01, 0.05))
        loop.start()
        deadline = time.monotonic() + (10 if pool_size > 1 else 1)  # the old way: wait 1 s
        while time.monotonic() < deadline and not (
            fast.received and sum(r.arrived for r in slow) == 3
        ):
            time.sleep(0.02)
        held = sum(r.arrived for r in slow)
        if pool_size > 1:
            assert fast.ids() == [fast_event]  # delivered while b's three still hang
            assert held == 3 and not any(r.received for r in slow)
        else:
            assert fast.received == [] and held == 1  # stuck behind b's first endpoint
        release.set()
        deadline = time.monotonic() + 10
        while sum(len(r.received) for r in [*slow, fast]) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [len(r.received) for r in [*slow, fast]] == [1, 1, 1, 1]  # nothing lost either way
    finally:
        release.set()
        stop.set()
        if loop:
            loop.join()
        for r in [*slow, fast]:
            r.stop()


def test_one_workspace_holds_at_most_its_share_of_the_pool(local_env: Path) -> None:
    from chalicelib.events.dispatcher import Dispatcher
    from chalicelib.factory import container

    store = container().store
    release = threading.Event()
    slow = [Receiver() for _ in range(3)]
    for r in slow:
        r.hold = release
        r.start()
        _test_delivery(store, _hook(store, "b", r), "b")
    d = Dispatcher(store, store, container().renderer.item, allow_private=True,
                   require_https=False, pool_size=4, per_workspace=2)  # fmt: skip
    try:
        futures = d.start_due()
        assert len(futures) == 2  # the third endpoint of b waits for a slot of b's
        assert d.start_due() == []  # and is not started on the next pass either
    finally:
        release.set()
        for r in slow:
            r.stop()
    assert sum(f.result() for f in futures) == 2
    assert d.deliver_due() == 1  # a slot is free again


def test_the_circuit_opens_after_consecutive_failures_and_closes_on_success(
    client: Any, local_env: Path, receiver: Receiver
) -> None:
    from chalicelib.events.dispatcher import Dispatcher
    from chalicelib.factory import container

    hook = register(client, receiver)
    receiver.script = [500, 500, 500]
    for _ in range(4):
        assert client.http.post(f"/webhooks/{hook['id']}/test").status_code == 202
    c, clock = container(), Clock()
    d = Dispatcher(c.store, c.store, c.renderer.item, allow_private=True, require_https=False,
                   clock=clock, breaker_after=3, cooldown=30)  # fmt: skip
    assert d.deliver_due() == 3  # three failures, then the circuit is open: the 4th waits
    view = json.loads(client.http.get(f"/webhooks/{hook['id']}").body)
    assert view["circuit"]["state"] == "open" and view["circuit"]["consecutiveFailures"] == 3
    deliveries = json.loads(client.http.get(f"/webhooks/{hook['id']}/deliveries").body)
    waiting = [x for x in deliveries["deliveries"] if x["attempts"] == 0]
    assert len(waiting) == 1 and "circuit is open" in waiting[0]["error"]
    assert waiting[0]["nextAttemptAt"] == view["circuit"]["retryAt"]
    clock.now += 10  # the failed ones are due again (after ~5 s); the circuit is still open
    assert d.deliver_due() == 0 and receiver.arrived == 3
    clock.now += 25  # past the cool-down: one attempt tries, succeeds, the rest follow
    drain(d)
    assert len(receiver.received) == 4
    view = json.loads(client.http.get(f"/webhooks/{hook['id']}").body)
    assert view["circuit"] == {"state": "closed", "consecutiveFailures": 0, "retryAt": None}


# --- SSRF -----------------------------------------------------------------------------------
def _fake_resolver(table: dict[str, list[str]]) -> Any:
    return lambda host, port: table[host]


# The names a test resolves (no real DNS): what each is made to resolve to.
RESOLVES = {
    "internal.example": ["10.1.2.3"],
    "mixed.example": ["93.184.216.34", "192.168.1.1"],  # one public, one private
    "public.example": ["93.184.216.34"],
    "v6.example": ["2606:4700::1111"],
    "metadata.google.internal": ["169.254.169.254"],
    "imds.example": ["fd00:ec2::254"],  # a public-looking name for AWS IMDS over IPv6
    "rebind.example": ["93.184.216.34", "::ffff:169.254.169.254"],
    "lan.example": ["192.168.1.10"],
}

# (url, refused with private targets off, refused with them on); http:// is allowed in these
# tables (local mode), https-only is tested apart.
TARGETS = [
    # cloud metadata: refused in every mode
    ("http://169.254.169.254/latest/meta-data", True, True),  # AWS, GCP, Azure, ...
    ("http://[fd00:ec2::254]/", True, True),  # AWS IMDS over IPv6
    ("http://100.100.100.200/", True, True),  # Alibaba
    ("http://192.0.0.192/", True, True),  # Oracle
    ("http://169.254.170.2/v2/credentials", True, True),  # ECS task credentials
    ("http://168.63.129.16/", True, True),  # Azure WireServer
    ("http://metadata.google.internal/computeMetadata/v1/", True, True),  # by name
    ("http://metadata.google.internal./", True, True),  # trailing dot
    ("http://imds.example/", True, True),  # a name resolving to metadata
    ("http://rebind.example/", True, True),  # one of its addresses is metadata
    ("http://[::ffff:169.254.169.254]/", True, True),  # IPv4-mapped metadata
    ("http://[2002:a9fe:a9fe::]/", True, True),  # 6to4 metadata
    ("http://[64:ff9b::a9fe:a9fe]/", True, True),  # NAT64 metadata
    # link-local, multicast, unspecified, reserved: refused in every mode
    ("http://169.254.1.1/", True, True),
    ("http://[fe80::1]/", True, True),
    ("http://224.0.0.1/", True, True),
    ("http://[ff02::1]/", True, True),
    ("http://0.0.0.0:8899/", True, True),
    ("http://[::]/", True, True),
    ("http://255.255.255.255/", True, True),
    ("http://240.0.0.1/", True, True),
    # loopback and private: refused unless private targets are allowed
    ("http://127.0.0.1:8899/", True, False),
    ("http://[::1]:8899/", True, False),
    ("http://10.0.0.1/", True, False),
    ("http://172.16.0.1/", True, False),
    ("http://192.168.1.1/", True, False),
    ("http://100.64.0.1/", True, False),  # shared (CGNAT)
    ("http://[fd12:3456::1]/", True, False),  # unique local
    ("http://internal.example/", True, False),
    ("http://mixed.example/", True, False),
    ("http://lan.example/", True, False),
    # IPv6 forms judged by the IPv4 address they carry
    ("http://[::ffff:127.0.0.1]/", True, False),  # IPv4-mapped
    ("http://[::127.0.0.1]/", True, False),  # IPv4-compatible
    ("http://[::ffff:0:127.0.0.1]/", True, False),  # IPv4-translated (SIIT)
    ("http://[2002:7f00:1::]:8899/", True, False),  # 6to4 of loopback
    ("http://[2002:a00:1::]/", True, False),  # 6to4 of 10.0.0.1
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", True, False),  # Teredo, client 127.0.0.1
    ("http://[64:ff9b::7f00:1]/", True, False),  # NAT64 of loopback
    ("http://[64:ff9b::a00:1]/", True, False),  # NAT64 of 10.0.0.1
    ("http://[64:ff9b:1:7f00:1::]/", True, True),  # local-use NAT64: every RFC 6052 layout judged
    # not globally routable: documentation, benchmarking
    ("http://192.0.2.1/", True, False),
    ("http://198.18.0.1/", True, False),
    ("http://[2001:db8::1]/", True, False),
    # globally routable unicast: allowed in every mode
    ("http://93.184.216.34/", False, False),
    ("http://public.example:8443/h?x=1", False, False),
    ("http://v6.example/", False, False),
    ("http://[2606:4700::1111]/", False, False),
    ("http://[2002:5db8:d822::]/", False, False),  # 6to4 of a public address
    ("http://[64:ff9b::5db8:d822]/", False, False),  # NAT64 of a public address
    ("http://[::ffff:93.184.216.34]/", False, False),
]


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(("url", "refused_public_only", "refused_with_private"), TARGETS)
def test_targets_refused_and_allowed(
    url: str, refused_public_only: bool, refused_with_private: bool, allow_private: bool
) -> None:
    from chalicelib.events import guard

    def resolve(host: str, port: int) -> list[str]:
        return RESOLVES[host]

    refused = refused_with_private if allow_private else refused_public_only
    if refused:
        with pytest.raises(guard.TargetRefused):
            guard.check(url, allow_private=allow_private, require_https=False, resolve=resolve)
    else:
        target = guard.check(url, allow_private=allow_private, require_https=False, resolve=resolve)
        literal = target.host.strip("[]")
        expected = RESOLVES[literal] if literal in RESOLVES else [str(ip_address(literal))]
        assert target.address == expected[0]  # the checked address is the one connected to


@pytest.mark.parametrize(
    "url",
    [
        "http://public.example/h",  # plain http in AWS mode
        "https://user:pw@public.example/h",
        "ftp://public.example/h",
        "https://public.example/h#frag",
        "https://nowhere.example/h",  # does not resolve
    ],
)
def test_refused_urls(url: str) -> None:
    from chalicelib.events import guard

    def resolve(host: str, port: int) -> list[str]:
        if host not in RESOLVES:
            raise OSError("no such host")
        return RESOLVES[host]

    with pytest.raises(guard.TargetRefused):
        guard.check(url, allow_private=True, require_https=True, resolve=resolve)


def test_a_public_target_connects_to_the_checked_address() -> None:
    from chalicelib.events import guard

    resolve = _fake_resolver({"public.example": ["93.184.216.34"]})
    target = guard.check(
        "https://public.example:8443/h?x=1", allow_private=False, require_https=True,
        resolve=resolve,
    )  # fmt: skip
    assert (target.address, target.host, target.port, target.path) == (
        "93.184.216.34",
        "public.example",
        8443,
        "/h?x=1",
    )


def test_refused_at_creation_and_again_at_delivery(
    client: Any, local_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.factory import container, reset_container

    monkeypatch.setenv("VIDEO_WEBHOOK_ALLOW_PRIVATE", "false")
    reset_container()
    resp = client.http.post(
        "/webhooks", headers=JSON, body=json.dumps({"url": "http://169.254.169.254/x"})
    )
    assert resp.status_code == 400 and "metadata" in resp.body.decode()
    # A name that was public at creation but resolves privately later (DNS rebinding):
    c = container()
    c.store.put_webhook(
        {"id": "abcdef0123456789", "workspace": "default", "url": "http://rebind.example/h",
         "secret": "whsec_" + "A" * 32, "enabled": True, "createdAt": "2026-01-01T00:00:00.000000Z"}
    )  # fmt: skip
    from chalicelib.events.dispatcher import Dispatcher, Outcome

    sent: list[Any] = []

    def sender(*args: Any) -> Outcome:
        sent.append(args)
        return Outcome(200, 0)

    d = Dispatcher(
        c.store, c.store, c.renderer.item, allow_private=False, require_https=False,
        sender=sender, resolve=_fake_resolver({"rebind.example": ["127.0.0.1"]}),
    )  # fmt: skip
    make_video(client, local_env)
    drain(d)
    assert sent == []
    (delivery,) = c.store.list_deliveries("abcdef0123456789", 10)
    assert "refused" in delivery["error"] and "loopback" in delivery["error"]


class _Echo(BaseHTTPRequestHandler):
    """Records the Host header of each POST and answers 204."""

    hosts: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).hosts.append(str(self.headers["Host"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _echo() -> type[_Echo]:
    class Handler(_Echo):
        pass

    Handler.hosts = []
    return Handler


def _serve(server: ThreadingHTTPServer) -> Iterator[int]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_https_goes_to_the_checked_address_with_the_name_as_sni_and_host() -> None:
    import ssl

    import trustme

    from chalicelib.events import guard
    from chalicelib.events.dispatcher import post

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hooks.example").configure_cert(context)
    names: list[str | None] = []

    def sni(sock: Any, name: str | None, ctx: Any) -> None:
        names.append(name)

    context.sni_callback = sni
    handler = _echo()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    resolve = _fake_resolver({"hooks.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    for port in _serve(server):
        with ca.cert_pem.tempfile() as ca_file:
            target = guard.check(f"https://hooks.example:{port}/h", allow_private=True,
                                 require_https=True, resolve=resolve)  # fmt: skip
            assert post(target, b"{}", {}, 5.0, ca_certs=ca_file).status == 204
            wrong = guard.check(f"https://other.example:{port}/h", allow_private=True,
                                require_https=True, resolve=resolve)  # fmt: skip
            refused = post(wrong, b"{}", {}, 5.0, ca_certs=ca_file)
        assert refused.status is None and refused.error  # the certificate names another host
        assert handler.hosts == [f"hooks.example:{port}"]
        assert names == ["hooks.example", "other.example"]


def test_an_ipv6_literal_target_is_sent_a_bracketed_host() -> None:
    import socket

    from chalicelib.events import guard
    from chalicelib.events.dispatcher import post

    handler = _echo()
    server_class = type("V6Server", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    for port in _serve(server_class(("::1", 0), handler)):
        target = guard.check(f"http://[::1]:{port}/h", allow_private=True, require_https=False)
        assert post(target, b"{}", {}, 5.0).status == 204
        assert handler.hosts == [f"[::1]:{port}"]


def test_no_redirect_is_followed(client: Any, local_env: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        resp = client.http.post(
            "/webhooks", headers=JSON, body=json.dumps({"url": f"http://127.0.0.1:{port}/r"})
        )
        hook = json.loads(resp.body)
        make_video(client, local_env)
        drain(dispatcher())
        (d,) = json.loads(client.http.get(f"/webhooks/{hook['id']}/deliveries").body)["deliveries"]
        assert (d["status"], d["responseStatus"]) == ("pending", 307)  # a failure, not followed
        assert hits == ["/r"]
    finally:
        server.shutdown()
        server.server_close()


# --- SSE ------------------------------------------------------------------------------------
def test_sse_reports_changes_and_ends_at_a_final_state(client: Any, local_env: Path) -> None:
    from chalicelib.factory import container

    vid = make_video(client, local_env)
    first = client.http.get(f"/videos/{vid}/events?wait=0")
    assert first.headers["Content-Type"] == "text/event-stream"
    text = first.body.decode()
    assert "event: state" in text and '"status":"uploaded"' in text
    last_id = next(line[4:] for line in text.splitlines() if line.startswith("id: "))
    same = client.http.get(f"/videos/{vid}/events?wait=0", headers={"Last-Event-ID": last_id})
    assert "event: state" not in same.body.decode()  # nothing new: a keep-alive
    store = container().store
    threading.Timer(0.3, store.transition, args=(vid, {"uploaded"}, "failed")).start()
    changed = client.http.get(f"/videos/{vid}/events?wait=5", headers={"Last-Event-ID": last_id})
    body = changed.body.decode()
    assert '"status":"failed"' in body and "event: end" in body
    assert client.http.get(f"/videos/{'C' * 22}/events").status_code == 404


def test_events_are_put_on_the_eventbridge_bus_before_they_leave_the_outbox(
    client: Any, local_env: Path
) -> None:
    import boto3
    from botocore.stub import Stubber

    from chalicelib.events.dispatcher import Dispatcher, eventbridge_publisher
    from chalicelib.factory import container

    events = boto3.client("events", region_name="us-east-1")
    c = container()
    d = Dispatcher(
        c.store, c.store, c.renderer.item, allow_private=True, require_https=False,
        publish=eventbridge_publisher(events, "video-events"),
    )  # fmt: skip
    vid = make_video(client, local_env)
    with Stubber(events) as stub:
        stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{}]})
        with pytest.raises(RuntimeError, match="refused 1"):
            d.fan_out()
        assert len(c.store.outbox(10)) == 1  # still pending: nothing lost
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]},
            {
                "Entries": [
                    {
                        "EventBusName": "video-events",
                        "Source": "video-service",
                        "DetailType": "video.created",
                        "Detail": stub_any(),
                    }
                ]
            },
        )
        assert d.fan_out() == 1
    assert c.store.outbox(10) == []
    assert vid


def stub_any() -> Any:
    from botocore.stub import ANY

    return ANY
