"""Merging what the segments of one video found into results for the whole video.

Each segment owns the time range [start, end) of its frames but looks a little past both ends
(segments.ANALYSIS_MARGIN, segments.SPEECH_MARGIN), so what happens at a boundary is seen whole
by at least one side. The rules:

* scene cuts: each segment keeps the cuts inside its own range; a cut exactly on a boundary
  belongs to the later segment, which saw the frames before it in its margin;
* black runs (any interval detector): clipped to the owned range, then a run that reaches a
  boundary is joined with the run that starts there, so one run spanning a boundary is reported
  once with its true start and end;
* speech: each boundary is cut inside a pause that both sides heard (no word of either side
  crosses it); each side keeps the words whose middle falls on its side of the cut, so every
  word appears once; the two cues that meet at the cut are one cue again when the sentence runs
  on across it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.media.subtitles import Cue, Transcript

# Two runs this close at a boundary are one run (frame timestamps are rounded to milliseconds).
JOIN_TOLERANCE = 0.05
# A cue that ends in one of these closes its sentence.
_SENTENCE_END = (".", "?", "!", "\u2026", "\u3002", "\uff1f", "\uff01")
# Cues that meet at a cut are joined only into a cue this long at most (seconds), and only when
# the pause between them is shorter than MAX_JOIN_GAP.
MAX_JOINED_CUE = 15.0
MAX_JOIN_GAP = 1.5


def _r(x: float) -> float:
    return round(float(x), 3)


@dataclass(frozen=True)
class Owned:
    """One segment's owned range and what it found (times absolute)."""

    start: float
    end: float
    items: list[dict[str, Any]]


def merge_cuts(parts: Sequence[Owned]) -> list[dict[str, float]]:
    """Scene cuts of the whole video: each from the segment that owns its time, in order."""
    out = [c for p in parts for c in p.items if p.start <= c["time"] < p.end]
    return sorted(out, key=lambda c: c["time"])


def scenes_from_cuts(cuts: Sequence[dict[str, float]], duration: float) -> list[dict[str, float]]:
    """Scenes between cuts, as analysis.parse_signals builds them for the one-pass analysis."""
    bounds = [0.0] + [c["time"] for c in cuts] + [duration]
    scenes = []
    for i in range(len(bounds) - 1):
        conf = 1.0 if i == 0 else min(1.0, cuts[i - 1]["score"] / 100 * 2)
        scenes.append({"start": _r(bounds[i]), "end": _r(bounds[i + 1]), "confidence": _r(conf)})
    return scenes


def merge_intervals(parts: Sequence[Owned], min_duration: float = 0.0) -> list[dict[str, float]]:
    """Intervals ({start, end}) of the whole video: clipped to each owner, joined at boundaries."""
    clipped: list[list[float]] = []
    for p in parts:
        for item in sorted(p.items, key=lambda i: i["start"]):
            start, end = max(p.start, item["start"]), min(p.end, item["end"])
            if end > start:
                clipped.append([start, end])
    joined: list[list[float]] = []
    for start, end in sorted(clipped):
        if joined and start - joined[-1][1] <= JOIN_TOLERANCE:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    return [
        {"start": _r(s), "end": _r(e), "duration": _r(e - s)}
        for s, e in joined
        if e - s >= min_duration
    ]


# --- speech --------------------------------------------------------------------------------------

Word = tuple[float, float, str]


def _words(part: dict[str, Any]) -> list[list[Word]]:
    return [[(float(w[0]), float(w[1]), str(w[2])) for w in cue] for cue in part.get("cues", [])]


def choose_cut(left: list[Word], right: list[Word], boundary: float, margin: float) -> float:
    """A time near `boundary` that no word of either side spans: the middle of the widest pause
    both transcripts agree on within the shared window (the boundary itself if there is none)."""
    lo, hi = boundary - margin, boundary + margin
    spans = sorted((max(lo, s), min(hi, e)) for s, e, _ in [*left, *right] if e > lo and s < hi)
    free: list[tuple[float, float]] = []
    cursor = lo
    for s, e in spans:
        if s > cursor:
            free.append((cursor, s))
        cursor = max(cursor, e)
    if cursor < hi:
        free.append((cursor, hi))
    if not free:
        return boundary

    def score(gap: tuple[float, float]) -> tuple[float, float]:
        # Widest pause first; among equals the one nearest the boundary.
        return (gap[1] - gap[0], -abs((gap[0] + gap[1]) / 2 - boundary))

    best = max(free, key=score)
    return (best[0] + best[1]) / 2


def _text(words: Sequence[Word]) -> str:
    return "".join(w[2] for w in words).strip()


def merge_transcripts(
    parts: Sequence[tuple[float, float, dict[str, Any]]], margin: float
) -> Transcript:
    """One transcript from the segments' transcripts ((start, end, transcript) in order), each
    made over [start - margin, end + margin) with word timestamps (segments.transcribe_window)."""
    cues_by_part = [_words(t) for _, _, t in parts]
    flat = [[w for cue in cues for w in cue] for cues in cues_by_part]
    cuts = [float("-inf")]
    for k in range(1, len(parts)):
        # Only the inner half of the shared window: a word cut off at a window's very edge may
        # be misheard, and it then lies beyond the cut on the side that misheard it.
        cuts.append(choose_cut(flat[k - 1], flat[k], parts[k][0], margin / 2))
    cuts.append(float("inf"))

    merged: list[Cue] = []
    joinable = False  # the last cue was cut short by the previous cut
    for k, cues in enumerate(cues_by_part):
        lo, hi = cuts[k], cuts[k + 1]
        kept_cues = []
        for heard in cues:
            kept = [w for w in heard if lo <= (w[0] + w[1]) / 2 < hi]
            if kept:
                kept_cues.append((kept, len(kept) < len(heard)))
        for i, (words, truncated) in enumerate(kept_cues):
            cue = Cue(_r(words[0][0]), _r(words[-1][1]), _text(words), tuple(words))
            if (
                i == 0
                and merged
                and (joinable or truncated)
                and not merged[-1].text.endswith(_SENTENCE_END)
                and cue.start - merged[-1].end <= MAX_JOIN_GAP
                and cue.end - merged[-1].start <= MAX_JOINED_CUE
            ):
                prev = merged.pop()
                cue = Cue(
                    prev.start, cue.end, f"{prev.text} {cue.text}".strip(), prev.words + cue.words
                )
            merged.append(cue)
        joinable = bool(kept_cues) and kept_cues[-1][1]
    # Language: the one most of the words were heard in, weighted by its probability.
    weights: dict[str, float] = {}
    for (_, _, t), words in zip(parts, flat, strict=True):
        if t.get("language") and words:
            weights[t["language"]] = weights.get(t["language"], 0.0) + len(words) * float(
                t.get("languageProbability") or 0.0
            )
    if not merged:
        return Transcript()
    language = max(weights, key=lambda k: weights[k]) if weights else None
    probs = [
        float(t.get("languageProbability") or 0)
        for _, _, t in parts
        if t.get("language") == language
    ]
    return Transcript(merged, language, _r(max(probs)) if probs else None)
