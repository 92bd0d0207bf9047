"""Poster frame and storyboard sprite (+ WebVTT index) for scrubbing previews.

The poster is grabbed with `-ss` before `-i` (fast seek, tiny memory) at ~10% of the duration, and
retried at other points while the grabbed frame is black. The storyboard sprite is produced during
the analysis pass (which decodes every frame anyway, see analysis.py); this module plans its layout
and writes its VTT index. ffmpeg's `thumbnail` filter is avoided: it buffers ~1 GB.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chalicelib.media.errors import MediaError
from chalicelib.media.ffmpeg import run_ffmpeg
from chalicelib.media.filters import input_stage, source_pad
from chalicelib.media.probe import ProbeResult, source_input

POSTER_NAME = "poster.jpg"
STORYBOARD_NAME = "storyboard.jpg"
STORYBOARD_VTT = "storyboard.vtt"
POSTER_MAX_SIDE = 1280
# Fractions of the duration tried in order until a frame is not black.
POSTER_POINTS = (0.10, 0.20, 0.30, 0.50, 0.05, 0.70)
_GRAY_W, _GRAY_H = 32, 18  # tiny luma probe of the candidate frame, read from a pipe
_BLACK_LUMA = 32  # limited-range luma below this counts as black (16 = black level)
_BLACK_FRACTION = 0.97
STORYBOARD_MAX_TILES = 100
STORYBOARD_COLUMNS = 10
TILE_BOX = 160


@dataclass(frozen=True)
class Poster:
    """The chosen poster: file name, size, capture time and whether every candidate was black."""

    name: str
    width: int
    height: int
    capture_time: float
    black: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


def _even(value: float) -> int:
    return max(2, round(value / 2.0) * 2)


def fit_box(width: int, height: int, box: int) -> tuple[int, int]:
    """Even size that fits `box` on the long side, never upscaling, aspect ratio kept."""
    scale = min(1.0, box / max(width, height))
    return _even(width * scale), _even(height * scale)


def is_black(gray: bytes) -> bool:
    """True when nearly all pixels of an 8-bit luma plane are at black level."""
    if not gray:
        return True
    dark = sum(1 for px in gray if px < _BLACK_LUMA)
    return dark / len(gray) >= _BLACK_FRACTION


def extract_poster(
    work_dir: Path, info: ProbeResult, *, exe: str, timeout: float, source: str = "source"
) -> Poster:
    """Write work_dir/poster.jpg from the first non-black candidate time of `source` (a name in
    work_dir, a path or a URL)."""
    width, height = fit_box(info.width, info.height, POSTER_MAX_SIDE)
    candidates = [round(info.duration * p, 3) for p in POSTER_POINTS]
    best: tuple[float, int] | None = None  # (time, dark pixel count) of the least black frame
    for t in candidates:
        gray = _grab(work_dir, info, t, width, height, exe=exe, timeout=timeout,
                     name=POSTER_NAME, source=source)  # fmt: skip
        if gray is None:
            continue
        if not is_black(gray):
            return Poster(POSTER_NAME, width, height, t, black=False)
        dark = sum(1 for px in gray if px < _BLACK_LUMA)
        if best is None or dark < best[1]:
            best = (t, dark)
    if best is None:
        raise MediaError("ThumbnailFailed", "No frame could be extracted for the poster.")
    # Everything is black (e.g. a black clip): keep the least black frame and say so.
    _grab(work_dir, info, best[0], width, height, exe=exe, timeout=timeout, name=POSTER_NAME,
          source=source)  # fmt: skip
    return Poster(POSTER_NAME, width, height, best[0], black=True)


def _grab(
    work_dir: Path,
    info: ProbeResult,
    t: float,
    width: int,
    height: int,
    *,
    exe: str,
    timeout: float,
    name: str,
    source: str,
) -> bytes | None:
    """One seeked decode writes the JPEG and a tiny luma plane; None when no frame is there."""
    gray_name = ".poster.gray"
    stage = input_stage(info, size=(width, height))
    graph = (
        f"{source_pad(info)}{stage.chain(f'scale={width}:{height}', 'setsar=1')},split=2[jpg][g];"
        f"[g]scale={_GRAY_W}:{_GRAY_H},format=gray[gray]"
    )
    args = [
        "-ss", f"{t:.3f}", *stage.input_args, *source_input(source), "-filter_complex", graph,
        "-map", "[jpg]", "-frames:v", "1", "-q:v", "3", "-update", "1", name,
        "-map", "[gray]", "-frames:v", "1", "-f", "rawvideo", gray_name,
    ]  # fmt: skip
    run_ffmpeg(args, exe=exe, timeout=timeout, cwd=work_dir, error_code="ThumbnailFailed",
               what="Poster extraction")  # fmt: skip
    gray_path = work_dir / gray_name
    try:
        data = gray_path.read_bytes()
    except FileNotFoundError:
        return None
    finally:
        gray_path.unlink(missing_ok=True)
    if not data or not (work_dir / name).is_file():
        return None
    return data


@dataclass(frozen=True)
class StoryboardPlan:
    """Sprite layout: one tile every `interval` seconds, `columns` per row."""

    interval: float
    count: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    first: float = 0.5  # time of the first tile: mid-interval, or mid-clip for clips under 1 s

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


def plan_storyboard(info: ProbeResult) -> StoryboardPlan:
    """At most 100 tiles, at least one second apart, 160 px on the long side."""
    interval = max(1.0, info.duration / STORYBOARD_MAX_TILES)
    count = max(1, min(STORYBOARD_MAX_TILES, math.ceil(info.duration / interval - 1e-6)))
    columns = min(STORYBOARD_COLUMNS, count)
    rows = math.ceil(count / columns)
    tw, th = fit_box(info.width, info.height, TILE_BOX)
    # Mid-interval, but never past the middle of the clip: a 0.4 s clip still gets its tile.
    first = round(min(interval, info.duration) / 2, 3)
    return StoryboardPlan(round(interval, 3), count, columns, rows, tw, th, first)


def storyboard_filter(plan: StoryboardPlan, input_label: str, output_label: str) -> str:
    """Filter chain picking one frame per interval (mid-interval) and tiling them into a sprite.

    `selected_n` counts frames already taken, so a gap in a variable-frame-rate source is
    caught up instead of shifting every later tile.
    """
    return (
        f"[{input_label}]select='gte(t\\,{plan.first:.3f}+selected_n*{plan.interval:.3f})',"
        f"scale={plan.tile_width}:{plan.tile_height},setsar=1,"
        f"tile={plan.columns}x{plan.rows}[{output_label}]"
    )


def storyboard_vtt(plan: StoryboardPlan, duration: float, sprite_url: str) -> str:
    """WebVTT index: each cue points at its tile with a `#xywh=` media fragment."""
    lines = ["WEBVTT", ""]
    for i in range(plan.count):
        start = i * plan.interval
        end = min(duration, (i + 1) * plan.interval)
        if end <= start:
            break
        x = (i % plan.columns) * plan.tile_width
        y = (i // plan.columns) * plan.tile_height
        lines += [
            f"{vtt_time(start)} --> {vtt_time(end)}",
            f"{sprite_url}#xywh={x},{y},{plan.tile_width},{plan.tile_height}",
            "",
        ]
    return "\n".join(lines)


def vtt_time(seconds: float) -> str:
    """HH:MM:SS.mmm as WebVTT wants it."""
    ms = round(max(0.0, seconds) * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
