"""Issue 26 part B on real media: the transcript document (word times, search), chapters at
hard cuts, and an exact clip (length to a frame, first frame = the source's frame at start)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from chalicelib.api.media_text import render, search
from chalicelib.config import Settings
from chalicelib.media import chapters
from chalicelib.media_store.local import LocalMediaStore
from chalicelib.media_store.scratch import LocalScratchStore
from chalicelib.processing import segmented
from chalicelib.processing.context import new_run_id
from chalicelib.processing.one_pass import run_processing
from tests.media.conftest import AAC, FIXTURES, X264, into_inbox
from tests.media.test_pipeline import VID, media_path, whisper_dir  # noqa: F401 - fixture

pytestmark = pytest.mark.slow


def test_transcript_document_has_word_times_and_search_returns_them(
    speech_clip: Path,
    media_settings: Settings,
    whisper_dir: str,  # noqa: F811
) -> None:
    settings = replace(media_settings, whisper_model=whisper_dir)
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    result = run_processing(VID, into_inbox(settings, speech_clip), settings, store, lambda p: None)
    doc = json.loads(media_path(store, result["subtitles"]["transcriptUrl"]).read_text())
    assert doc["language"] == "en" and doc["segments"]
    words = [w for s in doc["segments"] for w in s["words"]]
    assert len(words) >= 14
    for seg in doc["segments"]:
        assert seg["start"] == seg["words"][0]["start"] and seg["end"] == seg["words"][-1]["end"]
    assert all(w["start"] <= w["end"] for w in words)
    assert all(a["end"] <= b["start"] + 0.05 for a, b in itertools.pairwise(words))

    fox = next(w for w in words if w["word"].lower().startswith("fox"))
    (match,) = search(doc, "FO")  # case-insensitive word prefix: only "fox"
    assert (match["start"], match["end"]) == (fox["start"], fox["end"])
    assert "fox" in match["text"].lower()
    brown = next(w for w in words if w["word"].lower().startswith("brown"))
    (pair,) = search(doc, "brow fox")  # consecutive words: first word's start, last one's end
    assert (pair["start"], pair["end"]) == (brown["start"], fox["end"])
    assert search(doc, "ox") == []  # a prefix, not a substring

    txt, _ = render(doc, "txt")
    vtt, _ = render(doc, "vtt")
    srt, _ = render(doc, "srt")
    assert "quick brown fox" in txt.lower()
    assert vtt.startswith("WEBVTT\n\n00:00:0") and srt.startswith("1\n00:00:0")
    # The chapters of speech over one picture: one chapter titled from its first sentence.
    (chapter,) = result["chapters"]
    assert chapter["title"].lower().startswith("the quick brown fox")


@pytest.fixture(scope="session")
def cuts_clip(make_media: Callable[..., Path]) -> Path:
    """320x180 25 fps, 6 s, hard cuts at 2 and 4 s (three unrelated pictures), a tone."""
    v = "s=320x180:r=25:d=2"
    return make_media(
        "cuts.mp4",
        "-f", "lavfi", "-i", f"testsrc2={v}",
        "-f", "lavfi", "-i", f"smptebars={v}",
        "-f", "lavfi", "-i", "mandelbrot=s=320x180:r=25,trim=duration=2,setpts=PTS-STARTPTS",
        "-f", "lavfi", "-i", "sine=f=440:d=6",
        "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]",
        "-map", "[v]", "-map", "3:a", *X264, "-c:a", "aac",
    )  # fmt: skip


def test_chapters_start_at_the_hard_cuts_and_have_a_track(
    cuts_clip: Path, media_settings: Settings
) -> None:
    settings = replace(media_settings, whisper_model="off")
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    result = run_processing(VID, into_inbox(settings, cuts_clip), settings, store, lambda p: None)
    got = result["chapters"]
    assert [c["start"] for c in got] == [0.0, pytest.approx(2.0, abs=0.08),
                                          pytest.approx(4.0, abs=0.08)]  # fmt: skip
    assert [c["title"] for c in got] == ["Chapter 1", "Chapter 2", "Chapter 3"]
    assert got[-1]["end"] == pytest.approx(6.0, abs=0.1)
    vtt = media_path(store, result["chaptersVttUrl"]).read_text()
    assert vtt.startswith("WEBVTT") and "00:00:02." in vtt and "Chapter 3" in vtt


def test_chapters_keep_a_minimum_length() -> None:
    scenes = [{"start": t, "confidence": 1.0} for t in (0.0, 3.0, 3.5, 30.0, 31.0)]
    assert chapters.min_chapter_seconds(60.0) == 6.0
    got = chapters.chapters(60.0, scenes, [], [])
    assert [c["start"] for c in got] == [0.0, 30.0]  # 3.0 is too near the start, 31 to 30


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)]


@pytest.mark.parametrize("path", ["one-pass", "segmented"])
def test_exact_clip_is_frame_accurate(
    make_media: Callable[..., Path], media_settings: Settings, path: str
) -> None:
    source = make_media(
        "numbered.mp4", "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=8",
        "-f", "lavfi", "-i", "sine=f=440:d=8", "-shortest", *X264, "-c:a", "aac",
    )  # fmt: skip
    settings = replace(media_settings, whisper_model="off", x264_preset="ultrafast")
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    start, end = 1.32, 7.2  # frames 33..179 (frame 33 is on screen at 1.32 s)
    url = into_inbox(settings, source)
    if path == "one-pass":
        result = run_processing(VID, url, settings, store, lambda p: None, trim=(start, end))
    else:  # segments of 4 s over the cut, which lies in scratch
        settings = replace(settings, segment_seconds=4)
        scratch = LocalScratchStore(settings.data_dir / "work" / "scratch")
        run_id = new_run_id()
        prepared = segmented.prepare(VID, run_id, url, settings, scratch, trim=(start, end))
        assert prepared.planned is not None and prepared.planned["segments"] == 2
        for job in prepared.planned["jobs"]:
            segmented.run_job(VID, run_id, job, settings, scratch)
        result = segmented.assemble(VID, run_id, settings, scratch, store)
    assert result["transcoding"]["duration"] == pytest.approx(end - start, abs=0.001)
    top = media_path(store, result["transcoding"]["formats"][0]["url"])
    clip = _frames(top)
    assert len(clip) == 147  # exactly (end - start) x 25 frames
    original = _frames(source)
    # testsrc changes little from frame to frame (its counter, a moving bar): the nearest of
    # the source's frames around it is the one asked for, first and last.
    first = {k: float(np.abs(clip[0] - original[k]).mean()) for k in range(29, 38)}
    assert min(first, key=first.__getitem__) == 33 and first[33] < 1.5, first
    last = {k: float(np.abs(clip[-1] - original[k]).mean()) for k in range(175, 184)}
    assert min(last, key=last.__getitem__) == 179, last


@pytest.fixture(scope="session")
def german_clip(make_media: Callable[..., Path]) -> Path:
    """320x180 video over the committed espeak-ng German sentence (6.3 s, fixtures/README.md)."""
    return make_media(
        "german.mp4", "-f", "lavfi", "-i", "color=c=darkgreen:s=320x180:r=25",
        "-i", str(FIXTURES / "speech_de.opus"), "-shortest", *X264, *AAC,
    )  # fmt: skip


def test_speech_in_another_language_gets_an_english_track(
    german_clip: Path,
    media_settings: Settings,
    whisper_dir: str,  # noqa: F811
) -> None:
    settings = replace(media_settings, whisper_model=whisper_dir, subtitle_translate="en")
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    result = run_processing(VID, into_inbox(settings, german_clip), settings, store, lambda p: None)
    subs = result["subtitles"]
    assert subs["language"] == "de" and subs["vttUrl"] and subs["srtUrl"]  # unchanged fields
    heard, english = subs["tracks"]
    assert heard["language"] == "de" and heard["vttUrl"] == subs["vttUrl"]
    assert (english["language"], english["kind"]) == ("en", "translation")
    vtt = media_path(store, english["vttUrl"]).read_text().lower()
    assert vtt.startswith("webvtt") and "morning" in vtt, vtt
    assert "guten" not in vtt and result["stages"]["translation"]["status"] == "completed"


def test_chapter_titles_come_from_the_first_sentence_and_starts_avoid_mid_sentence() -> None:
    from chalicelib.media.subtitles import Cue

    cues = [
        Cue(0.5, 3.0, "Welcome to the show, everyone, and thanks for coming along tonight."),
        Cue(20.5, 22.0, "Part two."),
        Cue(22.1, 25.0, "More words here."),
    ]
    scenes = [{"start": 0.0}, {"start": 21.8, "confidence": 0.9}]  # a cut inside "Part two."
    got = chapters.chapters(40.0, scenes, [], cues)
    assert [c["start"] for c in got] == [0.0, 22.0]  # moved to the sentence's nearer end
    assert got[0]["title"] == "Welcome to the show, everyone, and thanks for\u2026"
    assert got[1]["title"] == "More words here"


def test_segmented_translation_keeps_each_cue_once_by_owned_range() -> None:
    from types import SimpleNamespace

    from chalicelib.media.subtitles import Transcript
    from chalicelib.processing.context import Stages

    plan: Any = SimpleNamespace(segments=[SimpleNamespace(start=0.0, end=8.0),
                                     SimpleNamespace(start=8.0, end=16.0)])  # fmt: skip
    done = {"translation": {"status": "completed", "ms": 5}}
    parts: Any = [  # both heard the cue near 8 s (the margin): its middle is in the first's range
        SimpleNamespace(stages=done, speech={"translation": [[1, 2, "Hello."], [7.0, 8.2, "On."]]}),
        SimpleNamespace(stages=done, speech={"translation": [[7.1, 8.3, "On"], [9, 10, "Bye."]]}),
    ]
    stages = Stages()
    english = segmented._translation(stages, plan, parts, Transcript([], "de"))
    assert [c.text for c in english.cues] == ["Hello.", "On.", "Bye."]
    assert english.language == "en" and stages.reports["translation"].ms == 10
    assert segmented._translation(Stages(), plan, parts, Transcript([], "en")) is None
