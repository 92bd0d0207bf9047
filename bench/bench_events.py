"""`make bench-events`: the cost of the transactional outbox and the speed of delivery.

1. Event write overhead on a state change (SQLite): `transition` with its events written in the
   same transaction vs the same transition with event building switched off, interleaved in one
   run (goal: <= +10 %).
2. Dispatcher throughput to a local receiver on 127.0.0.1 (signed POSTs, keep-alive off): events/s.
3. End to end, state change -> receipt at the receiver, with `make run`'s dispatcher loop: p50/p99.
4. Fairness: the delivery lag of workspace a's fast endpoint queued just after workspace b's
   three slow ones (each answers after --slow-seconds), with a pool of one (the old sequential
   dispatcher) and with the default pool, in one run (goal: <= 1 s). Past the 10 s timeout
   (--slow-seconds 12) the slow attempts fail and come back as retries, and after 5 failures
   their circuits open: later rounds measure that backlog too, the first round the bare wait.

    .venv/bin/python bench/bench_events.py [--n 2000] [--deliveries 500] [--latency 200]
        [--rounds 5] [--slow-seconds 3] [--only fairness]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.domain import utc_now  # noqa: E402
from chalicelib.store.sqlite import SqliteVideoStore  # noqa: E402
from tests.store.conftest import make as video  # noqa: E402  (the stores' tests' item)


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def write_overhead(n: int) -> None:
    import chalicelib.store.sqlite.outbox as sqlite_module

    real = sqlite_module.for_change
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteVideoStore(Path(tmp) / "v.sqlite3")
        items = [video() for _ in range(2 * n)]
        for item in items:
            store.create(item)
        with_events, without = [], []
        for i in range(n):  # interleaved: the machine's noise hits both sides alike
            t0 = time.perf_counter()
            store.transition(items[2 * i]["id"], {"uploaded"}, "queued", {"executionName": "e"})
            with_events.append((time.perf_counter() - t0) * 1000)
            sqlite_module.for_change = lambda item, first: []  # type: ignore[assignment]
            t0 = time.perf_counter()
            store.transition(items[2 * i + 1]["id"], {"uploaded"}, "queued", {"executionName": "e"})
            without.append((time.perf_counter() - t0) * 1000)
            sqlite_module.for_change = real
        a, b = statistics.median(with_events), statistics.median(without)
        print(f"\n== 1. transition latency on SQLite, {n} each, interleaved")
        print(
            f"with its event in the same transaction: p50 {a:.3f} ms, "
            f"p99 {pct(with_events, 99):.3f} ms"
        )
        print(
            f"without events (baseline):             p50 {b:.3f} ms, p99 {pct(without, 99):.3f} ms"
        )
        print(f"overhead: {100 * (a / b - 1):+.1f} % p50 (goal <= +10 %)")


class Receiver:
    def __init__(self, delay: float = 0.0) -> None:
        self.times: dict[str, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                with receiver.lock:
                    receiver.times[self.headers["webhook-id"]] = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def delivery(n_deliveries: int, n_latency: int) -> None:
    from chalicelib.events.dispatcher import Dispatcher

    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteVideoStore(Path(tmp) / "v.sqlite3")
        store.put_webhook({"id": "bench00000000000", "workspace": "default", "enabled": True,
                           "url": f"http://127.0.0.1:{receiver.port}/h", "createdAt": utc_now(),
                           "secret": "whsec_" + "QUFB" * 8})  # fmt: skip
        d = Dispatcher(store, store, lambda item: item, allow_private=True, require_https=False)
        for _ in range(n_deliveries):
            store.create(video())
        t0 = time.perf_counter()
        while d.fan_out() + d.deliver_due():
            pass
        wall = time.perf_counter() - t0
        print(f"\n== 2. dispatcher throughput: {n_deliveries} events to one local receiver")
        print(
            f"{len(receiver.times)} delivered in {wall:.2f} s: "
            f"{len(receiver.times) / wall:.0f} events/s"
        )

        stop = threading.Event()
        threading.Thread(target=d.run, args=(stop,), daemon=True).start()
        latencies = []
        for _ in range(n_latency):
            item = video()
            store.create(item)
            events = store.outbox(1000)
            created = time.perf_counter()
            evt_id = events[-1]["id"] if events else None
            while evt_id and evt_id not in receiver.times:
                time.sleep(0.001)
            if evt_id:
                latencies.append((receiver.times[evt_id] - created) * 1000)
            time.sleep(0.01)
        stop.set()
        print(
            f"\n== 3. state change -> receipt, {len(latencies)} events, "
            "dispatcher loop (50 ms idle poll)"
        )
        print(f"p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms")
    receiver.server.shutdown()


def add_hook(store: SqliteVideoStore, workspace: str, receiver: Receiver) -> str:
    hook_id = f"{workspace}{receiver.port}".ljust(16, "0")
    store.put_webhook({"id": hook_id, "workspace": workspace, "enabled": True,
                       "url": f"http://127.0.0.1:{receiver.port}/h", "createdAt": utc_now(),
                       "secret": "whsec_" + "QUFB" * 8})  # fmt: skip
    return hook_id


def fairness(rounds: int, slow_seconds: float) -> None:
    from chalicelib.api.webhooks import WebhookService
    from chalicelib.domain.access import Principal
    from chalicelib.events.dispatcher import POOL_SIZE, Dispatcher

    print("\n== 4. fairness: workspace a's fast endpoint queued 50 ms after workspace b's three")
    print(f"slow ones (each answers after {slow_seconds:g} s), {rounds} rounds, dispatcher loop")
    slow = [Receiver(slow_seconds) for _ in range(3)]
    fast = Receiver()
    for pool_size, label in ((1, "pool of 1 (the old sequential dispatcher)"),
                             (POOL_SIZE, f"pool of {POOL_SIZE} (now)")):  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteVideoStore(Path(tmp) / "v.sqlite3")
            service = WebhookService(store, allow_private=True, require_https=False)
            slow_hooks = [add_hook(store, "b", r) for r in slow]
            fast_hook = add_hook(store, "a", fast)
            d = Dispatcher(store, store, lambda item: item, allow_private=True,
                           require_https=False, pool_size=pool_size)  # fmt: skip
            stop = threading.Event()
            loop = threading.Thread(target=d.run, args=(stop,), daemon=True)
            loop.start()
            lags = []
            for n in range(1, rounds + 1):
                for hook_id in slow_hooks:
                    service.test(hook_id, Principal("bench", "b", "admin"))
                time.sleep(0.05)
                queued = time.perf_counter()
                event_id = service.test(fast_hook, Principal("bench", "a", "admin"))["eventId"]
                deadline = time.monotonic() + 4 * slow_seconds + 30
                while event_id not in fast.times and time.monotonic() < deadline:
                    time.sleep(0.001)
                lags.append((fast.times.get(event_id, float("nan")) - queued) * 1000)
                while any(len(r.times) < n for r in slow) and time.monotonic() < deadline:
                    time.sleep(0.01)  # b's deliveries finish before the next round
            stop.set()
            loop.join()
        rounds_ms = ", ".join(f"{lag:.0f}" for lag in lags)
        print(f"{label:42s} lag p50 {pct(lags, 50):6.0f} ms, max {max(lags):6.0f} ms")
        print(f"{'':42s} per round: {rounds_ms} ms")
    for r in [*slow, fast]:
        r.server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument("--only", choices=["overhead", "delivery", "fairness"])
    args = parser.parse_args()
    if args.only in (None, "overhead"):
        write_overhead(args.n)
    if args.only in (None, "delivery"):
        delivery(args.deliveries, args.latency)
    if args.only in (None, "fairness"):
        fairness(args.rounds, args.slow_seconds)


if __name__ == "__main__":
    main()
