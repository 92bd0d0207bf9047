"""Images rendered on demand from a completed run: a frame at a time, an animated preview.

Both read the run's top MP4 rendition (2 s GOPs, `+faststart`), never the source: an input seek
(`-ss` before `-i`) jumps to the keyframe before `time` and decodes at most one GOP, so a 1080p
frame costs one short ffmpeg run. The caller (chalicelib/tasks/render.py) has validated every
number; this module only turns a spec into ffmpeg arguments and runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chalicelib.media.errors import MediaError
from chalicelib.media.ffmpeg import run_ffmpeg
from chalicelib.media.probe import source_input

FITS = ("contain", "cover", "fill", "pad")
_ENCODERS = {
    "jpg": ["-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p", "-f", "image2"],
    "png": ["-c:v", "png", "-f", "image2"],
    "webp": ["-c:v", "libwebp", "-quality", "80", "-f", "webp"],
}


@dataclass(frozen=True)
class FrameSpec:
    time: float
    width: int | None
    height: int | None
    fit: str
    format: str  # jpg | png | webp


@dataclass(frozen=True)
class AnimationSpec:
    start: float
    end: float
    width: int
    fps: int
    format: str  # webp | gif


def scale_filter(width: int | None, height: int | None, fit: str) -> str:
    """The filter chain that fits a frame into `width` x `height` (either may be left out:
    the other follows the aspect ratio; neither: the rendition's own size)."""
    square = "setsar=1"
    if width is None and height is None:
        return square
    if width is None or height is None:
        w = -1 if width is None else width
        h = -1 if height is None else height
        return f"scale={w}:{h}:flags=bicubic,{square}"
    box = f"scale={width}:{height}:flags=bicubic"
    if fit == "fill":
        return f"{box},{square}"
    if fit == "cover":
        return f"{box}:force_original_aspect_ratio=increase,crop={width}:{height},{square}"
    contain = f"{box}:force_original_aspect_ratio=decrease"
    if fit == "pad":
        return f"{contain},pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:black,{square}"
    return f"{contain},{square}"


def render_frame(source: str, spec: FrameSpec, out: Path, *, exe: str, timeout: float) -> None:
    """Write the frame shown at `spec.time` (the first one at or after it), scaled, to `out`.
    Near the end, where no frame starts at or after `time`, the last frame is taken."""
    vf = scale_filter(spec.width, spec.height, spec.fit)
    encode = _ENCODERS[spec.format]
    args = ["-ss", f"{spec.time:.3f}", *source_input(source), "-map", "0:v:0", "-an", "-sn", "-dn",
            "-vf", vf, "-frames:v", "1", *encode, str(out)]  # fmt: skip
    run_ffmpeg(args, exe=exe, timeout=timeout, error_code="RenderFailed", what="thumbnail")
    if out.is_file() and out.stat().st_size > 0:
        return
    # Past the last frame's start: decode the last second and keep the last frame.
    args = ["-ss", f"{max(0.0, spec.time - 1.0):.3f}", *source_input(source), "-map", "0:v:0",
            "-an", "-vf", vf, "-update", "1", *encode, str(out)]  # fmt: skip
    run_ffmpeg(args, exe=exe, timeout=timeout, error_code="RenderFailed", what="thumbnail")
    if not out.is_file() or out.stat().st_size == 0:
        raise MediaError("RenderFailed", "no frame at that time")


def render_animation(
    source: str, spec: AnimationSpec, out: Path, *, exe: str, timeout: float
) -> None:
    """An animated preview of `[start, end)` at `fps`, `width` wide, looping."""
    base = f"fps={spec.fps},scale={spec.width}:-2:flags=lanczos,setsar=1"
    if spec.format == "gif":
        graph = f"[0:v:0]{base},split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse"
        encode = ["-loop", "0", "-f", "gif"]
    else:
        graph = f"[0:v:0]{base}"
        encode = ["-c:v", "libwebp_anim", "-quality", "70", "-loop", "0", "-f", "webp"]
    args = ["-ss", f"{spec.start:.3f}", "-t", f"{spec.end - spec.start:.3f}", *source_input(source),
            "-filter_complex", graph, "-an", *encode, str(out)]  # fmt: skip
    run_ffmpeg(args, exe=exe, timeout=timeout, error_code="RenderFailed", what="animation")
    if not out.is_file() or out.stat().st_size == 0:
        raise MediaError("RenderFailed", "the range holds no frame")
