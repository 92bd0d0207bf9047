"""CPU of one segment job: encode + a separate analysis pass (before) vs one process (after).

Before, a segment's job ran its ladder encode and, beside it, a second ffmpeg process that
decoded the segment's analysis window again for scene cuts, black runs and storyboard tiles.
Now the analysis rides in the encode (`segments.encode_segment`, one decode). This runs both
forms of the same middle segment of a generated 1080p30 clip (testsrc2 + film grain), in turns,
and reports the CPU seconds of the ffmpeg children (`getrusage(RUSAGE_CHILDREN)` deltas), best
of `--runs`:

    .venv/bin/python bench/bench_segment_tap.py [--seconds 60] [--segment 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.media import segments, thumbnails  # noqa: E402
from chalicelib.media.ffmpeg import ffmpeg_exe, run_ffmpeg  # noqa: E402
from chalicelib.media.probe import probe  # noqa: E402
from tests.media import reference  # noqa: E402


def make_clip(exe: str, out: Path, seconds: int) -> None:
    """1080p30 moving test pattern with temporal grain (x264 cannot coast on it)."""
    subprocess.run(
        [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={seconds}",
         "-vf", "noise=alls=8:allf=t", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
         "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )  # fmt: skip


def children_cpu() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def before(out: Path, plan: segments.SegmentPlan, index: int, source: str, exe: str,
           sb: thumbnails.StoryboardPlan) -> None:  # fmt: skip
    """The encode alone (seek to the cut) and the separate analysis pass of the window."""
    run_ffmpeg(segments.build_segment_args(plan, index, source=source), exe=exe, timeout=3600,
               cwd=out)  # fmt: skip
    args = reference.build_segment_signal_args(plan, index, source=source, storyboard=sb)
    run_ffmpeg(args, exe=exe, timeout=3600, cwd=out)


def after(out: Path, plan: segments.SegmentPlan, index: int, source: str, exe: str,
          sb: thumbnails.StoryboardPlan) -> None:  # fmt: skip
    """The product's one process."""
    segments.encode_segment(out, plan, index, source=source, exe=exe, timeout=3600, storyboard=sb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="clip length")
    parser.add_argument("--segment", type=int, default=20, help="segment length")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    exe = ffmpeg_exe()
    base = Path(tempfile.mkdtemp(prefix="bench-segtap-"))
    try:
        clip = base / "clip.mp4"
        make_clip(exe, clip, args.seconds)
        info = probe(clip, max_duration=3600)
        plan = segments.make_plan(str(clip), info, args.segment)
        index = plan.count // 2  # a middle segment: margins on both sides
        sb = thumbnails.plan_storyboard(info)
        seg = plan.segments[index]
        print(f"segment {index} of {plan.count}: {seg.start:.3f}-{seg.end:.3f} s, "
              f"{[r.quality for r in plan.rungs]}", flush=True)  # fmt: skip
        cpu: dict[str, list[float]] = {"before": [], "after": []}
        wall: dict[str, list[float]] = {"before": [], "after": []}
        for run in range(args.runs):
            for name, fn in (("before", before), ("after", after)):
                out = base / f"{name}{run}"
                out.mkdir()
                c0, t0 = children_cpu(), time.monotonic()
                fn(out, plan, index, str(clip), exe, sb)
                cpu[name].append(children_cpu() - c0)
                wall[name].append(time.monotonic() - t0)
                shutil.rmtree(out)
                print(f"  run {run + 1} {name}: CPU {cpu[name][-1]:.2f} s, "
                      f"wall {wall[name][-1]:.2f} s", flush=True)  # fmt: skip
        best = {k: min(v) for k, v in cpu.items()}
        figures = {
            "segment_s": round(seg.duration, 3),
            "cpu_s_best": {k: round(v, 2) for k, v in best.items()},
            "cpu_s_runs": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
            "wall_s_best": {k: round(min(v), 2) for k, v in wall.items()},
            "after_vs_before": round(best["after"] / best["before"], 3),
        }
        print(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
