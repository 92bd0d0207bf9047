"""Segmented (chunked) processing vs the one-pass pipeline (`make bench-chunked`).

On a generated 1080p30 clip with motion and speech (default 120 s, segments of 20 s), in one run:
 1. equivalence of the chunked renditions with the one-pass ladder: frame count per rendition,
    duration within one frame, A/V offset at each segment boundary <= one frame, SSIM of each
    rendition vs the one-pass one >= 0.98, total bytes <= +5 %;
 2. scaling: 2 local environments x 1 thread vs 1 x 1, wall time (goal >= 1.8x faster);
 3. total CPU of the chunked run vs the one-pass run (goal <= 1.10x);
 4. a model from the measured per-segment times: wall time of a 60-minute 1080p video at 1, 5
    and 20 environments of the measured size (goal >= 15x realtime at 20).

Each side runs the product's own code: `processing.one_pass.run_processing` for the one-pass
pipeline, and `processing.segmented` prepare / run_job / assemble (what the processor's actions
call) for the chunked one, with every job in a worker process pinned to its CPUs as the local
pool pins its environments. CPU is measured inside each worker (its own and its ffmpeg children's).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.config import Settings  # noqa: E402
from chalicelib.media.ffmpeg import ffmpeg_exe  # noqa: E402

SPEECH = ROOT / "tests" / "media" / "fixtures" / "speech_en.opus"
VIDEO_ID = "BenchChunked000000000_"
BENCH_TOKEN = "bench-operator-token-0123456789abcdef"


def make_clip(exe: str, out: Path, seconds: int) -> None:
    """1080p30: moving test pattern, then a zooming fractal, film grain; speech on a loop."""
    half = seconds // 2
    subprocess.run(
        [
            exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={half}",
            "-f", "lavfi", "-i", f"mandelbrot=s=1920x1080:r=30,trim=duration={seconds - half}",
            "-stream_loop", "-1", "-i", str(SPEECH),
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1:a=0,noise=alls=4:allf=t[v];"
            f"[2:a]apad,atrim=duration={seconds}[a]",
            "-map", "[v]", "-map", "[a]", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", str(out),
        ],
        check=True,
    )  # fmt: skip


# --- work that runs in worker processes ----------------------------------------------------------


def _pin(cpus: tuple[int, ...]) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


def _cpu() -> float:
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float, tuple[float, float]]:
    """(result, CPU seconds, wall seconds, (start, end)) of fn(*args) in this process and its
    children; start and end on the machine's monotonic clock (shared by every process)."""
    c0, t0 = _cpu(), time.monotonic()
    result = fn(*args)
    t1 = time.monotonic()
    return result, _cpu() - c0, t1 - t0, (t0, t1)


def one_pass(settings: Settings, uri: str) -> Any:
    from chalicelib.media_store.local import LocalMediaStore
    from chalicelib.processing.one_pass import run_processing

    store = LocalMediaStore(settings.media_dir)
    return measured(run_processing, VIDEO_ID, uri, settings, store, lambda p: None)


def chunk_prepare(settings: Settings, run_id: str, uri: str) -> Any:
    from chalicelib.media_store.scratch import LocalScratchStore
    from chalicelib.processing import segmented

    scratch = LocalScratchStore(settings.data_dir / "work" / "scratch")
    return measured(segmented.prepare, VIDEO_ID, run_id, uri, settings, scratch)


def chunk_job(settings: Settings, run_id: str, job: int) -> Any:
    from chalicelib.media_store.scratch import LocalScratchStore
    from chalicelib.processing import segmented

    scratch = LocalScratchStore(settings.data_dir / "work" / "scratch")
    return measured(segmented.run_job, VIDEO_ID, run_id, job, settings, scratch)


def chunk_assemble(settings: Settings, run_id: str) -> Any:
    from chalicelib.media_store.local import LocalMediaStore
    from chalicelib.media_store.scratch import LocalScratchStore
    from chalicelib.processing import segmented

    scratch = LocalScratchStore(settings.data_dir / "work" / "scratch")
    store = LocalMediaStore(settings.media_dir)
    return measured(segmented.assemble, VIDEO_ID, run_id, settings, scratch, store)


# --- the runs ------------------------------------------------------------------------------------


def run_one_pass(settings: Settings, uri: str) -> dict[str, Any]:
    with ProcessPoolExecutor(1) as pool:
        result, cpu, wall, _ = pool.submit(one_pass, settings, uri).result()
    return {"result": result, "cpu": cpu, "wall": wall}


def _warm() -> None:
    """Start a worker and import what a job imports (a warm environment, as the pool keeps)."""
    from chalicelib.processing import one_pass, segmented  # noqa: F401


def run_chunked(settings: Settings, uri: str, envs: int, threads: int) -> dict[str, Any]:
    """Plan, then every job on `envs` pinned workers (a job waits for a free one, as a throttled
    Map item retries), then assembly: the workflow's order, without the engine around it."""
    from chalicelib.processing.one_pass import new_run_id

    machine = sorted(os.sched_getaffinity(0))
    cpu_sets = [
        tuple(sorted({machine[(e * threads + j) % len(machine)] for j in range(threads)}))
        for e in range(envs)
    ]
    pools = [ProcessPoolExecutor(1, initializer=_pin, initargs=(c,)) for c in cpu_sets]
    for p in pools:  # warm environments (the pool keeps its workers): start-up is not timed
        p.submit(_warm).result()
    run_id = new_run_id()
    started = time.monotonic()
    timeline: list[dict[str, Any]] = []

    def mark(what: str, env: int, submitted: float, span: tuple[float, float], cpu: float) -> None:
        timeline.append({"what": what, "env": env, "submit": round(submitted - started, 3),
                         "start": round(span[0] - started, 3), "end": round(span[1] - started, 3),
                         "cpu": round(cpu, 3)})  # fmt: skip

    try:
        t = time.monotonic()
        prepared, cpu, plan_wall, span = (
            pools[0].submit(chunk_prepare, settings, run_id, uri).result()
        )
        mark("plan", 0, t, span, cpu)
        planned = prepared.planned
        assert planned is not None, "the clip should be longer than one segment"
        # The workflow's Map order: the jobs in the order the plan lists them.
        jobs: list[int] = list(planned["jobs"])
        running: dict[int, tuple[int, float, Future[Any]]] = {}
        times: dict[int, float] = {}
        while jobs or running:
            for e in range(envs):
                if e not in running and jobs:
                    job = jobs.pop(0)
                    fut = pools[e].submit(chunk_job, settings, run_id, job)
                    running[e] = (job, time.monotonic(), fut)
            time.sleep(0.01)
            for e, (job, submitted, fut) in list(running.items()):
                if fut.done():
                    _, job_cpu, job_wall, span = fut.result()
                    cpu += job_cpu
                    times[job] = job_wall
                    mark("audio" if job < 0 else f"seg{job}", e, submitted, span, job_cpu)
                    del running[e]
        t = time.monotonic()
        result, assemble_cpu, assemble_wall, span = (
            pools[0].submit(chunk_assemble, settings, run_id).result()
        )
        mark("assemble", 0, t, span, assemble_cpu)
        cpu += assemble_cpu
    finally:
        for p in pools:
            p.shutdown()
    wall = time.monotonic() - started
    # The stream copy grows with the video; poster, vision and the storyboard sprite do not.
    copy_s = result["stages"]["assemble"]["ms"] / 1000
    return {"result": result, "cpu": cpu, "wall": wall, "jobs": times, "assemble": assemble_wall,
            "assemble_copy": copy_s, "segments": planned["segments"], "plan": plan_wall,
            "timeline": timeline, "order": list(planned["jobs"])}  # fmt: skip


def critical_path(run: dict[str, Any], envs: int, key: str) -> dict[str, float]:
    """From one run's per-stage figures (`key`: "wall" = end - start, or "cpu"): the serial part
    (plan + assembly), the jobs' total, and the ideal wall time on `envs` environments when the
    jobs are handed out in the plan's order, each to the first free environment (as a Map with
    MaxConcurrency does). CPU seconds do not stretch when other work shares the machine, so the
    ratio from them is the contention-robust figure."""

    def size(row: dict[str, Any]) -> float:
        return float(row["cpu"] if key == "cpu" else row["end"] - row["start"])

    rows = {r["what"]: r for r in run["timeline"]}
    serial = size(rows["plan"]) + size(rows["assemble"])
    jobs = [size(rows["audio" if j < 0 else f"seg{j}"]) for j in run["order"]]
    loads = [0.0] * envs
    for d in jobs:  # in order, to the first free environment
        i = loads.index(min(loads))
        loads[i] += d
    return {"serial_s": round(serial, 2), "jobs_s": round(sum(jobs), 2),
            "ideal_1_env_s": round(serial + sum(jobs), 2),
            f"ideal_{envs}_env_s": round(serial + max(loads), 2),
            "ideal_ratio": round((serial + sum(jobs)) / (serial + max(loads)), 3)}  # fmt: skip


def idle(run: dict[str, Any], envs: int) -> dict[str, float]:
    """Where the run's environments waited: dispatch latency (submit to start, summed), and the
    share of the job phase (first job start to last job end) each environment was busy."""
    jobs = [r for r in run["timeline"] if r["what"] not in ("plan", "assemble")]
    first, last = min(r["start"] for r in jobs), max(r["end"] for r in jobs)
    busy = [sum(r["end"] - r["start"] for r in jobs if r["env"] == e) for e in range(envs)]
    rows = {r["what"]: r for r in run["timeline"]}
    return {
        "dispatch_latency_s": round(sum(r["start"] - r["submit"] for r in run["timeline"]), 3),
        "plan_to_first_job_s": round(first - rows["plan"]["end"], 3),
        "last_job_to_assemble_s": round(rows["assemble"]["start"] - last, 3),
        "job_phase_s": round(last - first, 2),
        "busy_share": [round(b / (last - first), 3) for b in busy],
        "tail_one_env_s": round(last - sorted(
            max(r["end"] for r in jobs if r["env"] == e) for e in range(envs))[0], 2),
    }  # fmt: skip


def run_via_workflow(settings: Settings, envs: int, threads: int) -> dict[str, Any]:
    """The clip through the local product: API -> committed ASL on the in-process engine ->
    scaler -> local pool of `envs` environments x `threads` -> processor actions -> store."""
    os.environ.update(
        VIDEO_BACKEND="local",
        VIDEO_DATA_DIR=str(settings.data_dir),
        VIDEO_SEGMENT_SECONDS=str(settings.segment_seconds),
        VIDEO_SCALE_MIN=str(envs),
        VIDEO_SCALE_MAX=str(envs),
        VIDEO_LOCAL_ENV_THREADS=str(threads),
        VIDEO_WHISPER_MODEL=settings.whisper_model,
        VIDEO_ADMIN_TOKEN=BENCH_TOKEN,
    )
    os.environ.pop("VIDEO_SOURCE_ROOTS", None)
    from chalice.test import Client

    from app import app
    from chalicelib.factory import container, reset_container

    reset_container()
    auth = {"Authorization": f"Bearer {BENCH_TOKEN}", "Content-Type": "application/json"}
    source = settings.source_roots[0] / "clip.mp4"
    try:
        with Client(app, stage_name="local") as client:
            body = json.dumps({"title": "bench", "sourceUrl": source.as_uri()})
            created = client.http.post("/videos", headers=auth, body=body)
            assert created.status_code == 201, created.body
            vid = json.loads(created.body)["id"]
            started = time.monotonic()
            resp = client.http.post(f"/videos/{vid}/process", headers=auth)
            assert resp.status_code == 202, resp.body
            name = json.loads(resp.body)["executionArn"].rsplit(":", 1)[-1]
            while True:
                ex = json.loads(client.http.get(f"/executions/{name}", headers=auth).body)
                if ex["status"] != "RUNNING":
                    break
                time.sleep(0.5)
            wall = time.monotonic() - started
            item = container().store.get(vid)
            assert item is not None and item["status"] == "completed", (ex, item)
            throttles = container().pool.snapshot()["throttles"]
    finally:
        reset_container()
    return {"item": item, "wall": wall, "execution": ex["status"], "throttles": throttles}


# --- equivalence ---------------------------------------------------------------------------------


def published(settings: Settings, result: dict[str, Any], name: str) -> Path:
    video_id = str(result.get("id") or VIDEO_ID)
    return settings.media_dir / "videos" / video_id / result["runId"] / name


def frame_times(path: Path) -> list[float]:
    import av

    with av.open(str(path)) as c:
        return [float(f.time or 0.0) for f in c.decode(video=0)]


def first_audio(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            return float(frame.time or 0.0)
    return 0.0


def ssim(exe: str, a: Path, b: Path) -> float:
    out = subprocess.run(
        [exe, "-hide_banner", "-nostats", "-i", str(a), "-i", str(b),
         "-lavfi", "[0:v][1:v]ssim", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    m = re.search(r"All:([\d.]+)", out)
    return float(m.group(1)) if m else 0.0


def ssim_vs_source(exe: str, source: Path, rendition: Path) -> float:
    """SSIM of a rendition against the source scaled to its size: its own quality."""
    import av

    with av.open(str(rendition)) as c:
        w, h = c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height
    out = subprocess.run(
        [exe, "-hide_banner", "-nostats", "-i", str(rendition), "-i", str(source), "-lavfi",
         f"[1:v]scale={w}:{h}:flags=bicubic,setsar=1[ref];[0:v][ref]ssim", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    m = re.search(r"All:([\d.]+)", out)
    return float(m.group(1)) if m else 0.0


def equivalence(
    exe: str,
    one: Settings,
    one_result: dict[str, Any],
    chunk: Settings,
    chunk_result: dict[str, Any],
    source: Path | None = None,
) -> dict[str, Any]:
    boundaries = [s["start"] for s in chunk_result["segments"]["items"][1:]]
    rows: dict[str, dict[str, Any]] = {}
    qualities = [f["quality"] for f in one_result["transcoding"]["formats"]]
    assert qualities == [f["quality"] for f in chunk_result["transcoding"]["formats"]]
    for quality in qualities:
        name = f"video_{quality}.mp4"
        a, b = published(one, one_result, name), published(chunk, chunk_result, name)
        ta, tb = frame_times(a), frame_times(b)
        frame = 1 / 30
        # A/V offset at a boundary: where the boundary frame sits against the one-pass frame (the
        # audio is one encode on both sides), plus any difference in where the audio starts.
        audio_shift = abs(first_audio(a) - first_audio(b))
        offsets = []
        for bnd in boundaries:
            va = next(t for t in ta if t >= bnd - 1e-3)
            vb = next(t for t in tb if t >= bnd - 1e-3)
            offsets.append(abs(va - vb) + audio_shift)
        rows[quality] = {
            "frames": (len(ta), len(tb)),
            "duration_diff_s": round(abs((ta[-1] - ta[0]) - (tb[-1] - tb[0])), 4),
            "max_boundary_av_offset_ms": round(1000 * max(offsets, default=0.0), 2),
            "ssim": round(ssim(exe, a, b), 4),
            # Two encodes of grainy content differ in how they drop the grain: their quality
            # against the source says whether one is worse than the other.
            "ssim_vs_source": (
                (round(ssim_vs_source(exe, source, a), 4), round(ssim_vs_source(exe, source, b), 4))
                if source is not None
                else None
            ),
            "bytes": (a.stat().st_size, b.stat().st_size),
            "ok": len(ta) == len(tb)
            and abs((ta[-1] - ta[0]) - (tb[-1] - tb[0])) <= frame
            and max(offsets, default=0.0) <= frame,
        }
    total_one = sum(r["bytes"][0] for r in rows.values())
    total_chunk = sum(r["bytes"][1] for r in rows.values())
    return {"renditions": rows, "bytes_ratio": round(total_chunk / total_one, 4)}


# --- model ---------------------------------------------------------------------------------------


def _assemble_for(run: dict[str, Any], target: float, clip_seconds: float) -> float:
    fixed = run["assemble"] - run["assemble_copy"]
    return fixed + run["assemble_copy"] * target / clip_seconds


def makespan(durations: list[float], envs: int) -> float:
    """Greedy longest-first schedule of jobs on `envs` identical environments."""
    loads = [0.0] * envs
    for d in sorted(durations, reverse=True):
        i = loads.index(min(loads))
        loads[i] += d
    return max(loads)


def model(run: dict[str, Any], clip_seconds: float, segment_seconds: int) -> dict[int, Any]:
    """Wall time of a 60-minute video from the measured per-segment times, 60 s segments."""
    target, seg60 = 3600.0, 60
    seg_times = [t for j, t in run["jobs"].items() if j >= 0]
    per_media_second = sum(seg_times) / clip_seconds  # env-seconds per media second, segments
    per_segment = per_media_second * seg60
    audio = run["jobs"].get(-1, 0.0) * target / clip_seconds
    assemble = _assemble_for(run, target, clip_seconds)
    plan = 2.0
    jobs = [per_segment] * math.ceil(target / seg60) + ([audio] if audio else [])
    out = {}
    for envs in (1, 5, 20):
        wall = plan + makespan(jobs, envs) + assemble
        out[envs] = {"wall_s": round(wall), "realtime": round(target / wall, 2)}
    return out


def model_by_size(cpu_per_media_s: float, run: dict[str, Any], clip_seconds: float) -> Any:
    """The same model for environments of 2 and 4 vCPUs, from the measured CPU time per media
    second (assumes the encoders use the extra CPUs fully, as x264's frame threads do)."""
    target = 3600.0
    audio = run["jobs"].get(-1, 0.0) * target / clip_seconds
    assemble = _assemble_for(run, target, clip_seconds)
    out: dict[str, Any] = {}
    for vcpus in (2, 4):
        jobs = [60 * cpu_per_media_s / vcpus] * 60 + ([audio] if audio else [])
        for envs in (1, 5, 20):
            wall = 2.0 + makespan(jobs, envs) + assemble
            out[f"{envs}x{vcpus}vCPU"] = {
                "wall_s": round(wall),
                "realtime": round(target / wall, 2),
            }
    return out


def run_all(settings: Callable[[str], Settings], envs: int = 2) -> tuple[Any, Any, Any]:
    """One-pass, then chunked on 1 environment, then on `envs`, each printed as it ends."""

    def uri(s: Settings) -> str:
        return (s.source_roots[0] / "clip.mp4").as_uri()

    s_one = settings("one")
    print("one-pass pipeline (one environment, every CPU) …", flush=True)
    one = run_one_pass(s_one, uri(s_one))
    print(f"  wall {one['wall']:.1f} s, CPU {one['cpu']:.1f} s, load {os.getloadavg()}",
          flush=True)  # fmt: skip
    s11 = settings("chunk-1x1")
    print("chunked, 1 environment x 1 thread …", flush=True)
    c11 = run_chunked(s11, uri(s11), envs=1, threads=1)
    print(f"  wall {c11['wall']:.1f} s, CPU {c11['cpu']:.1f} s, "
          f"{c11['segments']} segments, load {os.getloadavg()}", flush=True)  # fmt: skip
    print_timeline(c11)
    s21 = settings(f"chunk-{envs}x1")
    print(f"chunked, {envs} environments x 1 thread …", flush=True)
    c21 = run_chunked(s21, uri(s21), envs=envs, threads=1)
    print(f"  wall {c21['wall']:.1f} s, CPU {c21['cpu']:.1f} s, load {os.getloadavg()}",
          flush=True)  # fmt: skip
    print_timeline(c21)
    return (s_one, one), (s11, c11), (s21, c21)


def print_timeline(run: dict[str, Any]) -> None:
    """Each stage of a chunked run (s from its start: env, submitted, started, ended, CPU)."""
    for r in run["timeline"]:
        print(f"      {r['what']:8s} env {r['env']}  {r['submit']:7.2f} {r['start']:7.2f} "
              f"{r['end']:7.2f}  CPU {r['cpu']:6.2f}", flush=True)  # fmt: skip


def print_breakdown(figures: dict[str, Any], c21: dict[str, Any]) -> None:
    """Where the 2x1 run spent its time, and the ideal ratios from the critical path."""
    print(f"(2) where the 2x1 run waited: {figures['idle_2x1']}")
    for key in ("critical_path_cpu", "critical_path_wall_1x1"):
        cp = figures[key]
        print(f"(2) {key}: serial (plan + assembly) {cp['serial_s']} s, jobs {cp['jobs_s']} s"
              f" -> ideal 2-env ratio {cp['ideal_ratio']} (jobs in the plan's order "
              f"{c21['order']})")  # fmt: skip
    print(f"    load average at the end {figures['load_avg']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--segment", type=int, default=20, help="VIDEO_SEGMENT_SECONDS")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--clip", type=Path, help="reuse this clip (one an earlier run generated, kept with --keep)"
    )
    parser.add_argument(
        "--via-workflow", action=argparse.BooleanOptionalAction, default=True,
        help="also process the clip through the local product (API, workflow, pool)",
    )  # fmt: skip
    args = parser.parse_args()
    exe = ffmpeg_exe()
    base = Path(tempfile.mkdtemp(prefix="bench-chunked-"))
    try:
        clip = base / "clip.mp4"
        if args.clip:
            shutil.copyfile(args.clip, clip)
        else:
            print(f"generating {args.seconds} s 1080p30 clip with speech …", flush=True)
            make_clip(exe, clip, args.seconds)
        from chalicelib.media.whisper_model import resolve_whisper_model

        model_dir = base / "model"
        whisper = resolve_whisper_model("", model_dir).model or "off"

        def settings(name: str) -> Settings:
            data = base / name
            (data / "inbox").mkdir(parents=True)
            shutil.copyfile(clip, data / "inbox" / "clip.mp4")
            return Settings(backend="local", data_dir=data, source_roots=(data / "inbox",),
                            whisper_model=whisper, segment_seconds=args.segment)  # fmt: skip

        (s_one, one), (_, c11), (s21, c21) = run_all(settings)

        print("equivalence (chunked 2x1 vs one-pass) …", flush=True)
        eq = equivalence(exe, s_one, one["result"], s21, c21["result"], source=clip)
        via = None
        if args.via_workflow:
            s_wf = settings("workflow")
            print("the local product (API, workflow, local pool 2 x 1) …", flush=True)
            via = run_via_workflow(s_wf, envs=2, threads=1)
            print(f"  wall {via['wall']:.1f} s, {via['item']['segments']['count']} segments, "
                  f"{via['throttles']} throttles", flush=True)  # fmt: skip
            via["equivalence"] = equivalence(exe, s_one, one["result"], s_wf, via["item"])
        figures = {
            "clip_s": args.seconds,
            "segment_s": args.segment,
            "segments": c21["segments"],
            "one_pass_wall_s": round(one["wall"], 1),
            "one_pass_cpu_s": round(one["cpu"], 1),
            "chunked_1x1_wall_s": round(c11["wall"], 1),
            "chunked_2x1_wall_s": round(c21["wall"], 1),
            "chunked_cpu_s": round(c21["cpu"], 1),
            "scaling_2x1_vs_1x1": round(c11["wall"] / c21["wall"], 3),
            "cpu_chunked_vs_one_pass": round(c21["cpu"] / one["cpu"], 3),
            "segment_job_s_1x1": {str(k): round(v, 1) for k, v in sorted(c11["jobs"].items())},
            "assemble_s": round(c11["assemble"], 1),
            "equivalence": eq,
            "model_60min_1080p": model(c11, args.seconds, args.segment),
            "cpu_s_per_media_s": round(c21["cpu"] / args.seconds, 2),
            "job_order": c21["order"],
            "timeline_1x1": c11["timeline"],
            "timeline_2x1": c21["timeline"],
            "critical_path_cpu": critical_path(c11, 2, "cpu"),
            "critical_path_wall_1x1": critical_path(c11, 2, "wall"),
            "idle_2x1": idle(c21, 2),
            "load_avg": os.getloadavg(),
        }
        figures["model_60min_by_env_size"] = model_by_size(
            c21["cpu"] / args.seconds, c11, args.seconds
        )
        if via is not None:
            figures["workflow"] = {
                "wall_s": round(via["wall"], 1),
                "segments": via["item"]["segments"]["count"],
                "throttles": via["throttles"],
                "equivalence": via["equivalence"],
            }
        print()
        for quality, row in eq["renditions"].items():
            print(f"(1) {quality:6s} frames {row['frames'][0]}/{row['frames'][1]}  "
                  f"duration diff {row['duration_diff_s']} s  boundary A/V offset "
                  f"{row['max_boundary_av_offset_ms']} ms  SSIM {row['ssim']}  "
                  f"{'ok' if row['ok'] and row['ssim'] >= 0.98 else 'MISSED'}  "
                  f"(vs source: one-pass {row['ssim_vs_source'][0]}, "
                  f"chunked {row['ssim_vs_source'][1]})")  # fmt: skip
        ratio = eq["bytes_ratio"]
        print(f"(1) total bytes chunked / one-pass {ratio:.4f} (goal <= 1.05) "
              f"{'ok' if ratio <= 1.05 else 'MISSED'}")  # fmt: skip
        scale = figures["scaling_2x1_vs_1x1"]
        print(
            f"(2) wall 1x1 / 2x1 = {scale:.3f} (goal >= 1.8) {'ok' if scale >= 1.8 else 'MISSED'}"
        )
        cpu = figures["cpu_chunked_vs_one_pass"]
        print(f"(3) CPU chunked / one-pass = {cpu:.3f} (goal <= 1.10) "
              f"{'ok' if cpu <= 1.10 else 'MISSED'}")  # fmt: skip
        print_breakdown(figures, c21)
        if via is not None:
            ok = all(
                r["ok"] and r["ssim"] >= 0.98 for r in via["equivalence"]["renditions"].values()
            )
            print(f"(done) the local product: {figures['workflow']['segments']} segments, "
                  f"equivalence {'ok' if ok else 'MISSED'}, bytes ratio "
                  f"{via['equivalence']['bytes_ratio']}, wall {via['wall']:.1f} s")  # fmt: skip
        for envs, row in figures["model_60min_1080p"].items():
            print(f"(4) 60-min 1080p at {envs:2d} environments of 1 CPU: {row['wall_s']} s wall, "
                  f"{row['realtime']}x realtime")  # fmt: skip
        for label, row in figures["model_60min_by_env_size"].items():
            print(f"(4) 60-min 1080p at {label:>9s} (CPU-time model): {row['wall_s']} s wall, "
                  f"{row['realtime']}x realtime")  # fmt: skip
        print(json.dumps(figures))
        return 0
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
