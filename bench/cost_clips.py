"""Clips for the cost benchmark: film-like footage and a slide talk, both with speech.

- film: 1080p30 moving picture with grain and a scene change (testsrc2 then mandelbrot), speech;
- talk: four static slides of text (drawn with OpenCV's built-in Hershey font, so no system
  font is needed), one every quarter of the clip, over continuous speech.
Speech is the committed fixture looped to the clip's length.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "media" / "fixtures"
SPEECH_CANDIDATES = ("speech_dense_en.opus", "speech_en.opus")

SLIDES = (
    ("Quarterly review", "Revenue grew 12 percent", "Costs fell in every region"),
    ("Architecture", "One Lambda function per stage", "Step Functions drives the flow"),
    ("Results", "Encode once, share the audio", "Analysis rides the same decode"),
    ("Questions?", "Thank you for listening", "slides at example.com/talk"),
)


def speech_file() -> Path:
    """The densest committed speech fixture."""
    for name in SPEECH_CANDIDATES:
        if (FIXTURES / name).is_file():
            return FIXTURES / name
    raise FileNotFoundError("no speech fixture in tests/media/fixtures")


def _ffmpeg(exe: str, *args: str) -> None:
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    subprocess.run(cmd, check=True)


def _speech_input(seconds: float) -> list[str]:
    return ["-stream_loop", "-1", "-t", f"{seconds}", "-i", str(speech_file())]


ENCODE = [
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "128k", "-shortest",
]  # fmt: skip


def make_film(
    exe: str, out: Path, seconds: int, size: tuple[int, int] = (1920, 1080), *, fractal: bool = True
) -> Path:
    """Moving picture with grain, a scene change halfway, and speech. The second half is a
    fractal zoom, or (`fractal=False`, cheap to generate at 4K and for minutes) the moving
    test pattern again, mirrored."""
    w, h = size
    half = seconds // 2
    second = (
        f"mandelbrot=s={w}x{h}:r=30,trim=duration={seconds - half}"
        if fractal
        else f"testsrc2=s={w}x{h}:r=30:d={seconds - half},hflip"
    )
    _ffmpeg(
        exe,
        "-f", "lavfi", "-i", f"testsrc2=s={w}x{h}:r=30:d={half}",
        "-f", "lavfi", "-i", second,
        *_speech_input(seconds),
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0,noise=alls=4:allf=t[v]",
        "-map", "[v]", "-map", "2:a", *ENCODE, str(out),
    )  # fmt: skip
    return out


def make_talk(exe: str, out: Path, seconds: int, size: tuple[int, int] = (1920, 1080)) -> Path:
    """Four static text slides (a quarter of the clip each) over continuous speech."""
    import cv2
    import numpy as np

    w, h = size
    per = seconds / len(SLIDES)
    with tempfile.TemporaryDirectory(prefix="slides-") as tmp:
        inputs: list[str] = []
        for i, (title, *lines) in enumerate(SLIDES):
            img = np.full((h, w, 3), 245, np.uint8)
            cv2.rectangle(img, (0, 0), (w, h // 6), (120, 60, 20), -1)
            scale = h / 540
            font = cv2.FONT_HERSHEY_SIMPLEX
            white, ink = (255, 255, 255), (30, 30, 30)
            thick, thin = max(1, round(3 * scale)), max(1, round(2 * scale))
            cv2.putText(img, title, (w // 20, h // 9), font, 1.6 * scale, white, thick, cv2.LINE_AA)
            for j, line in enumerate(lines):
                at = (w // 12, h // 3 + j * h // 7)
                cv2.putText(img, line, at, font, 1.1 * scale, ink, thin, cv2.LINE_AA)
            path = Path(tmp) / f"slide{i}.png"
            cv2.imwrite(str(path), img)
            inputs += ["-loop", "1", "-framerate", "30", "-t", f"{per:.3f}", "-i", str(path)]
        n = len(SLIDES)
        graph = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
        _ffmpeg(exe, *inputs, *_speech_input(seconds), "-filter_complex", graph,
                "-map", "[v]", "-map", f"{n}:a", *ENCODE, str(out))  # fmt: skip
    return out
