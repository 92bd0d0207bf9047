"""Load benchmark of `make run`'s server: the real devserver/ in a subprocess, over HTTP.

Phases, each at 1, 8, 32 and 128 concurrent clients (`--clients`), for `--seconds` each:

- api: a mixed workload, 20% POST /videos, 40% GET /videos/{id}, 30% GET /videos?limit=20,
  10% GET /health (every answer's status is checked, and a create's echoed title);
- segments: GET of HLS-sized media files (`--segment-kib`), one in four a Range request;

then `--downloads` concurrent downloads of one large file (`--large-mib`, created sparse).
Each line reports requests/s, p50/p99 latency (and p99 per kind of request), errors (anything
but the expected answer, a reset or a 10 s timeout: must be 0) and the server's peak resident
memory during the phase (VmRSS sampled every 20 ms from /proc), and the CPU the server and the
clients used (100% = one core); the downloads report the growth over the idle server.

Clients are threads with one keep-alive `http.client` connection each (stdlib, no dependency:
exactly one connection per client and nothing pooled or pipelined behind our back). They share
the machine's cores, and the GIL of this process, with the server: figures are a lower bound of
what the server does, and comparable between phases and servers of the same run.

`--baseline` runs the api and segments phases, and one download of the large file, against
chalice's own dev server (`chalice local`'s LocalDevServer, same app) in the same run.

    .venv/bin/python bench/bench_load.py [--seconds 4] [--clients 1,8,32,128] [--baseline]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, wait_for_port  # noqa: E402

VIDEO_ID, RUN_ID = "B" * 22, "20260101T000000Z-abcdef01"
SEGMENTS = 40
CLIENT_TIMEOUT = 10.0  # a request not answered by then counts as an error
BENCH_TOKEN = "bench-operator-token-0123456789abcdef"
SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {BENCH_TOKEN}"}
JSON = {"Content-Type": "application/json", "Accept": "*/*", **AUTH}


def signed(path: str) -> str:
    """A media path signed as rendered items carry it (the server shares the secret)."""
    from chalicelib.api.signing import UrlSigner

    return UrlSigner(SIGNING_SECRET.encode(), 3600).sign(path, path)


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    return 0


class MemorySampler:
    """The server's peak VmRSS while the block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib(self.pid))


@dataclass
class Server:
    name: str
    port: int
    pid: int
    data: Path
    source: Path


@contextmanager
def start(name: str, data: Path, stock: bool) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "VIDEO_DATA_DIR": str(data),
        "VIDEO_BACKEND": "local",
        "VIDEO_ADMIN_TOKEN": BENCH_TOKEN,
        "VIDEO_SIGNING_SECRET": SIGNING_SECRET,
        "VIDEO_RATE_LIMIT_PER_SECOND": "0",  # measure the server, not the per-token limiter
    }
    env.pop("VIDEO_SOURCE_ROOTS", None)
    env.pop("VIDEO_PUBLIC_URL", None)
    if stock:
        cmd = [sys.executable, __file__, "--serve-stock", str(port)]
    else:
        cmd = [sys.executable, str(ROOT / "devserver"), "--port", str(port), "--quiet"]
        cmd += ["--max-streams-per-token", "64"]  # the open-streams case holds 50
    log = (data / "server.log").open("ab")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        source = data / "inbox" / "clip.mp4"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(b"bench")
        yield Server(name, port, proc.pid, data, source)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def serve_stock(port: int) -> None:
    """chalice local's own server around the same app (the --baseline)."""
    os.environ.setdefault("VIDEO_PUBLIC_URL", f"http://127.0.0.1:{port}")
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from app import app
    from chalicelib.factory import container

    container().settings.source_roots[0].mkdir(parents=True, exist_ok=True)
    config = Config.create(chalice_stage="local", app_name=app.app_name, chalice_app=app)
    LocalDevServer(app, config, "127.0.0.1", port).serve_forever()


# --- the client side ---------------------------------------------------------------------------
# One request: (answer as expected?, what kind of request it was).
Step = Callable[[http.client.HTTPConnection, random.Random], tuple[bool, str]]


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    bytes: int = 0


def run_clients(server: Server, clients: int, seconds: float, step: Step) -> tuple[Result, float]:
    """`clients` threads, each on its own keep-alive connection, doing `step` until the time is
    up. A step returns False for a wrong answer; an exception (reset, timeout) is an error too,
    and the client reconnects."""
    results = [Result() for _ in range(clients)]
    start_line = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(k: int) -> None:
        rng = random.Random(k)
        result = results[k]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=CLIENT_TIMEOUT)
        start_line.wait()
        while time.perf_counter() < deadline[0]:
            t0 = time.perf_counter()
            try:
                ok, kind = step(conn, rng)
            except (OSError, http.client.HTTPException):
                ok, kind = False, "failed"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=CLIENT_TIMEOUT)
            took = time.perf_counter() - t0
            result.latencies.append(took)
            result.by_kind.setdefault(kind, []).append(took)
            result.errors += not ok
        conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start_line.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    merged = Result()
    for r in results:
        merged.latencies += r.latencies
        merged.errors += r.errors
        for kind, samples in r.by_kind.items():
            merged.by_kind.setdefault(kind, []).extend(samples)
    return merged, elapsed


def api_step(server: Server, ids: list[str]) -> Step:
    counter = iter(range(10**9))
    source = f"file://{server.source}"

    def step(conn: http.client.HTTPConnection, rng: random.Random) -> tuple[bool, str]:
        roll = rng.random()
        if roll < 0.2:
            title = f"bench-{next(counter)}"
            body = json.dumps({"title": title, "sourceUrl": source})
            conn.request("POST", "/videos", body=body, headers=JSON)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status == 201 and json.loads(data)["title"] == title, "create"
        if roll < 0.6:
            kind, path = "get", f"/videos/{rng.choice(ids)}"
        elif roll < 0.9:
            kind, path = "list", "/videos?limit=20"
        else:
            kind, path = "health", "/health"
        conn.request("GET", path, headers={"Accept": "*/*", **AUTH})
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200, kind

    return step


def segment_step(segment_bytes: int) -> Step:
    def step(conn: http.client.HTTPConnection, rng: random.Random) -> tuple[bool, str]:
        name = f"hls_720p_{rng.randrange(SEGMENTS):05d}.ts"
        headers = {"Accept": "*/*"}
        ranged = rng.random() < 0.25
        if ranged:
            headers["Range"] = "bytes=0-65535"
        conn.request("GET", signed(f"/media/{VIDEO_ID}/{RUN_ID}/{name}"), headers=headers)
        resp = conn.getresponse()
        got = len(resp.read())
        if ranged:  # chalice's own server ignores Range: a 200 of the whole file is its answer
            return resp.status in (200, 206) and got in (65536, segment_bytes), "range"
        return resp.status == 200 and got == segment_bytes, "whole"

    return step


def prepare(server: Server, segment_bytes: int, large_bytes: int) -> list[str]:
    folder = server.data / "media" / "videos" / VIDEO_ID / RUN_ID
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    for i in range(SEGMENTS):
        (folder / f"hls_720p_{i:05d}.ts").write_bytes(rng.randbytes(segment_bytes))
    with (folder / "video_1080p.mp4").open("wb") as f:
        f.truncate(large_bytes)  # sparse: the page cache serves zeros, the disk holds nothing
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    ids = []
    for i in range(200):
        body = json.dumps({"title": f"seed-{i}", "sourceUrl": f"file://{server.source}"})
        conn.request("POST", "/videos", body=body, headers=JSON)
        resp = conn.getresponse()
        ids.append(json.loads(resp.read())["id"])
    conn.close()
    return ids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(
    server: Server,
    phase: str,
    clients: int,
    result: Result,
    elapsed: float,
    peak: int,
    cpu: tuple[float, float],
):
    n = len(result.latencies)
    print(
        f"{server.name:<7}{phase:<10}{clients:>8}{n / elapsed:>10.0f}"
        f"{pct(result.latencies, 50) * 1000:>9.1f}{pct(result.latencies, 99) * 1000:>9.1f}"
        f"{result.errors:>8}{peak / 1024:>10.0f}"
        f"{cpu[0] / elapsed * 100:>8.0f}%{cpu[1] / elapsed * 100:>8.0f}%   "
        + " ".join(
            f"{kind} {pct(samples, 99) * 1000:.0f}"
            for kind, samples in sorted(result.by_kind.items())
        ),
        flush=True,
    )


def downloads(server: Server, count: int, large_bytes: int) -> None:
    path = f"/media/{VIDEO_ID}/{RUN_ID}/video_1080p.mp4"
    idle = rss_kib(server.pid)
    barrier = threading.Barrier(count)
    got = [0] * count
    errors = [0]

    def download(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        barrier.wait()
        try:
            conn.request("GET", signed(path), headers={"Accept": "*/*"})
            resp = conn.getresponse()
            while chunk := resp.read(1024 * 1024):
                got[k] += len(chunk)
            errors[0] += resp.status != 200 or got[k] != large_bytes
        except (OSError, http.client.HTTPException):
            errors[0] += 1
        finally:
            conn.close()

    with MemorySampler(server.pid) as memory:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=download, args=(k,)) for k in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    growth = (memory.peak - idle) / 1024
    print(
        f"{server.name:<7}{count} x {large_bytes // 2**20} MiB downloads: "
        f"{sum(got) / elapsed / 2**20:.0f} MiB/s total, errors {errors[0]}, server RSS "
        f"idle {idle / 1024:.0f} MiB, peak {memory.peak / 1024:.0f} MiB, "
        f"growth {growth:.0f} MiB (goal < 50)",
        flush=True,
    )


def bench(name: str, stock: bool, args: argparse.Namespace, clients: list[int], count: int):
    data = Path(tempfile.mkdtemp(prefix=f"bench-load-{name}-"))
    segment_bytes = args.segment_kib * 1024
    large_bytes = args.large_mib * 2**20
    try:
        with start(name, data, stock) as server:
            ids = prepare(server, segment_bytes, large_bytes)
            phases = [("api", api_step(server, ids)), ("segments", segment_step(segment_bytes))]
            for phase, step in phases:
                for n in clients:
                    server_cpu, client_cpu = cpu_seconds(server.pid), cpu_seconds(os.getpid())
                    with MemorySampler(server.pid) as memory:
                        result, elapsed = run_clients(server, n, args.seconds, step)
                    cpu = (
                        cpu_seconds(server.pid) - server_cpu,
                        cpu_seconds(os.getpid()) - client_cpu,
                    )
                    report(server, phase, n, result, elapsed, memory.peak, cpu)
            downloads(server, count, large_bytes)
            if not stock:  # chalice's own server holds a thread per stream the whole wait
                open_streams_case(server, ids, args.streams)
            print(
                f"{server.name:<7}server peak RSS over the whole run (VmHWM): "
                f"{rss_kib(server.pid, 'VmHWM') / 1024:.0f} MiB",
                flush=True,
            )
    finally:
        shutil.rmtree(data, ignore_errors=True)


def probe_latencies(server: Server, paths: list[str], rounds: int) -> list[float]:
    """Milliseconds per request, one keep-alive client asking `paths` in turn."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    samples = []
    for i in range(rounds):
        began = time.perf_counter()
        conn.request("GET", paths[i % len(paths)], headers=AUTH)
        resp = conn.getresponse()
        resp.read()
        samples.append((time.perf_counter() - began) * 1000)
        if resp.status != 200:
            raise RuntimeError(f"{paths[i % len(paths)]}: {resp.status}")
    conn.close()
    return samples


def open_streams_case(server: Server, ids: list[str], streams: int, rounds: int = 200) -> None:
    """/health and an authenticated read with no streams open, then with `streams` event
    streams waiting (`?wait=25` with a current Last-Event-ID): p50/p99 of each, one run."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("GET", f"/videos/{ids[0]}/events?wait=0", headers=AUTH)
    body = conn.getresponse().read().decode()
    conn.close()
    [event_id] = [line[4:] for line in body.splitlines() if line.startswith("id: ")]
    kinds = {"/health": ["/health"], "read": [f"/videos/{i}" for i in ids[:50]]}
    for paths in kinds.values():  # warm: first requests pay imports and caches
        probe_latencies(server, paths, 20)
    before = {k: probe_latencies(server, p, rounds) for k, p in kinds.items()}
    statuses: list[int] = []

    def stream() -> None:
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        c.request(
            "GET", f"/videos/{ids[0]}/events?wait=25", headers={**AUTH, "Last-Event-ID": event_id}
        )
        resp = c.getresponse()
        resp.read()
        statuses.append(resp.status)
        c.close()

    threads = [threading.Thread(target=stream, daemon=True) for _ in range(streams)]
    for t in threads:
        t.start()
    time.sleep(1.5)  # every stream is waiting by now
    with_streams = {k: probe_latencies(server, p, rounds) for k, p in kinds.items()}
    still_open = sum(t.is_alive() for t in threads)
    for kind in kinds:
        b, w = before[kind], with_streams[kind]
        print(
            f"{server.name:<7}{kind:<8} no streams p50 {pct(b, 50):6.1f} p99 {pct(b, 99):6.1f} ms"
            f" | {streams} open streams p50 {pct(w, 50):6.1f} p99 {pct(w, 99):6.1f} ms "
            f"(max {max(w):.1f})",
            flush=True,
        )
    print(f"{server.name:<7}streams still open after the probes: {still_open}/{streams}")
    for t in threads:
        t.join(40)
    print(f"{server.name:<7}stream answers: {sorted(set(statuses))} x{len(statuses)}")


def streams_only(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="bench-load-streams-"))
    try:
        with start("local", data, False) as server:
            ids = prepare(server, 1024, 1024)
            open_streams_case(server, ids, args.streams)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", default="1,8,32,128")
    parser.add_argument("--segment-kib", type=int, default=512)
    parser.add_argument("--large-mib", type=int, default=300)
    parser.add_argument("--downloads", type=int, default=8)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--streams", type=int, default=50, help="event streams held open")
    parser.add_argument(
        "--streams-only", action="store_true", help="only the open-streams case (local server)"
    )
    parser.add_argument("--serve-stock", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stock:
        serve_stock(args.serve_stock)
        return
    if args.streams_only:
        streams_only(args)
        return
    clients = [int(c) for c in args.clients.split(",")]
    print(
        f"== load on the local server: {args.seconds:g} s per level, keep-alive clients "
        f"(threads + http.client), {os.cpu_count()} CPUs shared with the clients"
    )
    print(
        f"{'server':<7}{'phase':<10}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'peak MiB':>10}{'srv cpu':>9}{'cli cpu':>9}   p99 ms by kind"
    )
    bench("local", False, args, clients, args.downloads)
    if args.baseline:
        # chalice's own server holds each download whole in memory: one viewer only.
        bench("stock", True, args, clients, 1)


if __name__ == "__main__":
    main()
