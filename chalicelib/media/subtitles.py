"""Speech to text with faster-whisper: WebVTT + SRT, detected language and word count.

How a run goes (`transcribe_samples`; measured in bench/bench_whisper.py, issue 17):
- Silero VAD finds the speech; nothing found (silence, music, tones) means no Whisper run at all;
- adjacent speech chunks share a window of at most 30 s of the original timeline (Whisper's
  encoder reads 30 s whatever the input length); everything outside the chunks is silenced;
- faster-whisper's BatchedInferencePipeline encodes and decodes the windows as one batch: greedy
  (beam search 5 measured 17 % more CPU and 50 word errors instead of 43 in 889 words over the
  fixture and six re-arrangements of its sentences), in text mode (with timestamp tokens the
  model often stops early in a full window and the batched decoder takes no second look: whole
  sentences went missing), with word timestamps, which time the cues;
- the language comes from the encoder runs themselves (`VotingWhisperModel`), not from an extra
  encoder run (it was 1 of 3 on a minute of speech), and each window is decoded in its own;
- a window whose text looks like a loop or a guess (Whisper's own thresholds) is decoded again
  by the sequential decoder, with beam search and temperature fallback;
- the words become short cues: one per sentence or pause, cut further when too long to read.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.media.errors import MediaError
from chalicelib.media.probe import source_input
from chalicelib.media.thumbnails import vtt_time

VTT_NAME = "subtitles.vtt"
SRT_NAME = "subtitles.srt"
TRANSCRIPT_NAME = "transcript.json"

_models: dict[tuple[str, int], Any] = {}
_models_lock = threading.Lock()


@dataclass(frozen=True)
class Cue:
    """One subtitle cue; `words` are its words' (start, end, text), when they were timed."""

    start: float
    end: float
    text: str
    words: tuple[tuple[float, float, str], ...] = ()


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


SAMPLE_RATE = 16000
# Whisper's encoder always reads 30 s (shorter input is padded): a window is at most this long.
WINDOW_SECONDS = 30.0
# Silero VAD as faster-whisper runs it, except that a chunk ends after 0.5 s of silence (default
# 2 s), so windows can be cut between sentences, and that a chunk (padded by 0.4 s each side)
# always fits in one window.
VAD_MIN_SILENCE_MS = 500
VAD_MAX_SPEECH_SECONDS = 28.0
# Readable cues: two lines of 42 characters, at most 7 s on screen, a new cue after a sentence
# or a pause; longer ones are split between words (after a comma where there is one).
MAX_CUE_CHARS = 84
MAX_CUE_SECONDS = 7.0
CUE_PAUSE_SECONDS = 0.8
_SENTENCE_END = (".", "?", "!", "\u3002", "\uff1f", "\uff01")
_CLAUSE_END = (",", ";", ":", "\uff0c", "\u3001")
# Titles and common abbreviations whose full stop ends no sentence.
_ABBREVIATIONS = frozenset(
    ("mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "mt.", "jr.", "sr.", "vs.", "e.g.", "i.e.")
)
# Whisper's own thresholds: "this window was no speech" (its sequential decoder skips the
# window), and "this text is a loop or a guess" (it decodes the window again, hotter).
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
MAX_COMPRESSION_RATIO = 2.4


@dataclass(frozen=True)
class Word:
    """One heard word, times in seconds of the samples given to `transcribe_samples`."""

    start: float
    end: float
    text: str


@dataclass
class Heard:
    """What Whisper heard in a run of samples: words grouped as cues, and the language."""

    cues: list[list[Word]] = field(default_factory=list)
    language: str | None = None
    language_probability: float | None = None


@dataclass
class _Loaded:
    """A cached model, its batched pipeline, and the lock that keeps one run at a time on them
    (CTranslate2 serves one call at a time per model replica anyway; the pipeline keeps state
    between its batches)."""

    model: Any
    batched: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


@functools.cache
def _voting_model_class() -> Any:
    from faster_whisper import WhisperModel

    class VotingWhisperModel(WhisperModel):
        """WhisperModel whose encoder runs also tell the language, from the encoder output they
        just computed (one decoder step), while a run collects `votes.current`: the language
        costs no encoder run of its own (it was 1 of 3 on a minute of speech)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.votes = threading.local()

        def encode(self, features: Any) -> Any:
            output = super().encode(features)
            votes = getattr(self.votes, "current", None)
            if votes is not None:
                for ranked in self.model.detect_language(output):
                    token, probability = ranked[0]
                    votes.append((token[2:-2], float(probability)))
            return output

    return VotingWhisperModel


def _load(model: str, cpu_threads: int) -> _Loaded:
    from faster_whisper import BatchedInferencePipeline

    key = (model, cpu_threads)
    with _models_lock:
        if key not in _models:
            # int8 on CPU: ~4x less memory than float32 at the same accuracy for the base model.
            whisper = _voting_model_class()(
                model, device="cpu", compute_type="int8", cpu_threads=cpu_threads
            )
            _models[key] = _Loaded(whisper, BatchedInferencePipeline(whisper))
        return _models[key]


def speech_windows(samples: Any) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Silero VAD's speech chunks (sample ranges) and the windows (<= 30 s of the original
    timeline, pauses included) that adjacent chunks are grouped into."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        min_silence_duration_ms=VAD_MIN_SILENCE_MS, max_speech_duration_s=VAD_MAX_SPEECH_SECONDS
    )
    chunks = [(c["start"], c["end"]) for c in get_speech_timestamps(samples, options)]
    windows: list[tuple[int, int]] = []
    limit = int(WINDOW_SECONDS * SAMPLE_RATE)
    for start, end in chunks:
        if windows and end - windows[-1][0] <= limit:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, min(end, start + limit)))
    return chunks, windows


def _language(votes: list[tuple[str, float]]) -> tuple[str, float]:
    """The language most windows were heard in, and its best probability."""
    by_language: dict[str, list[float]] = {}
    for language, probability in votes:
        by_language.setdefault(language, []).append(probability)
    best = max(by_language, key=lambda k: (len(by_language[k]), max(by_language[k])))
    return best, max(by_language[best])


def transcribe_samples(samples: Any, model: str, *, cpu_threads: int = 1) -> Heard:
    """Speech in mono 16 kHz float32 samples: words (times relative to the samples) grouped as
    cues, and the language; no speech gives an empty `Heard` without running Whisper."""
    import numpy as np

    chunks, windows = speech_windows(samples)
    if not windows:
        return Heard()
    masked = np.zeros_like(samples)
    for start, end in chunks:
        masked[start:end] = samples[start:end]
    loaded = _load(model, cpu_threads)
    multilingual = bool(loaded.model.model.is_multilingual)
    votes: list[tuple[str, float]] = []
    words: list[list[Word]] = []
    with loaded.lock:
        loaded.model.votes.current = votes
        try:
            for window, segment in _batched(loaded, masked, windows, multilingual):
                if segment.no_speech_prob > NO_SPEECH_PROB and segment.avg_logprob < LOW_LOGPROB:
                    continue  # what Whisper's own decoder does with such a window: skip it
                if (
                    segment.compression_ratio > MAX_COMPRESSION_RATIO
                    or segment.avg_logprob < LOW_LOGPROB
                ):
                    words += _redo(loaded, masked, window, multilingual)
                else:
                    words.append([_word(w, 0.0) for w in segment.words or [] if w.word.strip()])
        finally:
            loaded.model.votes.current = None
    heard = Heard([cue for heard_words in words for cue in split_cues(heard_words)])
    if heard.cues:
        language, probability = _language(votes) if multilingual and votes else ("en", 1.0)
        heard.language, heard.language_probability = language, probability
    return heard


def _word(word: Any, offset: float) -> Word:
    return Word(word.start + offset, word.end + offset, word.word)


def _batched(
    loaded: _Loaded, masked: Any, windows: list[tuple[int, int]], multilingual: bool
) -> list[tuple[tuple[int, int], Any]]:
    """The windows as one batch, greedy: (window, segment) pairs (text mode gives one segment
    per window)."""
    clips = [{"start": s / SAMPLE_RATE, "end": e / SAMPLE_RATE} for s, e in windows]
    # `language` only names the prompt's placeholder: with `multilingual` each window is
    # decoded in the language its own encoder output shows.
    segments, _ = loaded.batched.transcribe(
        masked,
        language="en",
        multilingual=multilingual,
        clip_timestamps=clips,
        beam_size=1,
        batch_size=8,
        without_timestamps=True,
        word_timestamps=True,
    )
    pairs = []
    for segment in segments:
        first = round(segment.start * SAMPLE_RATE)
        window = max((w for w in windows if w[0] <= first + SAMPLE_RATE // 10), default=windows[0])
        pairs.append((window, segment))
    return pairs


def _redo(
    loaded: _Loaded, masked: Any, window: tuple[int, int], multilingual: bool
) -> list[list[Word]]:
    """One window again with Whisper's sequential decoder (beam search 5, then higher
    temperatures while the text still looks like a loop or a guess): the batch's greedy pass
    has no such fallback."""
    start, end = window
    segments, _ = loaded.model.transcribe(
        masked[start:end],
        language="en",
        multilingual=multilingual,
        beam_size=5,
        condition_on_previous_text=False,
        word_timestamps=True,
    )
    offset = start / SAMPLE_RATE
    return [[_word(w, offset) for w in s.words or [] if w.word.strip()] for s in segments]


def _timed(words: list[Word]) -> tuple[tuple[float, float, str], ...]:
    return tuple((round(w.start, 3), round(w.end, 3), w.text) for w in words)


def _cue_text(words: list[Word]) -> str:
    return "".join(w.text for w in words).strip()


def _fits(words: list[Word]) -> bool:
    return (
        len(_cue_text(words)) <= MAX_CUE_CHARS and words[-1].end - words[0].start <= MAX_CUE_SECONDS
    )


def _ends_sentence(word: Word) -> bool:
    text = word.text.strip()
    return text.endswith(_SENTENCE_END) and text.lower() not in _ABBREVIATIONS


def _halves(words: list[Word]) -> list[list[Word]]:
    """A phrase too long for one cue, cut where the two sides are most even, a comma or a pause
    counting for two fifths of the text in evenness; each side again until every piece fits."""
    if len(words) < 2 or _fits(words):
        return [words]
    total = len(_cue_text(words))

    def cost(i: int) -> float:
        uneven = abs(len(_cue_text(words[:i])) - len(_cue_text(words[i:]))) / total
        clause = words[i - 1].text.rstrip().endswith(_CLAUSE_END)
        pause = words[i].start - words[i - 1].end >= CUE_PAUSE_SECONDS / 2
        return uneven - 0.4 * (clause or pause)

    cut = min(range(1, len(words)), key=cost)
    return _halves(words[:cut]) + _halves(words[cut:])


def split_cues(words: list[Word]) -> list[list[Word]]:
    """Words as readable cues: a new cue after each sentence and each pause of
    CUE_PAUSE_SECONDS; a phrase longer than MAX_CUE_CHARS or MAX_CUE_SECONDS is cut in even
    parts, at commas where that keeps them nearly even."""
    phrases: list[list[Word]] = []
    for word in words:
        if phrases and not (
            _ends_sentence(phrases[-1][-1]) or word.start - phrases[-1][-1].end >= CUE_PAUSE_SECONDS
        ):
            phrases[-1].append(word)
        else:
            phrases.append([word])
    return [cue for phrase in phrases for cue in _halves(phrase)]


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
    from chalicelib.media.ffmpeg import ffmpeg_exe

    # decoded by ffmpeg, confined like every open of a source (never faster-whisper's own
    # unconfined PyAV open), straight from the chosen track to 16 kHz mono samples
    samples = decode_audio(str(source), exe=exe or ffmpeg_exe(), timeout=600, track=audio_index)
    heard = transcribe_samples(samples, model, cpu_threads=cpu_threads)
    cues = [
        Cue(round(c[0].start, 3), round(c[-1].end, 3), _cue_text(c), _timed(c)) for c in heard.cues
    ]
    if not cues:
        return Transcript()
    return Transcript(cues, heard.language, round(float(heard.language_probability or 0.0), 3))


def decode_audio(
    source: str,
    *,
    exe: str,
    timeout: float,
    track: int = 0,
    start: float = 0.0,
    end: float | None = None,
) -> Any:
    """Mono 16 kHz float32 samples (numpy) of audio track `track` (`0:a:N`), all of it or
    [start, end), decoded by ffmpeg with the source confined (`probe.source_input`)."""
    import subprocess

    import numpy as np

    window = ["-ss", f"{start:.6f}"] if start else []
    window += ["-t", f"{end - start:.6f}"] if end is not None else []
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", *window,
           *source_input(source), "-map", f"0:a:{track}", "-ac", "1",
           "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError("Timeout", "Decoding the audio for speech timed out.") from None
    if proc.returncode != 0:
        raise MediaError("SubtitlesFailed", "The audio could not be decoded for speech.")
    return np.frombuffer(proc.stdout, dtype=np.float32)


def translate_samples(
    samples: Any, model: str, language: str, *, cpu_threads: int = 1
) -> list[Cue]:
    """Speech in `language` heard in mono 16 kHz samples, translated into English by Whisper's
    translate task (sequential decoder, beam search 5, over the VAD's speech only): cues timed
    by Whisper's segments (times relative to the samples)."""
    import numpy as np

    chunks, windows = speech_windows(samples)
    if not windows:
        return []
    masked = np.zeros_like(samples)
    for start, end in chunks:
        masked[start:end] = samples[start:end]
    clips = [t / SAMPLE_RATE for w in windows for t in w]
    loaded = _load(model, cpu_threads)
    with loaded.lock:
        segments, _ = loaded.model.transcribe(
            masked,
            task="translate",
            language=language,
            beam_size=5,
            condition_on_previous_text=False,
            clip_timestamps=clips,
        )
        cues = [
            Cue(round(seg.start, 3), round(seg.end, 3), seg.text.strip())
            for seg in segments
            if seg.text.strip()
        ]
    return cues


def translate(
    source: Path,
    model: str,
    language: str,
    *,
    cpu_threads: int = 1,
    audio_index: int = 0,
    exe: str | None = None,
) -> Transcript:
    """English subtitles of the speech (in `language`) of audio track `audio_index`, decoded
    by ffmpeg with the source confined, as `transcribe` does."""
    from chalicelib.media.ffmpeg import ffmpeg_exe

    samples = decode_audio(str(source), exe=exe or ffmpeg_exe(), timeout=600, track=audio_index)
    return Transcript(translate_samples(samples, model, language, cpu_threads=cpu_threads), "en")


def track_names(language: str) -> tuple[str, str]:
    """The VTT and SRT names of a translated track (`subtitles_en.vtt`, `subtitles_en.srt`)."""
    return f"subtitles_{language}.vtt", f"subtitles_{language}.srt"


def write_track(work_dir: Path, transcript: Transcript, language: str) -> tuple[str, str]:
    """Write a translated track's VTT and SRT into work_dir; returns their names."""
    vtt, srt = track_names(language)
    (work_dir / vtt).write_text(to_vtt(transcript.cues), encoding="utf-8")
    (work_dir / srt).write_text(to_srt(transcript.cues), encoding="utf-8")
    return vtt, srt


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


def to_document(transcript: Transcript) -> dict[str, Any]:
    """The transcript as data (`transcript.json`, served by `GET /videos/{id}/transcript`):
    `{"language", "segments": [{"start", "end", "text", "words": [{"start", "end", "word"}]}]}`,
    one segment per cue, word times from Whisper's word timestamps."""
    return {
        "language": transcript.language,
        "segments": [
            {
                "start": c.start,
                "end": c.end,
                "text": c.text,
                "words": [{"start": s, "end": e, "word": w.strip()} for s, e, w in c.words],
            }
            for c in transcript.cues
        ],
    }


def write_subtitles(work_dir: Path, transcript: Transcript) -> tuple[str, str, str]:
    """Write the files into work_dir; returns their names (VTT, SRT, the JSON document)."""
    (work_dir / VTT_NAME).write_text(to_vtt(transcript.cues), encoding="utf-8")
    (work_dir / SRT_NAME).write_text(to_srt(transcript.cues), encoding="utf-8")
    doc = json.dumps(to_document(transcript), ensure_ascii=False, separators=(",", ":"))
    (work_dir / TRANSCRIPT_NAME).write_text(doc, encoding="utf-8")
    return VTT_NAME, SRT_NAME, TRANSCRIPT_NAME
