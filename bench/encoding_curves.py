"""Bytes/VMAF curves of each rung on the bench-encoding corpus, per downscaler, and what an oracle
would save (`.venv/bin/python bench/encoding_curves.py`).

For each clip (bench_encoding.py's generated corpus, cached in --corpus) and each scaler, the
product's transcode encodes the whole clip at each CRF of --crfs with 4 s keyframes (the per-title
ladder's), and every rendition is scored with VMAF against the source, upscaled to 1080p — the
same measure as `make bench-encoding`. The reference is the fixed ladder (CRF 23, bicubic, 2 s
keyframes), encoded and scored in the same run.

`--x264` compares encoder settings the same way: `;`-separated variants, each `PRESET` or
`PRESET/x264-params` (e.g. `veryfast;veryfast/trellis=1;medium/psy=0`; the default is the
per-title rungs' own, `veryfast/` + ladder.TUNED_X264), each with the encode's CPU against the
reference's (ffmpeg children user+sys).

Printed per clip: each rung's (bytes, VMAF) per scaler, variant and CRF; then the **oracle**:
for each reference rung the fewest bytes any CRF of that resolution and scaler reaches (bytes
log-linear, VMAF linear between the CRFs measured) at the rung's VMAF less --margin (VMAF
above 95 counting as 95), and the ladder's bytes against the reference's. It is what a probe
that knew the whole clip could do with one rung per resolution: a ceiling for the per-title
ladder, not a product figure.
"""

from __future__ import annotations

import itertools
import os
import resource
import shutil
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_encoding import CAP, SIZE, corpus_parser, make_corpus  # noqa: E402
from chalicelib.media import ladder, quality, transcode  # noqa: E402
from chalicelib.media.ffmpeg import ffmpeg_exe  # noqa: E402
from chalicelib.media.probe import probe  # noqa: E402

Point = tuple[int, float]  # (bytes, VMAF mean)


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def encode_and_score(exe: str, work: Path, info: Any, clip: Path, rungs: list[transcode.Rung],
                     preset: str = "veryfast") -> tuple[dict[str, Point], float]:  # fmt: skip
    """Each rung's (bytes, VMAF) of one ladder process over the whole clip, and its CPU seconds."""
    work.mkdir(parents=True, exist_ok=True)
    link = work / "source"
    if not link.exists():
        link.symlink_to(clip.resolve())
    cpu0 = cpu_children()
    transcode.transcode(work, info, exe=exe, timeout=3600, rungs=rungs, preset=preset)
    cpu = cpu_children() - cpu0
    files = [str(work / r.mp4_name) for r in rungs]
    scores = quality.score(work, info, files, source=str(clip), size=SIZE, exe=exe,
                           timeout=3600, subsample=2)  # fmt: skip
    points = {r.key: (os.path.getsize(f), s.mean) for r, f, s in zip(rungs, files, scores,
                                                                    strict=True)}  # fmt: skip
    return points, cpu


def fewest_bytes(curve: list[tuple[float, Point]], goal: float, steps: int = 20) -> float | None:
    """The fewest bytes on the curve (CRF -> point) whose VMAF meets `goal`."""
    best: float | None = None
    for (_, (b0, v0)), (_, (b1, v1)) in itertools.pairwise(curve):
        for i in range(steps + 1):
            t = i / steps
            vmaf, size = v0 + (v1 - v0) * t, b0 * (b1 / b0) ** t
            if vmaf >= goal and (best is None or size < best):
                best = size
    return best


def main() -> None:
    parser = corpus_parser(__doc__)
    parser.add_argument("--scalers", default="lanczos")
    parser.add_argument("--x264", default=f"veryfast/{ladder.TUNED_X264}")
    parser.add_argument("--crfs", default="23,26,29")
    parser.add_argument("--margin", type=float, default=0.5, help="VMAF below the fixed rung")
    args = parser.parse_args()
    exe = ffmpeg_exe(os.environ.get("VIDEO_FFMPEG", ""))
    names = [n for n in args.clips.split(",") if n]
    variants = [(s, *[*v.split("/", 1), ""][:2]) for s in args.scalers.split(",") if s
                for v in args.x264.split(";") if v]  # fmt: skip
    crfs = [float(c) for c in args.crfs.split(",")]
    clips = make_corpus(exe, args.corpus, args.seconds, names)
    ratios: dict[str, list[tuple[float, float]]] = {}
    for name in names:
        info = probe(clips[name], max_duration=3600, exe=exe)
        fixed = ladder.fixed_ladder(info).rungs
        work = args.corpus / f"curves-{name}"
        ref, ref_cpu = encode_and_score(exe, work / "ref", info, clips[name], fixed)
        print(f"\n## {name}\nreference: " + ", ".join(
            f"{k} {b / 1e6:.3f} MB / {v:.2f}" for k, (b, v) in ref.items()))  # fmt: skip
        for n, (scaler, preset, params) in enumerate(variants):
            label = f"{scaler} {preset}{'/' + params if params else ''}"
            curves: dict[str, list[tuple[float, Point]]] = {r.key: [] for r in fixed}
            cpus = []
            for crf in crfs:
                rungs = [replace(r, crf=crf, keyframe_seconds=ladder.PER_TITLE_KEYFRAME_SECONDS,
                                 scaler=scaler if i else ladder.BICUBIC, x264_params=params)
                         for i, r in enumerate(fixed)]  # fmt: skip
                got, cpu = encode_and_score(exe, work / f"v{n}-{crf:g}", info, clips[name], rungs,
                                            preset)  # fmt: skip
                cpus.append(cpu)
                for key, point in got.items():
                    curves[key].append((crf, point))
                print(f"{label} CRF {crf:g}: " + ", ".join(
                    f"{k} {b / 1e6:.3f} MB / {v:.2f}" for k, (b, v) in got.items()))  # fmt: skip
            total = 0.0
            for key, (size, vmaf) in ref.items():
                best = fewest_bytes(curves[key], min(CAP, vmaf) - args.margin)
                total += size if best is None else min(size, best)
            ratio, cpu_ratio = (
                total / sum(b for b, _ in ref.values()),
                statistics.mean(cpus) / ref_cpu,
            )
            ratios.setdefault(label, []).append((ratio, cpu_ratio))
            print(f"{label}: oracle ladder bytes {ratio:.2f}x the reference, encode CPU "
                  f"{cpu_ratio:.2f}x")  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)
    print()
    for label, values in ratios.items():
        print(f"- {label}: oracle median {statistics.median(r for r, _ in values):.3f}x, encode "
              f"CPU median {statistics.median(c for _, c in values):.2f}x over {len(values)} "
              f"clips (margin {args.margin} VMAF)")  # fmt: skip


if __name__ == "__main__":
    main()
