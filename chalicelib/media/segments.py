"""Segmented processing of a long video: plan, encode one segment for every rung, assemble.

A video longer than about one `segment_seconds` is cut into segments whose boundaries are
multiples of the HLS segment length (4 s), moved to the first source frame at or after that
time, so every rung's keyframes and HLS segments fall exactly where the one-process ladder puts
them. Each segment is one invocation:

* the ladder for its time range, video only, with the builder of transcode.py (same filter
  graph, same encoder settings, keyframes forced every 2 s (fixed) or 4 s (per-title) from the
  boundary, closed GOPs),
  written straight as the final HLS `.ts` files of each rung (numbered from the segment's first
  HLS index, timestamps shifted to the segment's place in the video); AV1 rungs
  (`VIDEO_CODECS`) as fMP4 pieces whose fragments carry that place, and an init per segment;
* in the same process (one decode: `SegmentTap`), the signal analysis (scene cuts, black) and
  the storyboard tiles of its range, over a window that reaches `ANALYSIS_MARGIN` into its
  neighbours so a detector never starts cold at a boundary (merge.py keeps what each segment
  owns and joins what spans a boundary);
* speech to text over its range plus `SPEECH_MARGIN` on both sides, with word timestamps
  (merge.py cuts each boundary in a pause both sides heard and keeps every word once).

Audio is encoded once for the whole video (no priming gap or AAC frame drift at any join) in
the same pass that measures silences and loudness over the whole programme; it is an HLS audio
rendition that every variant references, and it is muxed into each MP4 at assembly.

Assembly is stream copy only: a rung's HLS playlist is the concatenation of its segments'
playlists (continuous timestamps, no discontinuity), its MP4 is its `.ts` files read back to
back (the `concatf` protocol) with the audio muxed in, `-c copy` and `+faststart`.

Every function here is pure media work on local paths or URLs ffmpeg can read; where the inputs
and outputs live (scratch store, media store) is the caller's business.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from chalicelib.media import analysis, thumbnails, transcode
from chalicelib.media.errors import MediaError
from chalicelib.media.ffmpeg import feed_input, run_ffmpeg
from chalicelib.media.probe import (
    SEEK_INDEXED_FORMATS,
    ProbeResult,
    source_input,
    source_open_options,
)

HLS_SECONDS = transcode.SEGMENT_SECONDS
# A last piece shorter than this share of a segment joins the one before it.
MIN_TAIL_SHARE = 1 / 3
# Seeks land this far before a boundary frame, so rounding of container timestamps (Matroska
# keeps milliseconds) can never push the boundary frame out of its segment.
CUT_EPSILON = 0.002
# Context each side of a segment for the detectors (scdet needs two frames of history,
# blackdetect must see a black run longer than its minimum whole).
ANALYSIS_MARGIN = 1.0
# Context each side of a segment for speech to text: the merge finds a pause in it.
SPEECH_MARGIN = 3.0
# Anything but a container whose index makes an accurate seek land on the right frame
# (probe.SEEK_INDEXED_FORMATS: MPEG-TS, AVI, FLV, ...) is first remuxed into Matroska without
# decoding.
REMUX_NAME = "source.mov"
# The segmented MP4s are fragmented (a fragment per keyframe, an `mfra` index at the end for
# seeking): a muxer that never seeks back can write to a pipe, so a rendition of any length goes
# straight into a multipart upload and never lies whole on local disk.
FRAGMENTED_MP4 = ["-movflags", "frag_keyframe+empty_moov+delay_moov+default_base_moof",
                  "-use_editlist", "1", "-f", "mp4", "pipe:1"]  # fmt: skip
# Every MPEG-TS output (video segments, the audio) carries media time t as t + this: no packet
# is ever negative (B-frame reordering, AAC priming), so no muxer shifts one stream on its own.
TIMELINE_OFFSET = 1.4
AUDIO_PLAYLIST = "hls_audio.m3u8"
AUDIO_SEGMENT_PATTERN = "hls_audio_%05d.ts"
AUDIO_GROUP = "audio"
STORYBOARD_TILE_PATTERN = "sb_%05d.png"

_EXTINF = re.compile(r"^#EXTINF:([\d.]+),")

# --- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One segment: frames with start <= t < end; its HLS segments are numbered from first_hls."""

    index: int
    start: float
    end: float
    first_hls: int

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True)
class SegmentPlan:
    """Everything a segment or the assembly needs to know, stored once (scratch `plan.json`)."""

    info: ProbeResult
    segment_seconds: int
    frame_rate: str  # exact rational rate ("30000/1001"), "" when unknown (variable)
    remux: bool  # the source is read from a Matroska remux, not as uploaded
    segments: list[Segment] = field(default_factory=list)
    # The file the segments read, as ffmpeg's demuxer sees it (see `seek_timeline`): the video
    # stream's time base ("1/15360") and the container's start time in microseconds. Empty when
    # not known yet (a remux is read instead of the upload: `reading` fills it in).
    time_base: str = ""
    start_us: int = 0
    # The ladder decided once for the whole video (ladder.py: per-title CRFs and caps, rungs
    # dropped); every segment encodes it. Empty: the fixed ladder (plans stored before it).
    ladder: list[transcode.Rung] = field(default_factory=list)
    ladder_decision: dict[str, Any] | None = None  # how it was decided (probe, scores)

    @property
    def count(self) -> int:
        return len(self.segments)

    @property
    def rungs(self) -> list[transcode.Rung]:
        """Every rung a segment encodes: H.264, then AV1 (`VIDEO_CODECS`) when the ladder has it."""
        return self.ladder or transcode.plan_ladder(self.info.width, self.info.height)

    @property
    def live_rungs(self) -> list[transcode.Rung]:
        """The rungs a playable run shows while it is processed: H.264 (every player decodes
        it); the AV1 variants join the master when the video is complete."""
        return [r for r in self.rungs if r.codec == transcode.H264]

    def to_json(self) -> str:
        """The stored form of the plan."""
        return json.dumps(
            {
                "info": self.info.to_dict(),
                "segmentSeconds": self.segment_seconds,
                "frameRate": self.frame_rate,
                "remux": self.remux,
                "segments": [s.to_dict() for s in self.segments],
                "timeBase": self.time_base,
                "startUs": self.start_us,
                "ladder": [r.to_dict() for r in self.ladder],
                "ladderDecision": self.ladder_decision,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SegmentPlan:
        """Read a stored plan back."""
        raw = json.loads(text)
        return cls(
            info=ProbeResult.from_dict(raw["info"]),
            segment_seconds=int(raw["segmentSeconds"]),
            frame_rate=str(raw["frameRate"]),
            remux=bool(raw["remux"]),
            segments=[Segment(**s) for s in raw["segments"]],
            time_base=str(raw.get("timeBase", "")),
            start_us=int(raw.get("startUs", 0)),
            ladder=[transcode.Rung.from_dict(r) for r in raw.get("ladder") or []],
            ladder_decision=raw.get("ladderDecision"),
        )

    def as_remuxed(self) -> SegmentPlan:
        """This plan for jobs reading the remux (`remux_for_seeking`): video stream 0, the chosen
        audio track stream 1 (the first audio)."""
        track = self.info.audio_track
        moved = replace(track, index=0, stream=1) if track else None
        return replace(self, info=replace(self.info, video_stream=0, audio_track=moved))

    def reading(self, path: str) -> SegmentPlan:
        """This plan for segments that read `path` (the source, or its remux where the video is
        stream 0): its seek timeline filled in."""
        time_base, start_us = seek_timeline(path, 0 if self.remux else self.info.video_stream)
        return replace(self, time_base=time_base, start_us=start_us)


def segment_length(target_seconds: float, hls_seconds: int = HLS_SECONDS) -> int:
    """The segment length: `target_seconds` rounded to a multiple of the HLS segment length."""
    return max(hls_seconds, round(target_seconds / hls_seconds) * hls_seconds)


def segment_lengths(
    duration: float,
    target_seconds: float,
    first_seconds: float | None = None,
    hls_seconds: int = HLS_SECONDS,
) -> list[int]:
    """The nominal length of each segment of a video of `duration` seconds: from
    `first_seconds` (default: the target), doubling up to `target_seconds` (each a multiple of
    the HLS segment length), then the target; a last piece shorter than `MIN_TAIL_SHARE` of
    its nominal length joins the one before it. Short first segments make the start of a video
    playable long before its end is encoded (they are scheduled first)."""
    if target_seconds <= 0:
        return [max(hls_seconds, math.ceil(duration))]
    full = segment_length(target_seconds, hls_seconds)
    length = min(full, segment_length(first_seconds, hls_seconds) if first_seconds else full)
    lengths: list[int] = []
    at = 0
    while at < duration - 1e-9 or not lengths:
        lengths.append(length)
        at += length
        length = min(full, length * 2)
    rest = duration - (at - lengths[-1])  # what the last piece really holds
    if len(lengths) > 1 and rest <= lengths[-1] * MIN_TAIL_SHARE:
        lengths.pop()
    return lengths


def segment_count(
    duration: float, target_seconds: float, first_seconds: float | None = None
) -> int:
    """How many segments a video of `duration` seconds gets (1: the one-invocation path, unless
    its source is too large to fetch, see `processing.segmented.ONE_PASS_MAX_SOURCE_BYTES`)."""
    if target_seconds <= 0:
        return 1
    return len(segment_lengths(duration, target_seconds, first_seconds))


def frame_at_or_after(t: float, rate: Fraction | None, origin: float = 0.0) -> float:
    """Time of the first frame at or after `t` for a constant `rate` whose frames start at
    `origin` (t itself when the rate is unknown)."""
    if t <= origin:
        return round(origin, 6)
    if not rate:
        return t
    index = math.ceil(Fraction(t - origin) * rate - Fraction(1, 10**6))
    return round(origin + float(index / rate), 6)


def plan_segments(
    duration: float,
    target_seconds: float,
    rate: Fraction | None,
    hls_seconds: int = HLS_SECONDS,
    origin: float = 0.0,
    first_seconds: float | None = None,
) -> list[Segment]:
    """Segment boundaries: the running sum of `segment_lengths` (multiples of the HLS segment
    length), each at the first frame from there on."""
    lengths = segment_lengths(duration, target_seconds, first_seconds, hls_seconds)
    nominal = [sum(lengths[:k]) for k in range(len(lengths))]
    starts = [frame_at_or_after(t, rate, origin) for t in nominal]
    ends = [*starts[1:], duration]
    return [
        Segment(k, starts[k], round(ends[k], 6), nominal[k] // hls_seconds)
        for k in range(len(lengths))
    ]


def exact_frame_rate(path: str, stream_index: int = 0) -> tuple[Fraction | None, str, float]:
    """The constant frame rate of video stream `stream_index` (absolute) as an exact fraction
    (None when variable), the container format name and the time of the first frame from the
    start of the file (another stream may start first), read from the headers: nothing is
    decoded."""
    import av

    try:
        with av.open(
            path, metadata_errors="ignore", options=source_open_options(path)
        ) as container:
            stream = container.streams[stream_index]
            avg, guessed = stream.average_rate, stream.guessed_rate
            fmt = container.format.name
            origin = 0.0
            if stream.start_time is not None and stream.time_base:
                first = float(stream.start_time * stream.time_base)
                origin = max(0.0, first - float(container.start_time or 0) / 1_000_000)
    except (av.error.FFmpegError, IndexError, OSError):
        raise MediaError("Unreadable", "The file could not be opened as a video.") from None
    rate = guessed or avg
    # A variable-rate source has an average that is not its nominal rate: no grid to align to.
    if rate and avg and abs(float(avg) - float(rate)) > 0.01 * float(rate):
        return None, fmt, origin
    return (Fraction(rate) if rate else None), fmt, origin


def seek_timeline(path: str, stream_index: int = 0) -> tuple[str, int]:
    """The time base of video stream `stream_index` (absolute; "num/den") and the container's
    start time in microseconds, read from the headers. ffmpeg shifts a seeked input's timestamps
    by the seek time plus that start time, rounded to the time base: a segment's encode needs
    both to put its first picture exactly where a seek to its cut would (`build_segment_args`)."""
    import av

    try:
        with av.open(
            path, metadata_errors="ignore", options=source_open_options(path)
        ) as container:
            tb = container.streams[stream_index].time_base
            start = container.start_time
    except (av.error.FFmpegError, IndexError, OSError):
        raise MediaError("Unreadable", "The file could not be opened as a video.") from None
    if not tb:
        raise MediaError("Unreadable", "The video stream has no time base.")
    return f"{tb.numerator}/{tb.denominator}", int(start or 0)


def make_plan(
    source: str, info: ProbeResult, segment_seconds: int, first_seconds: int | None = None
) -> SegmentPlan:
    """Probe-based plan: boundaries from the headers only, never a decode of the whole file.
    A source that must be remuxed first gets its seek timeline from the remux (`reading`).
    `first_seconds`: the first segments' length, growing to `segment_seconds`."""
    rate, fmt, origin = exact_frame_rate(source, info.video_stream)
    segments = plan_segments(
        info.duration, segment_seconds, rate, origin=origin, first_seconds=first_seconds
    )
    plan = SegmentPlan(
        info=info,
        segment_seconds=segment_length(segment_seconds),
        frame_rate=f"{rate.numerator}/{rate.denominator}" if rate else "",
        remux=fmt not in SEEK_INDEXED_FORMATS,
        segments=segments,
    )
    return plan if plan.remux else plan.reading(source)


def remux_for_seeking(
    source: str,
    info: ProbeResult,
    sink: Callable[[BinaryIO], None],
    *,
    exe: str,
    timeout: float,
) -> None:
    """Copy the chosen video and audio streams into a fragmented QuickTime file (a fragment per
    keyframe and an `mfra` index at its end: accurate seeks) without decoding, written to `sink`
    as it is made (never whole on local disk). Timestamps become zero-based, as every encode of
    the source sees them; the streams are 0 and 1 there (`SegmentPlan.as_remuxed`)."""
    args = [*source_input(source), "-map", f"0:{info.video_stream}"]
    if info.audio_track is not None:
        args += ["-map", f"0:{info.audio_track.stream}"]
        if info.audio_codec == "aac":  # ADTS (MPEG-TS) to the MP4 form
            args += ["-bsf:a", "aac_adtstoasc"]
    args += ["-c", "copy", "-movflags", FRAGMENTED_MP4[1], "-f", "mov", "pipe:1"]
    run_ffmpeg(args, exe=exe, timeout=timeout, error_code="Unreadable",
               what="Remuxing the source", stdout_sink=sink)  # fmt: skip


# --- one segment ---------------------------------------------------------------------------------


@dataclass
class SegmentOutput:
    """What one segment produced: per rung its HLS entries (duration, file name), the signals of
    its owned range (absolute times) and its transcript words."""

    index: int
    hls: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # by rung key
    inits: dict[str, str] = field(default_factory=dict)  # an fMP4 (AV1) rung's init segment
    cuts: list[dict[str, float]] = field(default_factory=list)
    black_segments: list[dict[str, float]] = field(default_factory=list)
    tiles: list[str] = field(default_factory=list)
    speech: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # what the job reports

    def to_json(self) -> str:
        """Stored as the segment's `result.json` in scratch."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SegmentOutput:
        raw = json.loads(text)
        raw["hls"] = {q: [(float(d), str(n)) for d, n in v] for q, v in raw["hls"].items()}
        return cls(**raw)


def piece_playlist_name(rung: transcode.Rung) -> str:
    """The playlist ffmpeg writes for one segment of one rung (read back, never published)."""
    return f"part_{rung.key}.m3u8"


def segment_init_name(rung: transcode.Rung, index: int) -> str:
    """The fMP4 initialisation segment one segment's encode of an AV1 rung writes (each process
    writes its own; the rung's playlist names it before that segment's pieces)."""
    return f"hls_{rung.key}_init_{index:05d}.mp4"


def _us(seconds: str) -> int:
    """A time as ffmpeg parses an option ("7.998000"): whole microseconds, exactly."""
    return int(Decimal(seconds) * 1_000_000)


def _ticks(us: int, time_base: Fraction) -> int:
    """`av_rescale_q(us, 1/1000000, time_base)`: microseconds in ticks of the time base, the
    nearest, halves away from zero (how ffmpeg turns a seek time into a timestamp shift)."""
    num, den = abs(us) * time_base.denominator, 1_000_000 * time_base.numerator
    ticks = (num + den // 2) // den
    return ticks if us >= 0 else -ticks


def _range(plan: SegmentPlan, index: int) -> tuple[str, str | None]:
    """The segment's cut (its seek time, just before its first frame) and the length of its
    pictures from there (None: the last segment reads to the end), as ffmpeg options."""
    seg = plan.segments[index]
    cut = max(0.0, seg.start - CUT_EPSILON)
    if index == plan.count - 1:
        return f"{cut:.6f}", None
    # Up to just before the next boundary frame, which the next segment seeks to.
    return f"{cut:.6f}", f"{seg.end - CUT_EPSILON - cut:.6f}"


@dataclass(frozen=True)
class SegmentTap:
    """A segment's analysis as a branch of its own encode (`build_segment_args`): scene cuts and
    black runs over its window, which reaches `ANALYSIS_MARGIN` into both neighbours so a
    detector never starts cold at a boundary, and the storyboard tiles the segment owns.

    The process seeks to the window's start; the tap reads every decoded picture on the window's
    timeline (scaled to the analysis size, no input stage: as the separate pass it replaces
    did), while the rungs get only the segment's own frames (`encode_filter`).
    """

    plan: SegmentPlan
    index: int
    storyboard: thumbnails.StoryboardPlan | None = None

    @property
    def raw(self) -> bool:
        return True

    @property
    def takes_audio(self) -> bool:
        return False  # silences and loudness are measured once, on the whole audio

    @property
    def window(self) -> tuple[float, float]:
        return _window(self.plan.segments[self.index], ANALYSIS_MARGIN, self.plan.info.duration)

    @property
    def tiles(self) -> list[int]:
        """The storyboard tiles whose time falls in the segment's own range."""
        sb, seg = self.storyboard, self.plan.segments[self.index]
        if sb is None:
            return []
        half = sb.interval / 2
        return [i for i in range(sb.count) if seg.start <= half + i * sb.interval < seg.end]

    def chains(self, video: str, audio: str | None) -> list[str]:
        """[video] (window time) -> the detectors [sigout] and the owned tiles [tiles]."""
        w0, w1 = self.window
        w, h = analysis.analysis_size(self.plan.info)
        # The window ends at w1 even when the process reads on (the last segment's rungs).
        head = f"[{video}]trim=duration={w1 - w0:.6f},scale={w}:{h}"
        tiles, sb = self.tiles, self.storyboard
        detect = f"[sig]{analysis.detectors()}[sigout]"
        if not tiles or sb is None:
            return [f"{head}[sig]", detect]
        first = sb.interval / 2 + tiles[0] * sb.interval - w0
        return [
            f"{head},split=2[sig][sb]",
            detect,
            f"[sb]select='gte(t\\,{first:.6f}+selected_n*{sb.interval:.6f})',"
            f"scale={sb.tile_width}:{sb.tile_height},setsar=1[tiles]",
        ]

    def output_args(self) -> list[str]:
        """The detectors to the null muxer, each owned tile to its numbered PNG."""
        args = ["-map", "[sigout]", "-f", "null", "-"]
        tiles = self.tiles
        if tiles:
            args += ["-map", "[tiles]", "-frames:v", str(len(tiles)), "-fps_mode", "passthrough",
                     "-start_number", str(tiles[0]), STORYBOARD_TILE_PATTERN]  # fmt: skip
        return args

    def read(
        self, log: str, out_dir: Path
    ) -> tuple[list[dict[str, float]], list[dict[str, float]], list[str]]:
        """Scene cuts and black runs seen in the window (absolute times, not yet clipped to what
        the segment owns) and the names of the tiles written, from the log of the run."""
        w0, w1 = self.window
        found = analysis.parse_signals(log, w1 - w0 + 1.0, has_audio=False)
        cuts = [{"time": round(c["time"] + w0, 3), "score": c["score"]} for c in found.cuts]
        black = [
            {"start": round(b["start"] + w0, 3), "end": round(b["end"] + w0, 3)}
            for b in found.black_segments
        ]
        names = [STORYBOARD_TILE_PATTERN % i for i in self.tiles]
        return cuts, black, [n for n in names if (out_dir / n).is_file()]


def _trim_to_segment(plan: SegmentPlan, start: str, cut: str, length: str | None) -> str:
    """Filters that keep, of pictures read from a seek to `start`, exactly the frames and
    timestamps a seek to `cut` (+ `-t length`) gives.

    A seek to t shifts every timestamp by -(t + the container's start), rounded once to the
    stream's time base, then drops what is negative (and what lies `length` past the first frame
    kept). So the shift between the two seeks is a whole number of ticks, computed here exactly
    as ffmpeg rounds, and the `trim` is the one ffmpeg inserts for an accurate seek: the rungs
    get the same pictures with the same timestamps, so the same keyframes and files.
    """
    tb = Fraction(plan.time_base)
    shift = _ticks(_us(cut) + plan.start_us, tb) - _ticks(_us(start) + plan.start_us, tb)
    return f"setpts=PTS-{shift},trim=start=0" + (f":duration={length}" if length else "")


def build_segment_args(
    plan: SegmentPlan,
    index: int,
    *,
    source: str,
    preset: str = "veryfast",
    tap: SegmentTap | None = None,
) -> list[str]:
    """ffmpeg arguments of one segment's ladder: transcode's builder over the segment's range.

    With `tap` (the product) the process reads the tap's window once: a seek to its start, the
    segment's analysis on every picture, the rungs trimmed to the segment's own frames. Without,
    it is the encode alone, seeking to the segment's cut: the reference the one-process form is
    checked and benchmarked against.
    """
    seg = plan.segments[index]
    cut, length = _range(plan, index)
    encode_filter = ""
    if tap is None:
        input_args = ["-ss", cut] + (["-t", length] if length else [])
    else:
        if not plan.time_base:
            raise ValueError("The plan has no seek timeline (SegmentPlan.reading).")
        w0, w1 = tap.window
        input_args = ["-ss", f"{w0:.6f}"] + (["-t", f"{w1 - w0:.6f}"] if length else [])
        encode_filter = _trim_to_segment(plan, f"{w0:.6f}", cut, length)

    def outputs_for(rung: transcode.Rung) -> list[tuple[str, str]]:
        # AV1: fragmented MP4 whose fragments carry their place in the video (`frag_discont`:
        # each one's decode time is its timestamp, not the time since this process started),
        # so the segments' pieces join into one timeline as MPEG-TS pieces do.
        fmp4 = (
            ":hls_segment_type=fmp4:hls_segment_options=movflags=+frag_discont"
            f":hls_fmp4_init_filename={segment_init_name(rung, index)}"
            if rung.codec == transcode.AV1
            else ""
        )
        return [
            (
                f"f=hls:hls_time={HLS_SECONDS}:hls_playlist_type=vod:hls_list_size=0{fmp4}"
                f":start_number={seg.first_hls}:hls_segment_filename={rung.segment_pattern}",
                piece_playlist_name(rung),
            )
        ]

    return transcode.build_transcode_args(
        plan.info,
        plan.rungs,
        source=source,
        preset=preset,
        input_args=input_args,
        audio=False,
        outputs_for=outputs_for,
        output_args=["-output_ts_offset", f"{seg.start + TIMELINE_OFFSET:.6f}"],
        tap=tap,
        encode_filter=encode_filter,
    )


def read_playlist(path: Path) -> list[tuple[float, str]]:
    """(duration, uri) of each media segment of an HLS media playlist."""
    entries: list[tuple[float, str]] = []
    duration: float | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        m = _EXTINF.match(line)
        if m:
            duration = float(m.group(1))
        elif line and not line.startswith("#") and duration is not None:
            entries.append((duration, line))
            duration = None
    return entries


def encode_segment(
    out_dir: Path,
    plan: SegmentPlan,
    index: int,
    *,
    source: str,
    exe: str,
    timeout: float,
    storyboard: thumbnails.StoryboardPlan | None,
    on_progress: Callable[[float], None] | None = None,
    preset: str = "veryfast",
) -> SegmentOutput:
    """Encode segment `index` for every rung into out_dir and analyse its window, in ONE ffmpeg
    process (one decode): its HLS entries, cuts, black runs, tiles and timings (no speech).
    Damage in the source is concealed by the decoder, as the one-pass ladder conceals it: the
    same video either way (a source ffmpeg cannot read at all fails the probe, on both paths)."""
    seg = plan.segments[index]
    if not plan.time_base:  # a plan stored before it carried the timeline: read the file
        plan = plan.reading(source)
    tap = SegmentTap(plan, index, storyboard)
    started = time.monotonic()
    result = run_ffmpeg(
        build_segment_args(plan, index, source=source, preset=preset, tap=tap),
        exe=exe, timeout=timeout, cwd=out_dir, duration=seg.duration, on_progress=on_progress,
        error_code="TranscodeFailed", what=f"Encoding segment {index}",
    )  # fmt: skip
    out = SegmentOutput(index)
    for rung in plan.rungs:
        playlist = out_dir / piece_playlist_name(rung)
        entries = read_playlist(playlist) if playlist.is_file() else []
        if not entries:
            raise MediaError("TranscodeFailed", f"Segment {index} wrote no {rung.key} video.")
        out.hls[rung.key] = entries
        if rung.codec == transcode.AV1:
            init = segment_init_name(rung, index)
            if not (out_dir / init).is_file():
                raise MediaError("TranscodeFailed", f"Segment {index} wrote no {rung.key} init.")
            out.inits[rung.key] = init
    read_at = time.monotonic()
    out.cuts, out.black_segments, out.tiles = tap.read(result.stderr, out_dir)
    out.timings["encodeMs"] = int((read_at - started) * 1000)
    # The analysis rides in the encode (its decode and detectors are in encodeMs): what is left
    # of it is reading the results from the log.
    out.timings["analysisMs"] = int((time.monotonic() - read_at) * 1000)
    return out


def _window(seg: Segment, margin: float, duration: float) -> tuple[float, float]:
    return max(0.0, seg.start - margin), min(duration, seg.end + margin)


# --- speech --------------------------------------------------------------------------------------

SAMPLE_RATE = 16000


def decode_audio_window(
    source: str, start: float, end: float, *, exe: str, timeout: float, track: int = 0
) -> Any:
    """Mono 16 kHz float32 samples of [start, end) of audio track `track` (`0:a:N`, numpy)."""
    from chalicelib.media.subtitles import decode_audio

    return decode_audio(source, exe=exe, timeout=timeout, track=track, start=start, end=end)


def transcribe_window(
    source: str,
    start: float,
    end: float,
    model: str,
    *,
    exe: str,
    timeout: float,
    cpu_threads: int = 1,
    track: int = 0,
) -> dict[str, Any]:
    """Speech in [start, end) with word timestamps (absolute), grouped as cues (a sentence or
    a phrase between pauses each, see subtitles.split_cues)."""
    from chalicelib.media.subtitles import transcribe_samples

    samples = decode_audio_window(source, start, end, exe=exe, timeout=timeout, track=track)
    heard = transcribe_samples(samples, model, cpu_threads=cpu_threads)
    cues = [
        [[round(start + w.start, 3), round(start + w.end, 3), w.text] for w in words]
        for words in heard.cues
    ]
    return {
        "window": [start, end],
        "language": heard.language,
        "languageProbability": (
            None if heard.language_probability is None else round(heard.language_probability, 3)
        ),
        "cues": cues,
    }


# --- the whole audio -----------------------------------------------------------------------------


@dataclass
class AudioOutput:
    """The audio rendition (HLS entries) and the whole-programme audio signals."""

    hls: list[tuple[float, str]] = field(default_factory=list)
    silences: list[dict[str, float]] = field(default_factory=list)
    loudness: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AudioOutput:
        raw = json.loads(text)
        raw["hls"] = [(float(d), str(n)) for d, n in raw["hls"]]
        return cls(**raw)


# Above this the whole-audio job uses the native AAC encoder's fast coder: measured 19x
# realtime (twoloop) vs 35x (fast) on one core, so a 3-hour track stays well inside one
# invocation (infra/video_infra/settings.py derives the limits from these figures).
FAST_AAC_ABOVE_SECONDS = 3600.0


def build_audio_args(source: str, duration: float = 0.0, track: int = 0) -> list[str]:
    """One decode of audio track `track` (`0:a:N`, the probe's choice): the AAC rendition as HLS
    (encoded once for the whole video, so no join ever clicks) plus silences and EBU R128
    loudness over the whole programme, with exactly the detectors and settings of the one-pass
    analysis."""
    graph = (
        f"[0:a:{track}]asplit=2[enc][sig];"
        f"[sig]silencedetect=n={analysis.SILENCE_NOISE_DB}dB:d={analysis.SILENCE_MIN_SECONDS},"
        "ebur128=framelog=quiet:peak=true,anullsink"
    )
    return [
        *source_input(source), "-filter_complex", graph, "-map", "[enc]",
        "-c:a", "aac", "-b:a", f"{transcode.AUDIO_KBPS}k", "-ac", "2", "-ar", "48000",
        *(["-aac_coder", "fast"] if duration > FAST_AAC_ABOVE_SECONDS else []),
        "-output_ts_offset", f"{TIMELINE_OFFSET:.6f}", "-flags", "+global_header", "-f", "tee",
        f"[f=hls:hls_time={HLS_SECONDS}:hls_playlist_type=vod:hls_list_size=0"
        f":hls_segment_filename={AUDIO_SEGMENT_PATTERN}]{AUDIO_PLAYLIST}",
    ]  # fmt: skip


def encode_audio(
    out_dir: Path, info: ProbeResult, *, source: str, exe: str, timeout: float
) -> AudioOutput:
    """Encode and analyse the whole audio track into out_dir."""
    result = run_ffmpeg(
        build_audio_args(source, info.duration, info.audio_track.index if info.audio_track else 0),
        exe=exe, timeout=timeout, cwd=out_dir,
        duration=info.duration, error_code="TranscodeFailed", what="Encoding the audio",
    )  # fmt: skip
    signals = analysis.parse_signals(result.stderr, info.duration, has_audio=True)
    entries = read_playlist(out_dir / AUDIO_PLAYLIST)
    if not entries:
        raise MediaError("TranscodeFailed", "The audio rendition was not written.")
    return AudioOutput(entries, signals.silences, signals.loudness)


# --- assembly ------------------------------------------------------------------------------------


def media_playlist(
    entries: Sequence[tuple[float, str]],
    *,
    ended: bool = True,
    maps: dict[int, str] | None = None,
) -> str:
    """A VOD media playlist of `entries` in order: one continuous timeline, no discontinuity.
    `ended=False`: the EVENT playlist of a run still being processed (`#EXT-X-PLAYLIST-TYPE:
    EVENT`, no `#EXT-X-ENDLIST`: players reload it and it only ever grows at its end).
    `maps`: fMP4 pieces — {entry index: the init segment (`#EXT-X-MAP`) from that entry on}."""
    target = max((math.ceil(d - 1e-3) for d, _ in entries), default=HLS_SECONDS)
    if not ended:  # the whole video's pieces are not known yet: never below the HLS length
        target = max(target, HLS_SECONDS)
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{7 if maps else 3}", f"#EXT-X-TARGETDURATION:{target}",
             "#EXT-X-MEDIA-SEQUENCE:0",
             f"#EXT-X-PLAYLIST-TYPE:{'VOD' if ended else 'EVENT'}"]  # fmt: skip
    for i, (duration, uri) in enumerate(entries):
        if maps and i in maps:
            lines.append(f'#EXT-X-MAP:URI="{maps[i]}"')
        lines += [f"#EXTINF:{duration:.6f},", uri]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def live_master_playlist(plan: SegmentPlan) -> str:
    """The master playlist of a run still being processed: its H.264 variants (`live_rungs`),
    each one's bandwidth from its rate cap (its MP4, which the final master measures, is not
    joined yet)."""
    audio_kbps = transcode.AUDIO_KBPS if plan.info.has_audio else 0
    codec = "aac" if plan.info.has_audio else None
    nominal = [
        transcode.Rendition(
            r.quality,
            r.width,
            r.height,
            r.mp4_name,
            r.playlist_name,
            0,
            (r.maxrate_kbps + audio_kbps) * 1000,
            "h264",
            codec,
        )
        for r in plan.live_rungs
    ]
    audio = AUDIO_PLAYLIST if plan.info.has_audio else None
    return transcode.master_playlist(nominal, audio, AUDIO_GROUP)


def audio_until(entries: Sequence[tuple[float, str]], end: float) -> list[tuple[float, str]]:
    """The audio pieces that start before `end` (media time): the audio of a video prefix."""
    out: list[tuple[float, str]] = []
    at = 0.0
    for duration, name in entries:
        if at >= end - 1e-3:
            break
        out.append((duration, name))
        at += duration
    return out


def rung_entries(
    parts: Sequence[SegmentOutput], rung: transcode.Rung
) -> tuple[list[tuple[float, str]], dict[int, str]]:
    """A rung's HLS entries over `parts` in order, and (fMP4) where each part's init begins."""
    entries: list[tuple[float, str]] = []
    maps: dict[int, str] = {}
    for p in parts:
        if rung.key in p.inits:
            maps[len(entries)] = p.inits[rung.key]
        entries += p.hls[rung.key]
    return entries, maps


def build_mp4_args(has_audio: bool, video_format: str = "mpegts") -> list[str]:
    """Stream copy: the rung's segments back to back (one input, fed through a pipe: MPEG-TS
    pieces, or an fMP4 init and every fragment after it) plus the one audio encode (a second),
    as fragmented MP4 on stdout.

    Both inputs keep their timestamps (`-copyts`), which share one timeline (an fMP4 fragment
    carries its own: `frag_discont`), and are shifted together so the video starts at zero:
    their relative offset is exactly the one the encoders produced.
    """
    args = ["-copyts", "-f", video_format, "-i", feed_input(0)]
    if has_audio:
        args += ["-f", "mpegts", "-i", feed_input(1), "-map", "0:v:0", "-map", "1:a:0",
                 "-bsf:a", "aac_adtstoasc"]  # fmt: skip
    else:
        args += ["-map", "0:v:0"]
    return [*args, "-c", "copy", "-output_ts_offset", f"{-TIMELINE_OFFSET:.6f}", *FRAGMENTED_MP4]


# Stored files a join reads ahead (each whole, in memory: a segment file is a few MB), so the
# latency of one GET hides behind the copying of the ones before it.
READ_AHEAD = 4


def _reader(
    open_file: Callable[[str], BinaryIO], names: Sequence[str]
) -> Callable[[BinaryIO], None]:
    """A feed writing the stored files `names` one after another (byte concatenation, as MPEG-TS
    segments join), READ_AHEAD of them fetched ahead; nothing is written locally."""

    def read(name: str) -> bytes:
        with open_file(name) as f:
            return f.read()

    def feed(out: BinaryIO) -> None:
        queue = iter(names)
        with ThreadPoolExecutor(max_workers=READ_AHEAD) as pool:
            ahead = deque(pool.submit(read, n) for n in islice(queue, READ_AHEAD))
            while ahead:
                data = ahead.popleft().result()
                following = next(queue, None)
                if following is not None:
                    ahead.append(pool.submit(read, following))
                out.write(data)

    return feed


def assemble(
    work_dir: Path,
    plan: SegmentPlan,
    parts: Sequence[SegmentOutput],
    audio: AudioOutput | None,
    *,
    exe: str,
    timeout: float,
    open_file: Callable[[str], BinaryIO] | None = None,
    write_mp4: Callable[[str, BinaryIO], int] | None = None,
    locate: Callable[[str], str] | None = None,
) -> transcode.TranscodeResult:
    """Write every rung's playlist and the master into work_dir, and join each rung's MP4 (stream
    copy) from the segment files read through `open_file(name)` into `write_mp4(name, stream)`
    (which returns its size); `locate(name)` is where the MP4 is read back to be measured.
    Defaults: files in work_dir. The HLS media files themselves are the caller's to publish.
    """
    started = time.monotonic()
    opener = open_file or (lambda name: open(work_dir / name, "rb"))  # noqa: SIM115
    writer = write_mp4 or (lambda name, stream: _write_file(work_dir / name, stream))
    where = locate or (lambda name: str(work_dir / name))
    if len(parts) != plan.count or [p.index for p in parts] != list(range(plan.count)):
        raise MediaError("AssemblyFailed", "Not every segment of the video was encoded.")

    def join(rung: transcode.Rung) -> transcode.Rendition:
        entries, maps = rung_entries(parts, rung)
        (work_dir / rung.playlist_name).write_text(
            media_playlist(entries, maps=maps), encoding="utf-8"
        )
        pieces = [n for _, n in entries]
        # fMP4: the first segment's init, then every fragment (the segments' inits are alike:
        # the same encoder settings; each fragment says where it lies)
        video = [maps[0], *pieces] if maps else pieces
        feeds = [_reader(opener, video)]
        if audio:
            feeds.append(_reader(opener, [n for _, n in audio.hls]))
        size: list[int] = []

        def sink(out: BinaryIO) -> None:
            size.append(writer(rung.mp4_name, out))

        args = build_mp4_args(audio is not None, "mov" if maps else "mpegts")
        run_ffmpeg(args, exe=exe, timeout=timeout, cwd=work_dir, error_code="AssemblyFailed",
                   what=f"Joining the {rung.key} rendition", feeds=feeds,
                   stdout_sink=sink)  # fmt: skip
        return transcode.measure(where(rung.mp4_name), rung, size[0])

    # The rungs at once: stream copies wait on reads and uploads, not on the CPU.
    with ThreadPoolExecutor(max_workers=len(plan.rungs)) as pool:
        renditions = list(pool.map(join, plan.rungs))
    (work_dir / transcode.MASTER_PLAYLIST).write_text(
        transcode.master_playlist(renditions, AUDIO_PLAYLIST if audio else None, AUDIO_GROUP),
        encoding="utf-8",
    )
    if audio:
        (work_dir / AUDIO_PLAYLIST).write_text(media_playlist(audio.hls), encoding="utf-8")
    seconds = time.monotonic() - started
    return transcode.TranscodeResult(renditions, transcode.MASTER_PLAYLIST, seconds)


def _write_file(path: Path, stream: BinaryIO) -> int:
    with open(path, "wb") as out:
        shutil.copyfileobj(stream, out, 1024 * 1024)
    return path.stat().st_size


def assemble_storyboard(
    work_dir: Path, storyboard: thumbnails.StoryboardPlan, *, exe: str, timeout: float
) -> bool:
    """Tile the segments' storyboard tiles (sb_%05d.png in work_dir) into the sprite."""
    if not (work_dir / (STORYBOARD_TILE_PATTERN % 0)).is_file():
        return False
    args = ["-framerate", "1", "-start_number", "0", "-i", STORYBOARD_TILE_PATTERN,
            "-vf", f"tile={storyboard.columns}x{storyboard.rows}", "-frames:v", "1",
            "-q:v", "4", "-update", "1", thumbnails.STORYBOARD_NAME]  # fmt: skip
    run_ffmpeg(args, exe=exe, timeout=timeout, cwd=work_dir, error_code="AnalysisFailed",
               what="Tiling the storyboard")  # fmt: skip
    return (work_dir / thumbnails.STORYBOARD_NAME).is_file()
