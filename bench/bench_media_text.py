"""Issue 26 part B costs: transcript search, and the cut an exact clip adds to its processing.

1. `GET /videos/{id}/transcript?q=` work on a one-hour transcript (~9,000 words in ~1,200
   segments): JSON parse + search, p50 over 50 runs (what the route does after reading the
   document from the media store).
2. The cut of an exact clip (media/filters.trim_args) on a 1080p25 x264 source, 10 s of 20 s:
   the one-pass cut (x264 qp 0 + FLAC to Matroska), the segmented path's streamed cut (x264
   qp 0 + PCM, fragmented QuickTime) and FFV1 (what a 10-bit, 4:2:2 or alpha source gets),
   against a baseline measured in the same run: decoding the same range (`-ss` + `-t` to the
   null muxer), which any cut must do at least.

    .venv/bin/python bench/bench_media_text.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.api.media_text import search
from chalicelib.media import filters, probe
from chalicelib.media.ffmpeg import ffmpeg_exe

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "people",
    "talk",
    "about",
    "kubernetes",
]


def transcript_hour() -> dict[str, object]:
    segments, t = [], 0.0
    for i in range(1200):
        words = []
        for k in range(8):
            w = WORDS[(i * 7 + k * 3) % len(WORDS)]
            words.append({"start": round(t, 3), "end": round(t + 0.3, 3), "word": w})
            t += 0.375
        text = " ".join(w["word"] for w in words) + "."
        segments.append({"start": words[0]["start"], "end": words[-1]["end"], "text": text,
                         "words": words})  # fmt: skip
    return {"language": "en", "segments": segments}


def bench_search() -> None:
    text = json.dumps(transcript_hour())
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        found = search(json.loads(text), "kube")
        times.append(time.perf_counter() - t0)
    words = sum(len(s["words"]) for s in json.loads(text)["segments"])
    print(f"search: {words} words, {len(text) / 1e6:.1f} MB JSON, {len(found)} matches, "
          f"p50 {statistics.median(times) * 1000:.1f} ms (parse + search)")  # fmt: skip


def timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_cut() -> None:
    exe = ffmpeg_exe()
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "src.mp4"
        subprocess.run([exe, "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc2=s=1920x1080:r=25:d=20", "-f", "lavfi", "-i", "sine=d=20",
                        "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-pix_fmt", "yuv420p",
                        "-c:a", "aac", "-shortest", str(src)], check=True)  # fmt: skip
        info = probe.probe(src, max_duration=3600, exe=exe)
        start, end = 5.0, 15.0
        base = [exe, "-y", "-loglevel", "error", "-nostdin"]
        decode = timed([*base, "-ss", str(start), "-i", str(src), "-t", str(end - start),
                        "-f", "null", "-"])  # fmt: skip
        out = Path(d) / "cut.mkv"
        one_pass = timed([*base, *filters.trim_args(info, start, end, str(src), str(out))])
        streamed_args = filters.trim_args(info, start, end, str(src))
        mov = Path(d) / "cut.mov"
        streamed = timed([*base, *streamed_args[:-1], str(mov)])
        ffv1 = Path(d) / "ffv1.mkv"
        as_10bit = replace(info, pix_fmt="yuv420p10le")  # takes the FFV1 branch
        ffv1_s = timed([*base, *filters.trim_args(as_10bit, start, end, str(src), str(ffv1))])
        print(f"cut 10 s of 1080p25: decode-only baseline {decode:.2f} s; one-pass cut "
              f"{one_pass:.2f} s = {one_pass / decode:.1f}x, {out.stat().st_size / 1e6:.0f} MB; "
              f"segmented cut {streamed:.2f} s = {streamed / decode:.1f}x, "
              f"{mov.stat().st_size / 1e6:.0f} MB; FFV1 {ffv1_s:.2f} s = {ffv1_s / decode:.1f}x, "
              f"{ffv1.stat().st_size / 1e6:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    print("(shared 2-core machine, several engineers at work: figures are noisy)")
    bench_search()
    bench_cut()
