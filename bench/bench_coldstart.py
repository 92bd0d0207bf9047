"""Cold start: what the first video of a new environment costs over a warm one (`make
bench-coldstart`).

The product as users run it: `python -m devserver` on a fresh data dir, videos posted and
processed through the HTTP API one after another, CPU counted over the server's whole process
tree (the server, the pool's worker processes, their ffmpeg children, exited ones included:
utime + stime + cutime + cstime of every live descendant, from /proc). Each video's CPU is the
tree's CPU from its `POST /videos` until the pool has settled after it (scaled to zero with a
cold pool; a short pause with a warm one).

Two servers, one after the other, on the same 20 s 1080p slide talk with speech:
- `cold`: `VIDEO_POOL_IDLE_SECONDS=0`, every batch scales the pool from zero (AWS today: the
  scaler scales to zero after each batch);
- `warm`: the default idle period: the first video starts the pool, the later ones find it up.
Before each video the bare ladder (bench_cost's baseline: one decode, three x264 rungs, MP4 +
HLS) runs on the same clip, so each ratio is against a baseline measured moments before.
The packaged Whisper model is joined into the data dir before the server starts (a
once-per-installation cost, not a per-environment one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_cost import run_baseline  # noqa: E402
from cost_clips import make_talk  # noqa: E402

from chalicelib.media.ffmpeg import ffmpeg_exe  # noqa: E402
from chalicelib.media.probe import probe  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
GOAL_RATIO = 1.6
GOAL_FIRST_EXTRA_CPU_S = 3.0


def tree_cpu(root: int) -> float:
    """CPU seconds of `root` and every descendant, exited ones included (a process's cutime
    and cstime hold its reaped children's, so nothing is counted twice)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        pid = int(entry)
        parents[pid] = int(fields[1])
        times[pid] = sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(p for p, pp in parents.items() if pp == pid)
    return total


def tree_size(root: int) -> int:
    """Live descendants of `root` (worker processes, ffmpeg)."""
    count, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            kids = []
        count += len(kids)
        todo.extend(int(k) for k in kids)
    return count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python -m devserver` on its own data dir."""

    def __init__(self, base: Path, idle_seconds: float | None) -> None:
        self.data = base / "data"
        self.inbox = self.data / "inbox"
        self.inbox.mkdir(parents=True, exist_ok=True)
        from chalicelib.media.whisper_model import resolve_whisper_model

        resolve_whisper_model("", self.data)  # joining the packaged model: once per install
        self.port = free_port()
        env = {**os.environ, "VIDEO_DATA_DIR": str(self.data), "PORT": str(self.port)}
        env.pop("VIDEO_BACKEND", None)
        if idle_seconds is not None:
            env["VIDEO_POOL_IDLE_SECONDS"] = str(idle_seconds)
        self.log = open(base / "server.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devserver", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.call("GET", "/health", auth=False)
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"server did not start; see {base / 'server.log'}")
                time.sleep(0.2)
        self.token = (self.data / "admin-token").read_text().strip()

    def call(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def process(self, clip: Path, n: int, cold_pool: bool) -> dict[str, Any]:
        """One video through the API; CPU of the tree from submit until the pool settled."""
        name = f"talk{n}.mp4"
        shutil.copyfile(clip, self.inbox / name)
        pid = self.proc.pid
        cpu0, wall0 = tree_cpu(pid), time.monotonic()
        item = self.call(
            "POST", "/videos", {"title": f"talk {n}", "sourceUrl": (self.inbox / name).as_uri()}
        )
        self.call("POST", f"/videos/{item['id']}/process")
        while True:
            time.sleep(0.5)
            item = self.call("GET", f"/videos/{item['id']}")
            if item["status"] in ("completed", "failed"):
                break
        wall = time.monotonic() - wall0
        # Settle: a cold pool until its environments have exited, a warm one a moment.
        deadline = time.monotonic() + 30
        while cold_pool and tree_size(pid) > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        cpu = tree_cpu(pid) - cpu0
        cost = item.get("cost") or {}
        return {
            "status": item["status"],
            "error": item.get("error"),
            "cpu": round(cpu, 2),
            "wall": round(wall, 2),
            "processorCpu": cost.get("cpuSeconds"),
            "environmentSeconds": cost.get("environmentSeconds"),
            "capacitySeconds": cost.get("capacitySeconds"),
            "words": (item.get("subtitles") or {}).get("wordCount"),
        }

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def series(
    exe: str, base: Path, clip: Path, info: Any, mode: str, videos: int
) -> list[dict[str, Any]]:
    idle = 0.0 if mode == "cold" else None  # None: the server's default idle period
    server = Server(base / mode, idle)
    rows = []
    try:
        time.sleep(2)  # let the server finish starting before counting
        for n in range(1, videos + 1):
            _, ladder = run_baseline(exe, clip, info, base / "bare")
            row = server.process(clip, n, cold_pool=mode == "cold")
            row["ladder"] = round(ladder, 2)
            row["ratio"] = round(row["cpu"] / ladder, 3)
            rows.append(row)
            print(f"  {mode} video {n}: {row}", flush=True)
    finally:
        server.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--modes", default="cold,warm", help="cold, warm or both")
    args = parser.parse_args()
    exe = ffmpeg_exe()
    base = Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    try:
        print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout}")
        clip = make_talk(exe, base / "talk.mp4", args.seconds)
        info = probe(clip, max_duration=3600, exe=exe)
        figures: dict[str, Any] = {"seconds": args.seconds}
        for mode in [m for m in args.modes.split(",") if m]:
            figures[mode] = series(exe, base, clip, info, mode, args.videos)
        print(f"\n{args.seconds} s 1080p slide talk with speech, CPU s of the server's process "
              "tree per video vs the bare ladder on the same clip just before it:\n")  # fmt: skip
        print("| pool | video | tree CPU s | ladder CPU s | ratio | wall s |")
        print("|---|---|---|---|---|---|")
        for mode in ("cold", "warm"):
            for i, r in enumerate(figures.get(mode, []), 1):
                print(f"| {mode} | {i} | {r['cpu']:.1f} | {r['ladder']:.1f} | "
                      f"x{r['ratio']:.2f} | {r['wall']:.1f} |")  # fmt: skip
        warm = figures.get("warm") or []
        if len(warm) > 1:
            later = min(r["cpu"] for r in warm[1:])
            extra = warm[0]["cpu"] - later
            figures["firstExtraCpu"] = round(extra, 2)
            print(f"\nfirst job of a new environment: +{extra:.1f} CPU-s over a warm one "
                  f"(goal <= {GOAL_FIRST_EXTRA_CPU_S})")  # fmt: skip
        cold = figures.get("cold") or []
        if cold:
            worst = max(r["ratio"] for r in cold)
            print(f"cold pool, worst ratio x{worst:.2f} (goal <= {GOAL_RATIO})")
        print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout}")
        print(json.dumps(figures))
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
