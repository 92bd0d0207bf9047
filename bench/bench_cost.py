"""What a video costs to process (`make bench-cost`; section 6 of `make bench-media`).

1. Whole pipeline vs the bare ladder, on the same 20 s 1080p30 clips in the same run:
   film-like footage (motion, grain, a scene change, speech) and a slide talk (four static
   slides, continuous speech). The pipeline is the product's entry point (`run_processing`:
   fetch, probe, ladder + analysis, poster, storyboard, vision, subtitles, publish) on a warm
   worker (models loaded by a first run, reported apart as "cold"); its CPU is this process
   (Whisper, OCR threads) plus every ffmpeg child. The baseline is the conventional ladder
   command any service runs: one decode, split, three x264 veryfast CRF 23 rungs with the same
   caps, each rung with its own AAC encode, MP4 + HLS per rung. Interleaved, best of N.
   Goals (issue 17): <= 1.10x on film, <= 1.6x on the talk.
2. Cost per media minute (`--table`): environment-seconds (the run's wall time on one
   environment of this machine's CPUs) and dollars at `VIDEO_PRICE_PER_ENV_HOUR`, for 480p,
   720p, 1080p and 4K sources, short and long, as a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cost_clips import make_film, make_talk  # noqa: E402

from chalicelib.config import Settings  # noqa: E402
from chalicelib.media import transcode  # noqa: E402
from chalicelib.media.ffmpeg import available_cpus, ffmpeg_exe  # noqa: E402
from chalicelib.media.probe import ProbeResult, probe  # noqa: E402
from chalicelib.media_store.local import LocalMediaStore  # noqa: E402
from chalicelib.processing.one_pass import run_processing  # noqa: E402

GOALS = {"film": 1.10, "talk": 1.6}
TABLE_SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080),
               "4K": (3840, 2160)}  # fmt: skip


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class Run:
    wall: float
    cpu: float
    result: dict[str, Any]


class PipelineRunner:
    """The product's processing entry point on a local store, one video at a time."""

    def __init__(self, base: Path) -> None:
        data = base / "data"
        self.inbox = data / "inbox"
        self.inbox.mkdir(parents=True, exist_ok=True)
        model = os.environ.get("VIDEO_WHISPER_MODEL", "")
        self.settings = Settings(
            backend="local", data_dir=data, source_roots=(self.inbox,), whisper_model=model
        )
        self.store = LocalMediaStore(self.settings.media_dir, "http://127.0.0.1:8000")
        from chalicelib.media.whisper_model import resolve_whisper_model

        # Joining the packaged model's parts is a once-per-machine cost, not a per-video one.
        resolve_whisper_model(self.settings.whisper_model, data)
        self.count = 0

    def run(self, clip: Path) -> Run:
        self.count += 1
        name = f"clip{self.count}{clip.suffix}"
        shutil.copyfile(clip, self.inbox / name)
        video_id = f"Bench{self.count:017d}"
        cpu0, wall0 = cpu_self() + cpu_children(), time.monotonic()
        result = run_processing(video_id, (self.inbox / name).as_uri(), self.settings,
                                self.store, lambda p: None)  # fmt: skip
        run = Run(time.monotonic() - wall0, cpu_self() + cpu_children() - cpu0, result)
        (self.inbox / name).unlink()
        self.store.delete_video(video_id)  # keep the disk small
        return run


def baseline_ladder_args(info: ProbeResult) -> list[str]:
    """The conventional ladder command: per rung its own output, so its own AAC encode."""
    rungs = transcode.plan_ladder(info.width, info.height)
    split = "".join(f"[s{i}]" for i in range(len(rungs)))
    graph = f"[0:v:0]split={len(rungs)}{split};" + ";".join(
        f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]"
        for i, r in enumerate(rungs)
    )
    args = ["-i", "source", "-filter_complex", graph]
    for i, r in enumerate(rungs):
        hls = (f"f=hls:hls_time={transcode.SEGMENT_SECONDS}:hls_playlist_type=vod"
               f":hls_list_size=0:hls_segment_filename={r.segment_pattern}")  # fmt: skip
        args += [
            "-map", f"[v{i}]", "-map", "0:a:0", "-c:v", "libx264", "-preset", "veryfast",
            "-crf", "23", "-profile:v", "high", "-maxrate", f"{r.maxrate_kbps}k",
            "-bufsize", f"{2 * r.maxrate_kbps}k", "-force_key_frames",
            f"expr:gte(t,n_forced*{transcode.KEYFRAME_SECONDS})", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", f"{transcode.AUDIO_KBPS}k", "-ac", "2", "-ar", "48000",
            "-flags", "+global_header", "-f", "tee",
            f"[f=mp4:movflags=+faststart]{r.mp4_name}|[{hls}]{r.playlist_name}",
        ]  # fmt: skip
    return args


def run_baseline(exe: str, clip: Path, info: ProbeResult, work: Path) -> tuple[float, float]:
    """(wall s, CPU s) of the bare ladder command on `clip`."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copyfile(clip, work / "source")
    cmd = [exe, "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
           *baseline_ladder_args(info)]  # fmt: skip
    cpu0, wall0 = cpu_children(), time.monotonic()
    subprocess.run(cmd, cwd=work, check=True)
    wall, cpu = time.monotonic() - wall0, cpu_children() - cpu0
    shutil.rmtree(work, ignore_errors=True)
    return wall, cpu


def pipeline_vs_ladder(exe: str, base: Path, seconds: int, repeat: int) -> dict[str, Any]:
    """Section 1: whole-pipeline CPU over the bare ladder's, film and talk, interleaved."""
    runner = PipelineRunner(base / "vs-ladder")
    clips = {
        "film": make_film(exe, base / "film.mp4", seconds),
        "talk": make_talk(exe, base / "talk.mp4", seconds),
    }
    infos = {k: probe(c, max_duration=3600, exe=exe) for k, c in clips.items()}
    cold = {k: runner.run(c) for k, c in clips.items()}  # loads Whisper, OCR, OpenCV
    runs: dict[str, dict[str, list[tuple[float, float]]]] = {
        k: {"ladder": [], "pipeline": []} for k in clips
    }
    last: dict[str, dict[str, Any]] = {}
    for i in range(repeat):
        for kind, clip in clips.items():
            runs[kind]["ladder"].append(run_baseline(exe, clip, infos[kind], base / "bare"))
            run = runner.run(clip)
            runs[kind]["pipeline"].append((run.wall, run.cpu))
            last[kind] = run.result
        print(f"  round {i + 1} (wall/CPU s): " + "; ".join(
            f"{k} ladder {runs[k]['ladder'][-1][0]:.1f}/{runs[k]['ladder'][-1][1]:.1f} "
            f"pipeline {runs[k]['pipeline'][-1][0]:.1f}/{runs[k]['pipeline'][-1][1]:.1f}"
            for k in clips), flush=True)  # fmt: skip
    out: dict[str, Any] = {"seconds": seconds, "cpus": available_cpus()}
    for kind in clips:
        ladder_cpu = min(c for _, c in runs[kind]["ladder"])
        pipe_cpu = min(c for _, c in runs[kind]["pipeline"])
        result = last[kind]
        out[kind] = {
            "ladder_cpu_s": round(ladder_cpu, 2),
            "ladder_wall_s": round(min(w for w, _ in runs[kind]["ladder"]), 2),
            "pipeline_cpu_s": round(pipe_cpu, 2),
            "pipeline_wall_s": round(min(w for w, _ in runs[kind]["pipeline"]), 2),
            "cold_pipeline_cpu_s": round(cold[kind].cpu, 2),
            "ratio": round(pipe_cpu / ladder_cpu, 3),
            "goal": GOALS[kind],
            "stage_seconds": result["cost"]["stageSeconds"],
            "words": (result.get("subtitles") or {}).get("wordCount"),
            "scenes": len((result.get("analysis") or {}).get("scenes") or []),
        }
    return out


def print_vs_ladder(f: dict[str, Any]) -> None:
    print(f"(6) whole pipeline vs the bare ladder, {f['seconds']} s 1080p30, {f['cpus']} CPUs, "
          "warm worker, best of N (CPU s = this process + ffmpeg children):")  # fmt: skip
    for kind in ("film", "talk"):
        k = f[kind]
        verdict = "ok" if k["ratio"] <= k["goal"] else "MISSED"
        print(f"    {kind}: pipeline {k['pipeline_cpu_s']:.1f} CPU-s / ladder "
              f"{k['ladder_cpu_s']:.1f} = x{k['ratio']:.3f} (goal <= {k['goal']}) {verdict}; "
              f"wall {k['pipeline_wall_s']:.1f} vs {k['ladder_wall_s']:.1f} s; cold run "
              f"{k['cold_pipeline_cpu_s']:.1f} CPU-s; {k['scenes']} scenes, "
              f"{k['words']} words")  # fmt: skip
        stages = ", ".join(f"{n} {s:.1f}" for n, s in k["stage_seconds"].items())
        print(f"        stage wall s: {stages}")


def cost_table(exe: str, base: Path, short: int, long: int, sizes: list[str]) -> dict[str, Any]:
    """Section 2: environment-seconds and dollars per media minute, per size and length."""
    runner = PipelineRunner(base / "table")
    warm = make_film(exe, base / "warm.mp4", 4, (640, 360), fractal=False)
    runner.run(warm)  # models loaded once, as on a warm environment
    rows = []
    for label in sizes:
        for length in (short, long):
            clip = make_film(exe, base / f"t-{label}-{length}.mp4", length,
                             TABLE_SIZES[label], fractal=False)  # fmt: skip
            run = runner.run(clip)
            clip.unlink()
            c = run.result["cost"]
            rows.append({
                "source": label, "seconds": length, "envSeconds": round(run.wall, 1),
                "cpuSeconds": round(run.cpu, 1),
                "envSecondsPerMinute": c["environmentSecondsPerMinute"],
                "costPerMinute": c["costPerMinute"],
                "realtime": round(length / run.wall, 2),
            })  # fmt: skip
            print(f"  {label} {length} s: {rows[-1]}", flush=True)
    return {"price": runner.settings.price_per_env_hour, "cpus": available_cpus(), "rows": rows}


def print_table(t: dict[str, Any]) -> None:
    print(f"\nCost per media minute, one {t['cpus']}-CPU environment, "
          f"${t['price']}/environment-hour:\n")  # fmt: skip
    print("| source | length | environment-s per media minute | CPU-s per media minute "
          "| $ per media minute | realtime |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for r in t["rows"]:
        cpu_per_min = r["cpuSeconds"] / (r["seconds"] / 60)
        print(f"| {r['source']} | {r['seconds']} s | {r['envSecondsPerMinute']:.1f} | "
              f"{cpu_per_min:.1f} | {r['costPerMinute']:.5f} | {r['realtime']:.2f}x |")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="clip length of section 1")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--table", action="store_true", help="also the cost-per-minute table")
    parser.add_argument("--only-table", action="store_true")
    parser.add_argument("--short", type=int, default=30)
    parser.add_argument("--long", type=int, default=120)
    parser.add_argument("--sizes", default=",".join(TABLE_SIZES))
    args = parser.parse_args()
    exe = ffmpeg_exe()
    base = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    figures: dict[str, Any] = {}
    try:
        if not args.only_table:
            figures["vs_ladder"] = pipeline_vs_ladder(exe, base, args.seconds, args.repeat)
            print_vs_ladder(figures["vs_ladder"])
        if args.table or args.only_table:
            sizes = [s for s in args.sizes.split(",") if s]
            figures["table"] = cost_table(exe, base, args.short, args.long, sizes)
            print_table(figures["table"])
        print(json.dumps(figures))
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
