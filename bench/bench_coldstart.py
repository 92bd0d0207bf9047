"""Cold start: what the first video of a new environment costs over a warm one (`make
bench-coldstart`).

The product as users run it: `python -m devserver` on a fresh data dir, videos posted and
processed through the HTTP API one after another, CPU counted over the server's whole process
tree (the server, the pool's worker processes, their ffmpeg children, exited ones included:
utime + stime + cutime + cstime of every live descendant, from /proc). Each video's CPU is the
tree's CPU from its `POST /videos` until the pool has settled after it (scaled to zero with a
cold pool; a short pause with a warm one).

1. Fixed cost: a 4 s 360p talk with speech (little work, so the fixed part shows), N videos
   through a server with a cold pool (`VIDEO_POOL_IDLE_SECONDS=0`: every batch scales the pool
   from zero, as AWS does after each batch), then N through a server keeping its environments
   warm (the default idle period): first job of a new environment vs the later ones.
2. The 20 s 1080p slide talk with speech, cold pool, N videos in a row; before each, the bare
   ladder (bench_cost's baseline: one decode, three x264 rungs, MP4 + HLS) on the same clip, so
   each ratio is against a baseline measured moments before. From the cost blocks: the
   capacity a one-video batch pays beyond its busy time, and the batch size from which that
   fixed part is at most 10 % of the bill.
The packaged Whisper model is joined into the data dir before the server starts (a
once-per-installation cost, not a per-environment one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import statistics
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
SCALE_MIN = 2  # the server's default VIDEO_SCALE_MIN


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


def own_cpu(pid: int) -> float:
    """CPU seconds of `pid` alone (its threads; not its children)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return sum(int(f) for f in fields[11:13]) / TICK


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
                    raise RuntimeError(f"server did not start; see {base}/server.log") from None
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
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read() or b"null")

    def process(self, clip: Path, n: int, cold_pool: bool) -> dict[str, Any]:
        """One video through the API; CPU of the tree from submit until the pool settled."""
        name = f"talk{n}.mp4"
        shutil.copyfile(clip, self.inbox / name)
        pid = self.proc.pid
        cpu0, own0, wall0 = tree_cpu(pid), own_cpu(pid), time.monotonic()
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
        cpu, own = tree_cpu(pid) - cpu0, own_cpu(pid) - own0
        # the batch's capacity is charged just before its scale-down, a moment after `completed`
        deadline = time.monotonic() + 30
        while item["status"] == "completed" and time.monotonic() < deadline:
            if (item.get("cost") or {}).get("capacitySeconds") is not None:
                break
            time.sleep(0.5)
            item = self.call("GET", f"/videos/{item['id']}")
        cost = item.get("cost") or {}
        return {
            "status": item["status"],
            "error": item.get("error"),
            "cpu": round(cpu, 2),
            "wall": round(wall, 2),
            "serverCpu": round(own, 2),  # the API server itself, not its environments
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
    exe: str, base: Path, clip: Path, info: Any, mode: str, videos: int, ladder: bool
) -> list[dict[str, Any]]:
    """`videos` runs of `clip` through one server: each its own batch, with a cold pool
    (`VIDEO_POOL_IDLE_SECONDS=0`) or the default idle period; the bare ladder before each."""
    idle = 0.0 if mode == "cold" else None  # None: the server's default idle period
    server = Server(base / f"{mode}-{clip.stem}", idle)
    rows = []
    try:
        time.sleep(2)  # let the server finish starting before counting
        for n in range(1, videos + 1):
            row = {}
            if ladder:
                row["ladder"] = round(run_baseline(exe, clip, info, base / "bare")[1], 2)
            row.update(server.process(clip, n, cold_pool=mode == "cold"))
            if ladder:
                row["ratio"] = round(row["cpu"] / row["ladder"], 3)
            rows.append(row)
            print(f"  {clip.stem} {mode} video {n}: {row}", flush=True)
    finally:
        server.close()
    return rows


def uptime() -> str:
    return subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()


def fixed_cost(exe: str, base: Path, videos: int) -> dict[str, Any]:
    """Section 1: a 4 s 360p talk (little work, so the fixed part shows): each video from a
    cold pool vs the same server keeping its environment warm."""
    clip = make_talk(exe, base / "small.mp4", 4, (640, 360))
    info = probe(clip, max_duration=3600, exe=exe)
    cold = series(exe, base, clip, info, "cold", videos, ladder=False)
    warm = series(exe, base, clip, info, "warm", videos, ladder=False)
    later = statistics.median(r["cpu"] for r in warm[1:]) if len(warm) > 1 else float("nan")
    out = {
        "cold": cold,
        "warm": warm,
        "coldMedian": round(statistics.median(r["cpu"] for r in cold), 2),
        "warmFirst": warm[0]["cpu"],
        "warmLaterMedian": round(later, 2),
    }
    out["coldExtra"] = round(out["coldMedian"] - later, 2)
    out["firstExtra"] = round(warm[0]["cpu"] - later, 2)
    # the environments' part: the tree without the API server's own CPU (whose first execution
    # also imports the local workflow engine, once per server, not per environment)
    envs = [r["cpu"] - r["serverCpu"] for r in warm]
    later_envs = statistics.median(envs[1:]) if len(envs) > 1 else float("nan")
    out["firstExtraEnvironment"] = round(envs[0] - later_envs, 2)
    out["coldExtraEnvironment"] = round(
        statistics.median(r["cpu"] - r["serverCpu"] for r in cold) - later_envs, 2
    )
    print("\n(1) fixed cost, 4 s 360p talk with speech, CPU s of the server's process tree:")
    print(f"    cold pool (every video starts the pool): median {out['coldMedian']:.2f}")
    print(f"    warm pool: first {out['warmFirst']:.2f}, later median {later:.2f}")
    print(f"    a cold pool costs +{out['coldExtra']:.2f} CPU-s per video; the first video of a "
          f"new server +{out['firstExtra']:.2f}")  # fmt: skip
    print(f"    without the API server's own CPU: a cold pool +{out['coldExtraEnvironment']:.2f}, "
          f"the first job of a new environment +{out['firstExtraEnvironment']:.2f} "
          f"(goal <= {GOAL_FIRST_EXTRA_CPU_S})")  # fmt: skip
    return out


def talk_vs_ladder(
    exe: str, base: Path, seconds: int, videos: int, pool: str = "cold"
) -> dict[str, Any]:
    """Section 2: the 20 s 1080p slide talk, cold pool, three videos in a row, each against
    the bare ladder on the same clip just before it; and what the batch's capacity cost."""
    clip = make_talk(exe, base / "talk.mp4", seconds)
    info = probe(clip, max_duration=3600, exe=exe)
    rows = series(exe, base, clip, info, pool, videos, ladder=True)
    print(f"\n(2) {seconds} s 1080p slide talk with speech, {pool} pool, CPU s of the server's "
          "process tree per video vs the bare ladder on the clip just before it:\n")  # fmt: skip
    print("| video | tree CPU s | ladder CPU s | ratio | wall s | busy env-s | capacity env-s |")
    print("|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        print(f"| {i} | {r['cpu']:.1f} | {r['ladder']:.1f} | x{r['ratio']:.2f} | {r['wall']:.1f} "
              f"| {r['environmentSeconds']} | {r['capacitySeconds']} |")  # fmt: skip
    worst = max(r["ratio"] for r in rows)
    print(f"    worst ratio x{worst:.2f} (goal <= {GOAL_RATIO})")
    out: dict[str, Any] = {"rows": rows, "worstRatio": worst}
    charged = [r for r in rows if r.get("capacitySeconds") is not None]
    if charged:
        busy = statistics.median(float(r["environmentSeconds"]) for r in charged)
        fixed = statistics.median(
            float(r["capacitySeconds"]) - float(r["environmentSeconds"]) for r in charged
        )
        # of it: the second environment's idle window (as long as the busy time, since a lone
        # video keeps one of SCALE_MIN environments busy) and, what stays with any batch size,
        # the start-ups and waits: capacity - SCALE_MIN x busy
        startup = statistics.median(
            float(r["capacitySeconds"]) - SCALE_MIN * float(r["environmentSeconds"])
            for r in charged
        )
        out.update({"busyPerVideo": round(busy, 1), "fixedPerBatch": round(fixed, 1),
                    "startupAndWaitsPerBatch": round(startup, 1)})  # fmt: skip
        print(f"    capacity of a one-video batch: busy {busy:.1f} env-s + {fixed:.1f} env-s more: "
              f"the second environment's idle window and {startup:.1f} env-s of start-ups and "
              f"waits, which every batch pays (< 10 % of the bill from "
              f"{max(1, math.ceil(9 * startup / busy))} such video(s) per batch once both "
              "environments work)")  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--sections", default="fixed,talk")
    parser.add_argument("--talk-pool", default="cold", choices=("cold", "warm"))
    args = parser.parse_args()
    exe = ffmpeg_exe()
    base = Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    sections = args.sections.split(",")
    try:
        figures: dict[str, Any] = {"uptimeBefore": uptime()}
        print(figures["uptimeBefore"], flush=True)
        if "fixed" in sections:
            figures["fixed"] = fixed_cost(exe, base, args.videos)
        if "talk" in sections:
            figures["talk"] = talk_vs_ladder(exe, base, args.seconds, args.videos, args.talk_pool)
        figures["uptimeAfter"] = uptime()
        print(figures["uptimeAfter"])
        print(json.dumps(figures))
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
