"""Content analysis.

1. Signals from a downscaled copy of the picture and the chosen audio track: scene cuts
   (`scdet`), black segments (`blackdetect`), silences (`silencedetect`), loudness (`ebur128`,
   integrated LUFS), plus the storyboard sprite (thumbnails.py plans it). They run as a branch
   of the ladder's own filter graph (`SignalTap`), after the input stage, so the source is
   decoded once for the renditions and the analysis together.
2. Vision on one frame per scene (capped): faces with OpenCV Haar cascades, on-screen text with
   rapidocr. The frames come from the top rendition once it is written (upright, tone-mapped,
   deinterlaced, BT.709 like every rendition, and a keyframe at most 2 s (fixed ladder) or 4 s
   (per-title) before any time), each
   one seeked ffmpeg decode into raw BGR (no JPEG round trip).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.media.ffmpeg import run_ffmpeg
from chalicelib.media.filters import input_stage, source_pad
from chalicelib.media.probe import ProbeResult, source_input
from chalicelib.media.thumbnails import (
    STORYBOARD_NAME,
    StoryboardPlan,
    storyboard_filter,
)

ANALYSIS_WIDTH = 320  # scene/black detection is as good on a small picture and far cheaper
SCENE_THRESHOLD = 10.0  # scdet score 0-100
BLACK_MIN_SECONDS = 0.3
BLACK_PIXEL_THRESHOLD = 0.10
SILENCE_NOISE_DB = -50
SILENCE_MIN_SECONDS = 0.5
VISION_MAX_FRAMES = 12
OCR_WIDTH = 960  # small captions and timecodes vanish at 640 px
FACE_WIDTH = 640  # Haar cascades: 640 px finds faces down to ~32 px at ~16 ms a frame
FRAME_TIMEOUT_SECONDS = 60.0  # one seeked frame grab for vision
OCR_MIN_CONFIDENCE = 0.7  # below this rapidocr mostly reads texture as text
# Below this the Haar cascade mostly reads texture as a face: measured 0.0-0.73 on a fractal
# zoom (the scenes fixture, source and its CRF 23 rendition), 0.86-0.88 on a real face (the
# astronaut fixture at 320 and 640 px).
FACE_MIN_CONFIDENCE = 0.75
# A "line" taller than half the frame is a photo edge or texture read as a glyph, not text.
OCR_MAX_LINE_HEIGHT = 0.5

_SCDET = re.compile(r"lavfi\.scd\.score:\s*([\d.]+),\s*lavfi\.scd\.time:\s*([\d.]+)")
_BLACK = re.compile(r"black_start:\s*([\d.]+)\s+black_end:\s*([\d.]+)\s+black_duration:\s*([\d.]+)")
_SIL_START = re.compile(r"silence_start:\s*(-?[\d.]+)")
_SIL_END = re.compile(r"silence_end:\s*(-?[\d.]+)\s*\|\s*silence_duration:\s*([\d.]+)")
_LUFS = re.compile(r"^\s*I:\s*(-?[\d.]+|-inf|nan)\s*LUFS", re.MULTILINE)
_LRA = re.compile(r"^\s*LRA:\s*(-?[\d.]+)\s*LU\b", re.MULTILINE)
_PEAK = re.compile(r"^\s*Peak:\s*(-?[\d.]+|-inf)\s*dBFS", re.MULTILINE)


@dataclass
class Signals:
    """Results of the one-pass signal analysis (times in seconds)."""

    scenes: list[dict[str, float]] = field(default_factory=list)  # {start, end, confidence}
    cuts: list[dict[str, float]] = field(default_factory=list)  # {time, score}
    black_segments: list[dict[str, float]] = field(default_factory=list)
    silences: list[dict[str, float]] = field(default_factory=list)
    loudness: dict[str, Any] | None = None
    storyboard_written: bool = False


def _r(x: float) -> float:
    return round(float(x), 3)


def parse_signals(log: str, duration: float, has_audio: bool) -> Signals:
    """Turn the ffmpeg log of the analysis pass into structured results."""
    out = Signals()
    for m in _SCDET.finditer(log):
        t, score = float(m.group(2)), float(m.group(1))
        if 0 < t < duration:
            out.cuts.append({"time": _r(t), "score": _r(score)})
    out.cuts.sort(key=lambda c: c["time"])
    bounds = [0.0] + [c["time"] for c in out.cuts] + [duration]
    for i in range(len(bounds) - 1):
        # The confidence of a scene is the score of the cut that opened it (the start: 1.0).
        conf = 1.0 if i == 0 else min(1.0, out.cuts[i - 1]["score"] / 100 * 2)
        out.scenes.append(
            {"start": _r(bounds[i]), "end": _r(bounds[i + 1]), "confidence": _r(conf)}
        )
    for m in _BLACK.finditer(log):
        out.black_segments.append(
            {"start": _r(float(m.group(1))), "end": _r(float(m.group(2))),
             "duration": _r(float(m.group(3)))}
        )  # fmt: skip
    if has_audio:
        open_start: float | None = None
        for line in log.splitlines():
            if (ms := _SIL_START.search(line)) is not None:
                open_start = max(0.0, float(ms.group(1)))
            elif (me := _SIL_END.search(line)) is not None:
                end = float(me.group(1))
                start = open_start if open_start is not None else end - float(me.group(2))
                out.silences.append(
                    {"start": _r(start), "end": _r(end), "duration": _r(end - start)}
                )
                open_start = None
        if open_start is not None and duration - open_start >= SILENCE_MIN_SECONDS:
            out.silences.append(
                {
                    "start": _r(open_start),
                    "end": _r(duration),
                    "duration": _r(duration - open_start),
                }
            )
        out.loudness = _loudness(log)
    return out


def _num(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return round(value, 1) if math.isfinite(value) else None


def _loudness(log: str) -> dict[str, Any] | None:
    summary = log[log.rfind("Summary:") :] if "Summary:" in log else ""
    if not summary:
        return None
    i = _LUFS.search(summary)
    lra = _LRA.search(summary)
    peak = _PEAK.search(summary)
    return {
        # None when the whole track is below the gate (digital silence): "-inf" is no number.
        "integratedLufs": _num(i.group(1) if i else None),
        "loudnessRangeLu": _num(lra.group(1) if lra else None),
        "truePeakDbfs": _num(peak.group(1) if peak else None),
        "standard": "EBU R128",
    }


def detectors() -> str:
    """The picture detectors' filters (black runs, then scene cuts), as every analysis runs them:
    the one-pass `SignalTap` and a segment's window (segments.SegmentTap)."""
    return (
        f"blackdetect=d={BLACK_MIN_SECONDS}:pix_th={BLACK_PIXEL_THRESHOLD},"
        f"scdet=threshold={SCENE_THRESHOLD}"
    )


def analysis_size(info: ProbeResult) -> tuple[int, int]:
    """The small picture the detectors look at: ANALYSIS_WIDTH wide at most, even sides."""
    w = min(ANALYSIS_WIDTH, info.width - info.width % 2)
    return w, max(2, round(info.height * w / info.width / 2) * 2)


@dataclass(frozen=True)
class SignalTap:
    """The analysis as a branch of another filter graph (the ladder's, see transcode.py).

    `chains(video, audio)` takes the label of a picture that has been through the input stage
    (any size: it is scaled down here) and, when the source has sound, the label of a copy of
    the audio track; `output_args()` maps the detectors to the null muxer and writes the
    storyboard sprite. The log of that ffmpeg run then carries every result `parse_signals`
    reads, so the analysis costs no decode of its own.
    """

    info: ProbeResult
    storyboard: StoryboardPlan | None = None

    @property
    def raw(self) -> bool:
        """It reads the pictures the rungs are made from (after the input stage)."""
        return False

    @property
    def takes_audio(self) -> bool:
        """It measures the sound too (silences, loudness)."""
        return True

    def chains(self, video: str, audio: str | None) -> list[str]:
        """Filter chains consuming [video] (and [audio]); outputs [sigout] (and [sprite])."""
        w, h = analysis_size(self.info)
        n = 2 if self.storyboard else 1
        out = [
            f"[{video}]scale={w}:{h},split={n}[sig]" + ("[sb]" if self.storyboard else ""),
            f"[sig]{detectors()}[sigout]",
        ]
        if self.storyboard:
            out.append(storyboard_filter(self.storyboard, "sb", "sprite"))
        if audio is not None:
            out.append(
                f"[{audio}]silencedetect=n={SILENCE_NOISE_DB}dB:d={SILENCE_MIN_SECONDS},"
                "ebur128=framelog=quiet:peak=true,anullsink"
            )
        return out

    def output_args(self) -> list[str]:
        """The outputs of the branch: detectors to the null muxer, the sprite to its JPEG."""
        # The detectors' frames go to the null muxer: they are read from the log, not kept.
        args = ["-map", "[sigout]", "-f", "null", "-"]
        if self.storyboard:
            args += ["-map", "[sprite]", "-frames:v", "1", "-q:v", "4", "-update", "1",
                     STORYBOARD_NAME]  # fmt: skip
        return args

    def read(self, log: str, work_dir: Path) -> Signals:
        """The results, from the log of the run that carried the branch."""
        signals = parse_signals(log, self.info.duration, self.info.has_audio)
        signals.storyboard_written = (
            bool(self.storyboard) and (work_dir / STORYBOARD_NAME).is_file()
        )
        return signals


def keyframe_times(scenes: list[dict[str, float]], limit: int = VISION_MAX_FRAMES) -> list[float]:
    """One time per scene (its middle, away from fades at the cut), the longest scenes first."""
    chosen = sorted(scenes, key=lambda s: s["end"] - s["start"], reverse=True)[:limit]
    return sorted(_r((s["start"] + s["end"]) / 2) for s in chosen)


def grab_frames(
    source: Path | str,
    info: ProbeResult,
    times: list[float],
    width: int,
    *,
    exe: str | None = None,
    timeout: float = FRAME_TIMEOUT_SECONDS,
    work_dir: Path | None = None,
) -> list[tuple[float, Any]]:
    """The frame at (or just after) each time as an upright BGR numpy array, `width` wide at most.

    ffmpeg decodes each one through the shared input stage (deinterlaced, tone-mapped, BT.709),
    so vision sees the colours the renditions show, turned by the display rotation like them.
    A time with no frame left (past the end) is skipped. `source` is a local file (its directory
    holds the frame being read, unless `work_dir` is given) or a URL (then `work_dir` is needed).
    """
    import numpy as np

    from chalicelib.media.ffmpeg import ffmpeg_exe

    out_w = min(width, info.width - info.width % 2)
    out_h = max(2, round(info.height * out_w / info.width / 2) * 2)
    stage = input_stage(info, size=(out_w, out_h))
    graph = source_pad(info) + stage.chain(f"scale={out_w}:{out_h}", "setsar=1", "format=bgr24")
    work = work_dir or Path(source).parent
    raw = work / ".vision-frame.bgr"
    frames: list[tuple[float, Any]] = []
    try:
        for t in times:
            raw.unlink(missing_ok=True)
            args = [
                "-ss", f"{t:.3f}", *stage.input_args, *source_input(source),
                "-filter_complex", graph + "[out]", "-map", "[out]", "-frames:v", "1",
                "-f", "rawvideo", raw.name,
            ]  # fmt: skip
            run_ffmpeg(args, exe=exe or ffmpeg_exe(), timeout=timeout, cwd=work,
                       error_code="AnalysisFailed", what="Frame extraction")  # fmt: skip
            data = raw.read_bytes() if raw.is_file() else b""
            if len(data) != out_w * out_h * 3:
                continue
            frames.append((t, np.frombuffer(data, np.uint8).reshape(out_h, out_w, 3).copy()))
    finally:
        raw.unlink(missing_ok=True)
    return frames


_engines: dict[str, Any] = {}
_engine_lock = threading.Lock()


def _face_detector() -> Any:
    import cv2

    with _engine_lock:
        if "faces" not in _engines:
            cascades = Path(cv2.__file__).parent / "data"  # = cv2.data.haarcascades (untyped)
            path = str(cascades / "haarcascade_frontalface_default.xml")
            clf = cv2.CascadeClassifier(path)
            if clf.empty():
                raise RuntimeError("OpenCV Haar cascade for faces is missing")
            _engines["faces"] = clf
        return _engines["faces"]


def _ocr_engine() -> Any:
    from rapidocr import RapidOCR

    with _engine_lock:
        if "ocr" not in _engines:
            # Text-angle classification off: on-screen text is upright and it costs a model run.
            _engines["ocr"] = RapidOCR(
                params={"Global.use_cls": False, "Global.log_level": "error"}
            )
        return _engines["ocr"]


def warm_vision() -> None:
    """Load the face and text engines now (they are cached per process): a caller starts this
    beside other work so that `analyse_vision` does not begin with seconds of imports and model
    loading. Best effort: a failure shows when `analyse_vision` runs (and is reported there)."""
    try:
        _face_detector()
        _ocr_engine()
    except Exception:  # noqa: S110 - reported by the vision stage itself
        pass


def detect_faces(img: Any) -> list[dict[str, float]]:
    """Frontal faces as boxes relative to the frame (0-1) with a cascade-derived confidence."""
    import cv2

    gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    h, w = gray.shape[:2]
    min_side = max(24, min(w, h) // 20)
    rects, _levels, weights = _face_detector().detectMultiScale3(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side),
        outputRejectLevels=True,
    )  # fmt: skip
    faces = []
    for (x, y, fw, fh), weight in zip(list(rects), list(weights), strict=False):
        # The last stage's weight is an unbounded margin; squash it into 0-1 for a confidence.
        conf = float(weight) / (abs(float(weight)) + 1.0) if weight > 0 else 0.0
        if conf < FACE_MIN_CONFIDENCE:
            continue
        faces.append(
            {"x": _r(x / w), "y": _r(y / h), "width": _r(fw / w), "height": _r(fh / h),
             "confidence": _r(conf)}
        )  # fmt: skip
    return faces


def detect_text(img: Any) -> list[dict[str, Any]]:
    """On-screen text lines with rapidocr: text, confidence and a relative bounding box."""
    result = _ocr_engine()(img)
    if result is None or not getattr(result, "txts", None):
        return []
    h, w = img.shape[:2]
    items = []
    for text, score, box in zip(result.txts, result.scores, result.boxes, strict=False):
        if float(score) < OCR_MIN_CONFIDENCE or not str(text).strip():
            continue
        xs = [float(p[0]) for p in box]
        ys = [float(p[1]) for p in box]
        box_h = (max(ys) - min(ys)) / h
        if box_h > OCR_MAX_LINE_HEIGHT:
            continue
        items.append(
            {"text": str(text), "confidence": _r(float(score)),
             "x": _r(min(xs) / w), "y": _r(min(ys) / h),
             "width": _r((max(xs) - min(xs)) / w), "height": _r(box_h)}
        )  # fmt: skip
    return items


def analyse_vision(
    source: Path | str,
    info: ProbeResult,
    scenes: list[dict[str, float]],
    *,
    faces: bool = True,
    text: bool = True,
    on_frame: Callable[[int], None] | None = None,
    exe: str | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Faces and text on one keyframe per scene (at most VISION_MAX_FRAMES frames)."""
    times = keyframe_times(scenes)
    import cv2

    frames = grab_frames(source, info, times, OCR_WIDTH, exe=exe, work_dir=work_dir)
    face_hits: list[dict[str, Any]] = []
    text_hits: list[dict[str, Any]] = []
    for i, (t, img) in enumerate(frames):
        if faces:
            h, w = img.shape[:2]
            small = img
            if w > FACE_WIDTH:
                small = cv2.resize(img, (FACE_WIDTH, max(2, round(h * FACE_WIDTH / w))),
                                   interpolation=cv2.INTER_AREA)  # fmt: skip
            found = detect_faces(small)
            if found:
                face_hits.append({"time": _r(t), "faces": found})
        if text:
            lines = detect_text(img)
            if lines:
                text_hits.append({"time": _r(t), "lines": lines})
        if on_frame:
            on_frame(i)
    return {"faces": face_hits, "text": text_hits, "framesAnalysed": [_r(t) for t, _ in frames]}
