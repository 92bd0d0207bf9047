"""Speech to text with faster-whisper: WebVTT + SRT, detected language and word count."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.media.thumbnails import vtt_time

VTT_NAME = "subtitles.vtt"
SRT_NAME = "subtitles.srt"

_models: dict[tuple[str, int], Any] = {}
_models_lock = threading.Lock()


@dataclass(frozen=True)
class Cue:
    """One subtitle cue."""

    start: float
    end: float
    text: str


@dataclass
class Transcript:
    """What was said: cues, detected language (None when nothing was said) and word count."""

    cues: list[Cue] = field(default_factory=list)
    language: str | None = None
    language_probability: float | None = None

    @property
    def word_count(self) -> int:
        return sum(len(c.text.split()) for c in self.cues)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {**asdict(self), "wordCount": self.word_count}


def load_model(model: str, cpu_threads: int) -> Any:
    """A cached WhisperModel: loading costs ~1 s, so a warm worker keeps it."""
    from faster_whisper import WhisperModel

    key = (model, cpu_threads)
    with _models_lock:
        if key not in _models:
            # int8 on CPU: ~4x less memory than float32 at the same accuracy for the base model.
            _models[key] = WhisperModel(
                model, device="cpu", compute_type="int8", cpu_threads=cpu_threads
            )
        return _models[key]


def transcribe(
    source: Path,
    model: str,
    *,
    cpu_threads: int = 1,
    audio_index: int = 0,
    exe: str | None = None,
) -> Transcript:
    """Transcribe audio track `audio_index` (among the audio streams; the one the renditions
    carry) of `source`; silence or music gives an empty transcript."""
    if audio_index:  # Whisper's decoder reads the first track: hand it the chosen one
        from chalicelib.media.ffmpeg import ffmpeg_exe, run_ffmpeg

        wav = source.with_name(f"{source.name}.track{audio_index}.wav")
        args = ["-i", str(source), "-map", f"0:a:{audio_index}", "-vn", "-ac", "1"]
        run_ffmpeg(
            [*args, "-ar", "16000", "-c:a", "pcm_s16le", str(wav)],
            exe=exe or ffmpeg_exe(),
            timeout=600,
            cwd=source.parent,
            error_code="SubtitlesFailed",
            what="Extracting the audio track",
        )
        try:
            return transcribe(wav, model, cpu_threads=cpu_threads)
        finally:
            wav.unlink(missing_ok=True)
    whisper = load_model(model, cpu_threads)
    # The VAD drops non-speech before decoding: faster on sparse speech, and no hallucinated
    # captions over music or silence.
    segments, info = whisper.transcribe(
        str(source), beam_size=5, vad_filter=True, condition_on_previous_text=False
    )
    cues = [
        Cue(round(s.start, 3), round(s.end, 3), s.text.strip())
        for s in segments
        if s.text and s.text.strip()
    ]
    if not cues:
        return Transcript()
    return Transcript(cues, info.language, round(float(info.language_probability), 3))


def to_vtt(cues: list[Cue]) -> str:
    """WebVTT document."""
    lines = ["WEBVTT", ""]
    for c in cues:
        lines += [f"{vtt_time(c.start)} --> {vtt_time(c.end)}", c.text, ""]
    return "\n".join(lines)


def to_srt(cues: list[Cue]) -> str:
    """SubRip document (comma before milliseconds, numbered cues)."""
    lines: list[str] = []
    for i, c in enumerate(cues, start=1):
        start = vtt_time(c.start).replace(".", ",")
        end = vtt_time(c.end).replace(".", ",")
        lines += [str(i), f"{start} --> {end}", c.text, ""]
    return "\n".join(lines)


def write_subtitles(work_dir: Path, transcript: Transcript) -> tuple[str, str]:
    """Write both files into work_dir; returns their names (VTT, SRT)."""
    (work_dir / VTT_NAME).write_text(to_vtt(transcript.cues), encoding="utf-8")
    (work_dir / SRT_NAME).write_text(to_srt(transcript.cues), encoding="utf-8")
    return VTT_NAME, SRT_NAME
