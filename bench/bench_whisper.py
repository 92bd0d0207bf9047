"""Whisper cost and accuracy on speech-dense audio (`make bench-whisper`; issue 17).

On tests/media/fixtures/speech_dense_en.opus (57.7 s, eight sentences with 0.7-2 s pauses), in
one run, interleaved, best of N, for 1 and 2 threads:
 - old: the plain `WhisperModel.transcribe` as subtitles.transcribe called it until issue 17
   (`beam_size=5, vad_filter=True, condition_on_previous_text=False`), its segments as cues;
 - new: `chalicelib.media.subtitles.transcribe` (VAD windows of <= 30 s, one greedy batch, words
   as short cues).
Printed per row: wall and CPU seconds (user+sys of this process, all its threads), realtime
factor (media s / wall s), realtime per thread (that / threads), media seconds per CPU second
(the contention-proof per-thread figure), CPU-s per media second, word error rate against the
reference transcript, cue count, longest cue, and the worst distance from a sentence's start
to the nearest cue start. The goal: >= 8x realtime per thread, WER not worse than old.

Then, once and on 1 thread, WER pooled over the fixture and six re-arrangements of its eight
sentences (other order, other pauses): one sentence of the fixture flips between right and
wrong with the window it lands in, so the pooled figure is the steadier comparison.

Both models are loaded and warmed before any timing (a warm worker's case).
"""

from __future__ import annotations

import argparse
import functools
import random
import re
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "media" / "fixtures" / "speech_dense_en.opus"
REFERENCE = FIXTURE.with_suffix(".tsv")
MODES = ("old", "new")

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spoken(n: int) -> str:
    """An integer as English words (no "and"); 1100-1999 as a year is said: nineteen sixty nine."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if 1100 <= n < 2000 and n % 100:
        rest = n % 100
        return spoken(n // 100) + " " + (spoken(rest) if rest >= 10 else "oh " + _ONES[rest])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spoken(n % 100))
    if n < 1_000_000:
        return spoken(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + spoken(n % 1000))
    return " ".join(_ONES[int(d)] for d in str(n))


def normalise(text: str) -> str:
    """Lowercase words without punctuation, numbers as spoken ("4:15" and "4.15" -> "four
    fifteen", "12%" -> "twelve percent"), "Dr." -> "doctor"."""
    t = text.lower().replace("%", " percent ").replace("-", " ")
    t = re.sub(r"\bdr\b\.?", "doctor", t)
    t = re.sub(r"(\d)[:.](\d)", r"\1 \2", t)
    t = re.sub(r"\d+", lambda m: f" {spoken(int(m.group()))} ", t)
    t = re.sub(r"[^a-z' ]+", " ", t)
    return " ".join(t.split())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words) after `normalise` (jiwer)."""
    import jiwer

    ref, hyp = normalise(reference), normalise(hypothesis)
    if not hyp:
        return len(ref.split()), len(ref.split())
    out = jiwer.process_words(ref, hyp)
    return out.substitutions + out.deletions + out.insertions, len(ref.split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    errors, words = word_errors(reference, hypothesis)
    return errors / words


def reference() -> list[tuple[float, float, str]]:
    """(start, end, text) of each sentence of the fixture."""
    rows = REFERENCE.read_text(encoding="utf-8").splitlines()[1:]
    return [(float(s), float(e), t) for s, e, t in (r.split("\t") for r in rows)]


def whisper_model() -> str:
    from chalicelib.config import Settings
    from chalicelib.media.whisper_model import resolve_whisper_model

    settings = Settings.from_env()
    choice = resolve_whisper_model(settings.whisper_model, settings.data_dir)
    if choice.model is None:
        raise SystemExit(f"no Whisper model: {choice.reason}")
    return choice.model


_old_models: dict[tuple[str, int], Any] = {}


def transcribe(source: Path, model: str, threads: int, mode: str) -> list[tuple[float, float, str]]:
    """Cues (start, end, text) of `source` the old or the new way."""
    if mode == "new":
        from chalicelib.media import subtitles

        t = subtitles.transcribe(source, model, cpu_threads=threads)
        return [(c.start, c.end, c.text) for c in t.cues]
    from faster_whisper import WhisperModel

    key = (model, threads)
    if key not in _old_models:
        _old_models[key] = WhisperModel(
            model, device="cpu", compute_type="int8", cpu_threads=threads
        )
    segments, _ = _old_models[key].transcribe(
        str(source), beam_size=5, vad_filter=True, condition_on_previous_text=False
    )
    return [(s.start, s.end, s.text.strip()) for s in segments if s.text.strip()]


@functools.cache
def media_seconds(source: Path) -> float:
    from faster_whisper.audio import decode_audio

    return len(decode_audio(str(source), sampling_rate=16000)) / 16000


def measure(threads: int, mode: str, *, source: Path = FIXTURE, model: str | None = None) -> dict:
    """One transcription of the speech-dense fixture: times, realtime figures, WER and cues."""
    model = model or whisper_model()
    seconds = media_seconds(source)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    cues = transcribe(source, model, threads, mode)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    sentences = reference()
    starts = [c[0] for c in cues]
    return {
        "mode": mode,
        "threads": threads,
        "media_s": seconds,
        "wall_s": wall,
        "cpu_s": cpu,
        "realtime": seconds / wall,
        "realtime_per_thread": seconds / wall / threads,
        "media_s_per_cpu_s": seconds / cpu,
        "cpu_s_per_media_s": cpu / seconds,
        "wer": word_error_rate(" ".join(s[2] for s in sentences), " ".join(c[2] for c in cues)),
        "cues": len(cues),
        "longest_cue_s": max((c[1] - c[0] for c in cues), default=0.0),
        "worst_start_error_s": (
            max(min(abs(s - r[0]) for s in starts) for r in sentences) if starts else None
        ),
    }


def rearranged(samples: Any, seed: int) -> tuple[Any, str]:
    """The fixture's sentences in another order with other pauses (0.5-2 s): samples, text."""
    import numpy as np

    rate = 16000
    rng = random.Random(seed)
    sentences = reference()
    order = list(range(len(sentences)))
    rng.shuffle(order)
    parts = [np.zeros(int(rate * rng.uniform(0.3, 1.0)), np.float32)]
    for k in order:
        start, end, _ = sentences[k]
        parts.append(samples[int((start - 0.1) * rate) : int((end + 0.1) * rate)])
        parts.append(np.zeros(int(rate * rng.uniform(0.5, 2.0)), np.float32))
    return np.concatenate(parts), " ".join(sentences[k][2] for k in order)


def write_wav(path: Path, samples: Any) -> None:
    import numpy as np

    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())


def pooled_wer(model: str, arrangements: int) -> dict[str, tuple[int, int]]:
    """Word errors of each mode (1 thread) over the fixture and `arrangements` re-arrangements."""
    from faster_whisper.audio import decode_audio

    samples = decode_audio(str(FIXTURE), sampling_rate=16000)
    text = " ".join(s[2] for s in reference())
    totals = dict.fromkeys(MODES, (0, 0))
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(FIXTURE, text)]
        for seed in range(1, arrangements + 1):
            audio, said = rearranged(samples, seed)
            path = Path(tmp) / f"arrangement{seed}.wav"
            write_wav(path, audio)
            cases.append((path, said))
        for source, said in cases:
            for mode in MODES:
                heard = " ".join(c[2] for c in transcribe(source, model, 1, mode))
                errors, words = word_errors(said, heard)
                totals[mode] = (totals[mode][0] + errors, totals[mode][1] + words)
    return totals


def interleaved(model: str, thread_counts: list[int], repeat: int) -> dict[tuple[int, str], dict]:
    """Every (threads, mode) once per round, `repeat` rounds; wall and CPU each best of N."""
    for threads in thread_counts:  # load and warm every model first
        for mode in MODES:
            measure(threads, mode, model=model)
    best: dict[tuple[int, str], dict] = {}
    for _ in range(repeat):
        for threads in thread_counts:
            for mode in MODES:
                row = measure(threads, mode, model=model)
                key = (threads, mode)
                if key not in best:
                    best[key] = row
                else:  # best of N, wall and CPU each on their own
                    for field in ("wall_s", "cpu_s"):
                        best[key][field] = min(best[key][field], row[field])
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument(
        "--arrangements", type=int, default=6, help="re-arrangements for the pooled WER (0: skip)"
    )
    args = parser.parse_args()
    model = whisper_model()
    thread_counts = [int(t) for t in args.threads.split(",")]
    print(f"fixture: {FIXTURE.relative_to(ROOT)} ({media_seconds(FIXTURE):.1f} s); model: {model}")
    best = interleaved(model, thread_counts, args.repeat)
    header = (
        f"{'mode':4} {'thr':>3} {'wall s':>7} {'CPU s':>6} {'RTF':>5} {'RTF/thr':>7} "
        f"{'media s/CPU s':>13} {'CPU s/media s':>13} {'WER':>6} {'cues':>4} "
        f"{'longest':>7} {'start err':>9}"
    )
    print(f"\nbest of {args.repeat}, interleaved (old and new, {args.threads} threads)")
    print(header)
    for (threads, mode), r in best.items():
        seconds = r["media_s"]
        wall, cpu = r["wall_s"], r["cpu_s"]
        print(
            f"{mode:4} {threads:>3} {wall:7.2f} {cpu:6.2f} {seconds / wall:5.1f} "
            f"{seconds / wall / threads:7.1f} {seconds / cpu:13.1f} {cpu / seconds:13.3f} "
            f"{r['wer']:6.3f} {r['cues']:4d} {r['longest_cue_s']:6.1f}s "
            f"{r['worst_start_error_s']:8.2f}s"
        )
    if args.arrangements:
        totals = pooled_wer(model, args.arrangements)
        print(f"\nWER pooled over the fixture + {args.arrangements} re-arrangements (1 thread):")
        for mode, (errors, words) in totals.items():
            print(f"  {mode}: {errors}/{words} words = {errors / words:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
