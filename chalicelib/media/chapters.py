"""Chapters of a video from what the analysis and speech to text found (pure: no ffmpeg).

Where a chapter may start, strongest first:
1. a scene cut (`scdet`, the analysis pass): its confidence, 1 + confidence when a long silence
   ends within SNAP_SECONDS of it (a cut that is also a pause is the clearest break);
2. the end of a long silence (at least LONG_SILENCE_SECONDS): speech or sound resumes there.
A start that falls inside a spoken sentence moves to that sentence's nearer boundary (its first
word's start, or the word after its last) when one is within SNAP_SECONDS: a chapter does not
begin mid-sentence. Starts are taken strongest first while every chapter stays at least
`min_chapter_seconds(duration)` long: a tenth of the video, but at least 2 s and at most 60 s
(a 12 s clip with cuts every 4 s gets three chapters; an hour gets at most ~60, one a minute
where the picture or the sound changes), so a flickering scene or a pause between sentences
makes no chapter of its own.

Titles: where there is speech in the chapter, the first words of its first sentence (at most
TITLE_WORDS words / TITLE_CHARS characters, an ellipsis when cut); otherwise "Chapter N".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.media.subtitles import Cue, vtt_time

CHAPTERS_VTT = "chapters.vtt"
MIN_CHAPTER_FLOOR, MIN_CHAPTER_CEILING, MIN_CHAPTER_FRACTION = 2.0, 60.0, 0.1
LONG_SILENCE_SECONDS = 2.0
SNAP_SECONDS = 1.5
TITLE_WORDS, TITLE_CHARS = 8, 60
_SENTENCE_END = (".", "?", "!", "\u2026", "\u3002", "\uff1f", "\uff01")


def min_chapter_seconds(duration: float) -> float:
    """The shortest chapter of a video this long."""
    return min(MIN_CHAPTER_CEILING, max(MIN_CHAPTER_FLOOR, duration * MIN_CHAPTER_FRACTION))


def _sentences(cues: Sequence[Cue]) -> list[tuple[float, float, str]]:
    """(start, end, text) of each sentence, from the cues (a cue not ending one runs on)."""
    out: list[tuple[float, float, str]] = []
    open_ = False
    for c in cues:
        if open_ and out:
            s, _, t = out[-1]
            out[-1] = (s, c.end, f"{t} {c.text}".strip())
        else:
            out.append((c.start, c.end, c.text))
        open_ = not c.text.rstrip().endswith(_SENTENCE_END)
    return out


def _snap(t: float, sentences: Sequence[tuple[float, float, str]]) -> float:
    for start, end, _ in sentences:
        if start < t < end:
            nearer = start if t - start <= end - t else end
            return nearer if abs(nearer - t) <= SNAP_SECONDS else t
    return t


def _title(text: str) -> str:
    first = text.strip()
    for i, ch in enumerate(first):
        if ch in _SENTENCE_END and (i + 1 == len(first) or first[i + 1] == " "):
            first = first[:i]
            break
    words = first.split()
    cut = len(words) > TITLE_WORDS
    title = " ".join(words[:TITLE_WORDS])
    if len(title) > TITLE_CHARS:
        title, cut = title[:TITLE_CHARS].rsplit(" ", 1)[0] or title[:TITLE_CHARS], True
    title = title.rstrip(",;: ")
    return f"{title}\u2026" if cut and title else title


def _candidates(
    scenes: Sequence[dict[str, Any]],
    resumes: Sequence[float],
    sentences: Sequence[tuple[float, float, str]],
) -> list[tuple[float, float]]:
    """(strength, time) of every place a chapter may start."""
    out: list[tuple[float, float]] = []
    cut_times = [float(s["start"]) for s in scenes if float(s["start"]) > 0]
    for t in cut_times:
        scene = next(s for s in scenes if float(s["start"]) == t)
        strength = float(scene.get("confidence") or 0.5)
        if any(abs(r - t) <= SNAP_SECONDS for r in resumes):
            strength += 1.0
        out.append((strength, _snap(t, sentences)))
    for r in resumes:
        if not any(abs(r - t) <= SNAP_SECONDS for t in cut_times):
            out.append((0.5, _snap(r, sentences)))
    return out


def chapters(
    duration: float,
    scenes: Sequence[dict[str, Any]],
    silences: Sequence[dict[str, Any]],
    cues: Sequence[Cue],
) -> list[dict[str, Any]]:
    """`[{"start", "end", "title"}]` covering [0, duration]; one chapter when nothing breaks."""
    if duration <= 0:
        return []
    shortest = min_chapter_seconds(duration)
    sentences = _sentences(cues)
    resumes = [
        float(s["end"])
        for s in silences
        if float(s["end"]) - float(s["start"]) >= LONG_SILENCE_SECONDS
        and float(s["end"]) < duration
    ]
    candidates = _candidates(scenes, resumes, sentences)
    starts = [0.0]
    for _, t in sorted(candidates, key=lambda c: (-c[0], c[1])):
        room = t >= shortest and duration - t >= shortest
        if room and all(abs(t - s) >= shortest for s in starts):
            starts.append(t)
    starts.sort()
    out = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else duration
        spoken = next((s for s in sentences if start - 0.25 <= s[0] < end), None)
        title = _title(spoken[2]) if spoken else ""
        out.append(
            {"start": round(start, 3), "end": round(end, 3), "title": title or f"Chapter {i + 1}"}
        )
    return out


def to_vtt(items: Sequence[dict[str, Any]]) -> str:
    """A WebVTT chapters track (`<track kind="chapters">`)."""
    lines = ["WEBVTT", ""]
    for i, c in enumerate(items, start=1):
        lines += [str(i), f"{vtt_time(c['start'])} --> {vtt_time(c['end'])}", c["title"], ""]
    return "\n".join(lines)
