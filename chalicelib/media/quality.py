"""VMAF: how a rendition looks next to its source, scored by libvmaf (in the pinned ffmpeg).

Every score here compares a rendition, upscaled (bicubic) to the ladder's top size, with the
source at that size after the same input stage the ladder reads it through: what a viewer sees
of a lower rung on the screen the top rung is made for. Scores pool per frame into the mean and
the 5th percentile (the worst moments). `n_subsample` scores every n-th frame only: the decode
and scaling still run on every frame, the model on fewer.

Cheap forms of it run on sampled windows of the video (`sample_windows`): the per-title probe
(ladder.py) and the quality measured on the outputs (`score_outputs`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chalicelib.media.errors import MediaError
from chalicelib.media.ffmpeg import available_cpus, run_ffmpeg
from chalicelib.media.filters import input_stage, source_pad
from chalicelib.media.probe import SEEK_INDEXED_FORMATS, ProbeResult

VMAF_MODEL = "vmaf_v0.6.1"  # libvmaf's default model: a 1080p screen at three picture heights
PERCENTILE = 5


@dataclass(frozen=True)
class VmafScore:
    """One rendition's VMAF over the frames scored."""

    mean: float
    p5: float  # 5th percentile of the per-frame scores
    frames: int

    def to_dict(self) -> dict[str, Any]:
        """The item's `vmaf` of a format."""
        return {"mean": round(self.mean, 2), "p5": round(self.p5, 2), "frames": self.frames,
                "model": VMAF_MODEL}  # fmt: skip


def pooled(frames: Sequence[float]) -> VmafScore:
    """Mean and 5th percentile (linear between ranks) of per-frame scores."""
    if not frames:
        raise MediaError("QualityFailed", "VMAF scored no frames.")
    ordered = sorted(frames)
    pos = (len(ordered) - 1) * PERCENTILE / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    p5 = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
    return VmafScore(sum(ordered) / len(ordered), p5, len(ordered))


def read_log(path: Path) -> VmafScore:
    """A libvmaf JSON log's per-frame scores, pooled."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return pooled([float(f["metrics"]["vmaf"]) for f in doc.get("frames", [])])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MediaError("QualityFailed", "The VMAF log is unreadable.") from exc


@dataclass(frozen=True)
class Window:
    """A stretch of the source: [start, start + duration)."""

    start: float
    duration: float


def sample_windows(duration: float, *, fraction: float = 0.1, least: float = 1.0,
                   most: float = 6.0, count: int = 3) -> list[Window]:  # fmt: skip
    """`count` windows spread over the video (centred in equal thirds), together `fraction` of
    it, at least `least` and at most `most` seconds: the scenes a probe looks at. A short video
    is one window (the whole of it, up to `least`)."""
    total = min(duration, max(least, min(most, duration * fraction)))
    if duration <= 6 * least or count <= 1:
        start = max(0.0, (duration - total) / 2)
        return [Window(round(start, 3), round(total, 3))]
    each = total / count
    return [
        Window(round(max(0.0, (i + 0.5) * duration / count - each / 2), 3), round(each, 3))
        for i in range(count)
    ]


# Longer than this, a sample is read by seeking to each window (only the windows are decoded);
# shorter, in one read from the start (a short file is often one GOP: every seek would decode
# from its start again). A lone window in a container with a seek index is sought: one seek
# decodes at most what a read from the start does, and from the keyframe before it when the file
# has regular keyframes (elsewhere — MPEG-TS — a seek lands between keyframes: read instead).
SEEK_AFTER_SECONDS = 60.0


def _seeking(info: ProbeResult, windows: Sequence[Window]) -> bool:
    lone = len(windows) == 1 and info.container in SEEK_INDEXED_FORMATS
    return info.duration > SEEK_AFTER_SECONDS or lone


# Both sides of a comparison are re-timed by frame count: renditions keep every frame of the
# source, and an edit list or a start offset must not pair a frame with its neighbour.
RETIME = "setpts=N/25/TB"


def sample_inputs(source: str, windows: Sequence[Window], info: ProbeResult) -> list[str]:
    """The inputs that read `windows` of `source`: one per window (input seeking) for a long
    video or a lone window, else one read up to the last window's end (`SEEK_AFTER_SECONDS`)."""
    stage = input_stage(info)
    if _seeking(info, windows):
        args: list[str] = []
        for w in windows:
            args += [*stage.input_args, "-ss", f"{w.start:.3f}", "-t", f"{w.duration:.3f}",
                     "-i", source]  # fmt: skip
        return args
    end = max(w.start + w.duration for w in windows)
    return [*stage.input_args, "-t", f"{end + 0.05:.3f}", "-i", source]


def _select(windows: Sequence[Window]) -> str:
    terms = "+".join(
        f"between(t,{w.start:.3f},{w.start + w.duration - 0.001:.3f})" for w in windows
    )
    return f"select='{terms}'"


def sample_chain(
    info: ProbeResult, windows: Sequence[Window], size: tuple[int, int], out: str,
    first_input: int = 0, *, stage: bool = True, stream: str | None = None,
) -> str:  # fmt: skip
    """The windows of the input(s) read by `sample_inputs` (from `first_input`) — through the
    source's input stage when `stage` — joined, re-timed and scaled to `size`, as `out`."""
    pad_of = (lambda i: f"[{i}:{stream}]") if stream else (lambda i: source_pad(info, i))
    chain = input_stage(info, size=size).chain() + "," if stage else ""
    tail = f"{RETIME},scale={size[0]}:{size[1]}:flags=bicubic,setsar=1,format=yuv420p{out}"
    if not _seeking(info, windows):
        return f"{pad_of(first_input)}{_select(windows)},{chain}{tail}"
    n = len(windows)
    parts = "".join(
        f"{pad_of(first_input + i)}{chain}setpts=PTS-STARTPTS,format=yuv420p[w{first_input + i}];"
        for i in range(n)
    )
    joined = "".join(f"[w{first_input + i}]" for i in range(n))
    return f"{parts}{joined}concat=n={n}:v=1:a=0,{tail}"


def vmaf_filter(log: str, subsample: int) -> str:
    return (
        f"libvmaf=model=version={VMAF_MODEL}:n_subsample={max(1, subsample)}"
        f":n_threads={available_cpus()}:log_fmt=json:log_path={log}"
    )


def score(
    work_dir: Path,
    info: ProbeResult,
    distorted: Sequence[str],
    *,
    source: str,
    size: tuple[int, int],
    exe: str,
    timeout: float,
    windows: Sequence[Window] | None = None,
    subsample: int = 1,
    name: str = "vmaf",
) -> list[VmafScore]:
    """VMAF of each of `distorted` (renditions: paths or URLs) against `source`, all in ONE
    ffmpeg process: the source is decoded once and split to every comparison. `windows`: only
    those stretches of both are compared (the item's cheap measure); None: the whole video."""
    n = len(distorted)
    if n == 0:
        return []
    spans = list(windows) if windows else [Window(0.0, info.duration + 1.0)]
    args = sample_inputs(source, spans, info)
    k = args.count("-i")
    chains = [sample_chain(info, spans, size, "[ref]") + f";[ref]split={n}" +
              "".join(f"[r{j}]" for j in range(n))]  # fmt: skip
    plain = replace(info, video_stream=0)  # a rendition: its video first, no input stage
    for j, path in enumerate(distorted):
        args += sample_inputs(path, spans, plain)
        chains.append(
            sample_chain(plain, spans, size, f"[d{j}]", k, stage=False, stream="v:0")
            + f";[d{j}][r{j}]{vmaf_filter(f'{name}_{j}.json', subsample)}[o{j}]"
        )
        k = args.count("-i")
    args += ["-filter_complex", ";".join(chains)]
    for j in range(n):
        args += ["-map", f"[o{j}]", "-f", "null", "-"]
    run_ffmpeg(args, exe=exe, timeout=timeout, cwd=work_dir, error_code="QualityFailed",
               what="Scoring VMAF")  # fmt: skip
    return [read_log(work_dir / f"{name}_{j}.json") for j in range(n)]
