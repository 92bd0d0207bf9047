"""Test clips made by the pinned ffmpeg (imageio-ffmpeg): a test pattern, optionally with a
440 Hz tone, H.264/AAC in MP4. One maker for the smoke test, the rehearsal and the tests
(videocli is never in the Lambda bundle, so none of them pulls test code into it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

RATE = 25  # frames per second


def make_clip(
    path: Path,
    seconds: float = 2,
    size: str = "320x180",
    *,
    audio: bool = True,
    gop: int | None = None,
) -> Path:
    """Write a `seconds` long `size` clip to `path` (with a tone unless `audio` is False; a
    keyframe every `gop` frames when given) and return `path`."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={RATE}:duration={seconds}"]  # fmt: skip
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", *(["-g", str(gop)] if gop else [])]
    cmd += ["-shortest", str(path)]
    subprocess.run(cmd, check=True, timeout=120)
    return path
