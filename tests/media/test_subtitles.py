"""Speech to text (chalicelib/media/subtitles.py and segments.transcribe_window) on the committed
speech-dense fixture: accuracy, cue length and timing, absolute word times in a window, and no
cues for a tone or silence. Speed is the benchmark's business (bench/bench_whisper.py)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.media import segments, subtitles
from chalicelib.media.subtitles import Word, split_cues
from chalicelib.media.whisper_model import resolve_whisper_model

FIXTURES = Path(__file__).parent / "fixtures"
DENSE = FIXTURES / "speech_dense_en.opus"
DENSE_SECONDS = 57.72

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.bench_whisper import reference, word_error_rate  # noqa: E402

# Measured on the fixture (bench/bench_whisper.py, faster-whisper 1.2.1, CTranslate2 4.8.5):
# 0.039 (5 of 127 words; the old sequential beam-5 call: 0.024, and over six re-arrangements of
# the same sentences both ways are within 1 %). Two more wrong words are allowed for another CPU
# or library build: 7/127.
MAX_WER = 0.056
# The fallback (every window decoded again with beam search, sequentially) measured 0.063 (8/127:
# the same sentence misheard as the batch does, one more name): plus two words.
MAX_WER_REDONE = 0.079
# Subtitle cues stay readable: subtitles.MAX_CUE_SECONDS (7 s) plus the slack of word timing.
MAX_CUE_SECONDS = 10.0
# A sentence's first cue starts within this of the speech (measured worst: 0.55 s).
START_TOLERANCE = 0.7


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The packaged base model, assembled once for the session."""
    choice = resolve_whisper_model("", tmp_path_factory.mktemp("whisper-data"))
    assert choice.model is not None, choice.reason
    return choice.model


def check_cues(cues: list[subtitles.Cue], start: float, end: float) -> None:
    assert cues
    for c in cues:
        assert start <= c.start < c.end <= end + 0.5, c
        assert c.end - c.start <= MAX_CUE_SECONDS, c
        assert c.text.strip(), c
    for a, b in itertools.pairwise(cues):
        assert a.start <= b.start and a.end <= b.start + 0.05, (a, b)


@pytest.mark.slow
def test_dense_speech_is_transcribed_accurately_in_short_well_timed_cues(whisper_dir: str) -> None:
    transcript = subtitles.transcribe(DENSE, whisper_dir)
    sentences = reference()
    said = " ".join(s[2] for s in sentences)
    heard = " ".join(c.text for c in transcript.cues)
    assert word_error_rate(said, heard) <= MAX_WER, heard
    assert transcript.language == "en" and (transcript.language_probability or 0) > 0.8
    check_cues(transcript.cues, 0.0, DENSE_SECONDS)
    # Every sentence starts a cue near where its speech starts; no cue spans two sentences.
    for start, _, text in sentences:
        nearest = min(transcript.cues, key=lambda c: abs(c.start - start))
        assert abs(nearest.start - start) <= START_TOLERANCE, (text, nearest)
    for c in transcript.cues:
        spanned = [s for s in sentences if c.start < s[1] - 0.5 and s[0] + 0.5 < c.end]
        assert len(spanned) <= 1, (c, spanned)
    assert 100 <= transcript.word_count <= 140  # the reference has 127 words


@pytest.mark.slow
def test_windows_that_look_like_a_loop_are_decoded_again_sequentially(
    whisper_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every window flagged (threshold 0): the sequential beam-search decoder redoes them all; the
    words stay right and the cues as well cut."""
    monkeypatch.setattr(subtitles, "MAX_COMPRESSION_RATIO", 0.0)
    transcript = subtitles.transcribe(DENSE, whisper_dir)
    heard = " ".join(c.text for c in transcript.cues)
    assert word_error_rate(" ".join(s[2] for s in reference()), heard) <= MAX_WER_REDONE, heard
    assert transcript.language == "en"
    check_cues(transcript.cues, 0.0, DENSE_SECONDS)


@pytest.mark.slow
def test_segmented_window_gives_absolute_word_times(whisper_dir: str, ffmpeg: str) -> None:
    """Window [20, 50) of the fixture: sentences 4-7, words timed on the whole file's clock."""
    t = segments.transcribe_window(str(DENSE), 20.0, 50.0, whisper_dir, exe=ffmpeg, timeout=60)
    assert t["window"] == [20.0, 50.0] and t["language"] == "en"
    words = [w for cue in t["cues"] for w in cue]
    assert all(20.0 <= w[0] <= w[1] <= 50.0 for w in words), words
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(words))
    text = "".join(w[2] for w in words).lower()
    for word in ("armstrong", "quarterly", "patient", "championship"):
        assert word in text, text
    assert "library" not in text and "puddles" not in text  # outside the window
    cue_starts = [cue[0][0] for cue in t["cues"]]
    for start, _, sentence in reference()[3:7]:
        assert min(abs(s - start) for s in cue_starts) <= START_TOLERANCE, (sentence, cue_starts)
    assert all(cue[-1][1] - cue[0][0] <= MAX_CUE_SECONDS for cue in t["cues"])


@pytest.mark.slow
def test_a_tone_and_silence_give_no_cues(whisper_dir: str, ffmpeg: str, tmp_path: Path) -> None:
    clip = tmp_path / "tone.wav"
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "sine=f=440:d=8", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono:d=8",
         "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1", "-ac", "1", "-ar", "16000", str(clip)],
        check=True, timeout=60,
    )  # fmt: skip
    transcript = subtitles.transcribe(clip, whisper_dir)
    assert transcript.cues == [] and transcript.language is None
    window = segments.transcribe_window(str(clip), 2.0, 14.0, whisper_dir, exe=ffmpeg, timeout=60)
    assert window["cues"] == [] and window["language"] is None


def words_of(text: str, start: float = 0.0, step: float = 0.3) -> list[Word]:
    return [
        Word(start + i * step, start + i * step + 0.25, f" {w}") for i, w in enumerate(text.split())
    ]


def cue_texts(cues: list[list[Word]]) -> list[str]:
    return ["".join(w.text for w in c).strip() for c in cues]


def test_cues_break_after_sentences_and_pauses_but_not_after_titles() -> None:
    words = words_of("Good morning. Dr. Chen is here, and Mr. Smith too. Yes?")
    assert cue_texts(split_cues(words)) == [
        "Good morning.",
        "Dr. Chen is here, and Mr. Smith too.",
        "Yes?",
    ]
    paused = words_of("we waited") + words_of("and then it rained", start=2.0)
    assert cue_texts(split_cues(paused)) == ["we waited", "and then it rained"]


def test_a_long_phrase_is_cut_into_readable_parts_preferring_a_comma() -> None:
    text = (
        "When the storm finally passed over the hills, the children of the village ran outside "
        "to splash in the muddy puddles by the old stone bridge"
    )
    cues = split_cues(words_of(text, step=0.2))
    texts = cue_texts(cues)
    assert " ".join(texts) == text
    assert texts[0].endswith("hills,")
    for c, t in zip(cues, texts, strict=True):
        assert len(t) <= subtitles.MAX_CUE_CHARS and c[-1].end - c[0].start <= 7.0
    # Slow speech: the time limit cuts too.
    slow = split_cues(words_of("one two three four five six seven eight nine ten", step=1.0))
    assert all(c[-1].end - c[0].start <= subtitles.MAX_CUE_SECONDS for c in slow)
    assert sum(len(c) for c in slow) == 10
