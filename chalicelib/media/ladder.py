"""The content-aware (per-title) ladder: rungs chosen from short probe encodes, measured by VMAF.

`VIDEO_LADDER=per-title` (the default) decides the ladder of a video once, before it is encoded
(one-pass: before the ladder; segmented: in the plan, which every segment reads):

1. Sample: ~6 % of the video (1-6 s, at most PLAYABLE_SAMPLE_MOST when the first segment waits
   for it; `quality.sample_windows`): three windows spread over a
   long video, one in the middle of a video up to a minute (reached by one seek in an MP4,
   MOV or Matroska file; read from the start in others, where a seek lands between keyframes).
2. Probe: ONE ffmpeg process encodes the sample at each rung of the fixed ladder three times:
   at the fixed ladder's own settings (x264 veryfast CRF 23, its cap, bicubic: the *reference*
   point, what its viewers are owed) and at two steps down the quality dial with the per-title
   settings (`TOP_LEVELS`: CRF 24 and 28 with the cap x 0.96 and x 0.78; `LOWER_LEVELS` for the
   lower rungs: CRF 24 and 27.5), which are x264 options that spend the bits where VMAF sees
   them (`TUNED_X264`) and, below the top, a lanczos downscale; and, when AV1 is on, the top
   rung with SVT-AV1 at two CRFs. Each probe's bytes are kept (the encodes are written, not
   discarded).
3. Score: the same process decodes every probe back and scores it with VMAF against the sample,
   upscaled to the top rung's size (what a viewer of that rung sees on the big screen).
4. Choose (the convex hull of the sample): every reference rung is a *slot* — a viewer whose
   bandwidth affords its bytes and who is owed its quality: the target less MARGIN, or its
   VMAF less MARGIN_BELOW when that is lower. A candidate (a resolution at a level of the
   dial, VMAF interpolated on the chords between the probes, which under-promise on the
   concave curve; bytes log-linearly)
   serves a slot when it reaches that quality at no more than BYTES_MARGIN of the slot's bytes
   (a lower resolution serves a higher one's only when about transparent).
   The ladder is the set of candidates, at most one per resolution, that serves every slot for
   the fewest bytes — so a rung is dropped when another serves its viewers (1080p at a higher
   CRF can serve the 720p viewer of a screen recording; 720p the 1080p viewer of a slide), and
   a reference rung at the least step from its own settings always serves its own slot (never
   worse, at worst about the fixed ladder).
5. Keyframes: one per HLS segment (4 s, `transcode.SEGMENT_SECONDS`) instead of the fixed
   ladder's every 2 s where the pictures repeat (LONG_GOP_MOST_BPP): a player switches and seeks
   at segment starts only, and a static picture (slides, screens) spends most of its bytes on
   keyframes.

`fixed` is the fixed ladder (CRF 23, bicubic, 2 s keyframes, nothing probed). AV1
(`VIDEO_CODECS=h264,av1`) adds SVT-AV1 renditions of the top `AV1_RUNGS` rungs of the fixed
ladder, at the CRF whose probed VMAF meets the top slot's quality.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from chalicelib.media import quality
from chalicelib.media.errors import MediaError
from chalicelib.media.ffmpeg import run_ffmpeg
from chalicelib.media.filters import ENCODER_COLOR_ARGS
from chalicelib.media.probe import ProbeResult
from chalicelib.media.transcode import (
    AV1,
    H264,
    KEYFRAME_SECONDS,
    REFERENCE_CRF,
    SEGMENT_SECONDS,
    Rung,
    TranscodeResult,
    encoder_args,
    keyframes,
    plan_ladder,
)

FIXED, PER_TITLE = "fixed", "per-title"
LADDERS = (FIXED, PER_TITLE)
CODECS = (H264, AV1)
DEFAULT_VMAF_TARGET = 95.0  # about transparent on a 1080p screen: bits past it are not seen
# The probe's sample stands for the whole video, and misjudges it: a rung aims at most MARGIN
# below the target (VMAF past it is not seen), and at most MARGIN_BELOW below its fixed rung's
# VMAF when that is under the target (measured: an 8 s animation's 480p came out 1.2 below the
# fixed rung where the sample said 0.75; a 12 s fast motion's lanczos 720p 1.03 below where it
# said 0.4 — 4 s keyframes cost high motion a few tenths a 1 s sample cannot see, and the fixed
# rung itself moves ±0.3 between runs).
MARGIN = 0.75
MARGIN_BELOW = 0.2
# The per-title rungs are encoded with x264 options on top of the preset that spend the bits where
# VMAF sees them: trellis quantisation, variance AQ (aq-mode 2), two reference frames and a longer
# rate lookahead. Measured (bench/encoding_curves.py's curves, whole 8 s clips, VMAF at 1080p): at
# CRF 26 they score what plain veryfast scores at CRF 23 (talking head 1080p 90.7 vs 91.1, 720p
# 78.2 vs 78.1; fast motion 1080p 98.8 vs 98.7) in ~0.8x the bytes, for ~1.1x the encode CPU;
# x264's `faster` preset with AQ 2 saved no more at 1.3x, `medium` without psy-rd ~10 % more at
# 1.5x (docs/encoding.md).
TUNED_X264 = (
    "subme=7:ref=3:mixed-refs=1:trellis=1:rc-lookahead=40:weightp=2:"
    "partitions=p8x8,b8x8,i8x8,i4x4:psy=0"
)
# ...and under the target a rung steps at most this far down the dial (CRF +3, tuned: about the
# fixed rung's VMAF or a little under): a sample whose VMAF hardly falls there is trusted no
# further (an 8 s animation's 480p: CRF 28 on the sample's word, 1.8 below on the clip; a 10 s
# 1080p60 test pattern's 720p at CRF 26.5 said 0.1 under its fixed rung on the 1 s sample and
# came out 1.2 under on the clip — at CRF 26, 0.55 under).
BELOW_TARGET_MOST = 0.3
LOWER_BELOW_TARGET_MOST = 0.3
BYTES_MARGIN = 0.97  # ...and 3 % of a slot's bytes when another resolution serves it
# The quality dial (`at_level`): level 1 is CRF 23 + CRF_SPAN with the cap x CAP_FLOOR.
CRF_SPAN = 10.0
CAP_FLOOR = 0.55
# Each rung is probed at level 0 with the fixed ladder's settings (plain preset, bicubic: its
# viewers' slot, what they are owed) and with the per-title settings (TUNED_X264; lanczos for the
# lower rungs: sharper, ~1 VMAF more at the same CRF, ~8 % fewer bytes at the same VMAF) at two
# levels: CRF 24 and 28 for the top rung, 24 and 27.5 for the lower ones. A rung takes a level on
# that chord (VMAF falls faster the further down the dial: the chord under-promises), or the
# least step with the fixed settings (about the fixed rung, never its bytes).
TOP_LEVELS = (0.1, 0.5)
LOWER_LEVELS = (0.1, 0.45)
BICUBIC, LANCZOS = "bicubic", "lanczos"
LEVEL_STEPS = 40
# The least step down the dial a per-title rung takes (CRF +0.25, cap -1.1 %): its own viewers'
# rung at (about) the fixed settings, yet never more bytes (measured: at level 0 with 4 s
# keyframes a cap-bound 720p came out 1 % over the fixed rung).
LEVEL_FLOOR = 1 / LEVEL_STEPS  # the levels searched between the probes
AV1_CRFS = (32, 48)  # SVT-AV1's probe points (its CRF scale is 0-63)
AV1_CRF_RANGE = (24, 56)
AV1_DEFAULT_CRF = 35  # the fixed ladder's AV1 rungs (nothing probed)
AV1_RUNGS = 2  # AV1 renditions of the top two rungs: the bytes are in them
PROBE_SUBSAMPLE = 3  # VMAF every third frame of the probes (the model is most of their cost)
MEASURE_SUBSAMPLE = 2  # ...and every second frame of the outputs' measure on the item
# The probe's sample: 6 % of the video, 1-6 s, in three windows (one when short).
SAMPLE_FRACTION, SAMPLE_LEAST, SAMPLE_MOST = 0.06, 1.0, 6.0
# ...and at most 1 s when the video is to be playable while it is processed (segmented, published
# as its segments finish): the probe runs in the plan, before the first segment starts (measured,
# `make bench-playable`, 1 min 1080p30 with grain: the first frame at 10.2 s with the fixed
# ladder, 26.5 s with a 2 s sample).
PLAYABLE_SAMPLE_MOST = 1.0
MEASURE_LEAST = 1.0  # the outputs' VMAF on the item: on at least a second of the video
# VMAF is scored on pictures at least this tall (short side): the model (vmaf_v0.6.1) stands for a
# viewer of a 1080p screen, so a smaller source's rungs are scored as that viewer sees them,
# upscaled (measured: a 720p source's 720p rung scored 96.5 at 720p and 93.5 upscaled to 1080p;
# judged at 720p it was taken for transparent and came out 3.2 under its fixed rung at 1080p).
SCORE_SHORT_SIDE_LEAST = 1080
PER_TITLE_KEYFRAME_SECONDS = SEGMENT_SECONDS
# ...where the pictures repeat: a keyframe per HLS segment pays when inter frames are cheap and a
# keyframe is much of the bytes (slides: 0.55x at the same VMAF), and costs quality where every
# frame spends many bits (measured: 4 s keyframes put a 12 s fast motion's 720p a few tenths under
# 2 s ones — a 1 s sample cannot see it, and the rung came out 1.03 under its fixed rung). The
# top rung's bits per pixel at the fixed settings on the sample decide: under this, one keyframe
# per segment; over it, every 2 s as the fixed ladder (bench clips at 1080p: animation 0.001,
# slides 0.006, screen 0.036 | talking head 0.062, fast motion 0.08, film grain 0.17).
LONG_GOP_MOST_BPP = 0.05


@dataclass(frozen=True)
class Point:
    """One probe encode of the sample: its VMAF mean and its bytes."""

    vmaf: float
    bytes: int


@dataclass(frozen=True)
class RungScore:
    """What the probe measured of one rung (VMAF means on the sample) and the choice made."""

    key: str
    scores: dict[float, float]  # level (H.264) or CRF (AV1) -> VMAF mean on the sample
    goal: float | None
    chosen: float  # the level (H.264) or the CRF (AV1)
    predicted: float
    serves: list[str] = field(default_factory=list)  # the reference rungs whose viewers it serves
    bytes_ratio: float | None = None  # its predicted bytes / the same resolution's reference

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scores"] = {str(k): round(v, 2) for k, v in self.scores.items()}
        d["predicted"] = round(self.predicted, 2)
        d["chosen"] = round(self.chosen, 3)
        d["goal"] = None if self.goal is None else round(self.goal, 2)
        d["bytesRatio"] = None if self.bytes_ratio is None else round(self.bytes_ratio, 3)
        del d["bytes_ratio"]
        return d


@dataclass
class LadderDecision:
    """The rungs to encode (H.264 first, top first; then AV1) and how they were chosen."""

    mode: str
    rungs: list[Rung]
    target: float
    dropped: list[str] = field(default_factory=list)
    scores: list[RungScore] = field(default_factory=list)
    windows: list[quality.Window] = field(default_factory=list)
    probe_seconds: float = 0.0  # wall time of the probe (encode + score)
    fallback: str | None = None  # why the per-title probe fell back to the fixed ladder

    def to_dict(self) -> dict[str, Any]:
        """The item's `transcoding.ladder` and the segment plan's `ladderDecision`."""
        return {
            "mode": self.mode,
            "vmafTarget": self.target,
            "rungs": [
                {
                    "key": r.key,
                    "codec": r.codec,
                    "crf": r.crf,
                    "maxrateKbps": r.maxrate_kbps,
                    "keyframeSeconds": r.keyframe_seconds,
                    "scaler": r.scaler,
                    "x264Params": r.x264_params,
                }
                for r in self.rungs
            ],
            "dropped": self.dropped,
            **({"fallback": self.fallback} if self.fallback else {}),
            "probe": {
                "windows": [[w.start, w.duration] for w in self.windows],
                "seconds": round(self.probe_seconds, 3),
                "scores": [s.to_dict() for s in self.scores],
            },
        }


def fixed_ladder(info: ProbeResult, codecs: Sequence[str] = (H264,)) -> LadderDecision:
    """Today's ladder: CRF 23 with the fixed caps (and AV1 at its default CRF when asked)."""
    rungs = plan_ladder(info.width, info.height)
    av1 = [replace(r, codec=AV1, crf=AV1_DEFAULT_CRF) for r in rungs[:AV1_RUNGS]]
    return LadderDecision(FIXED, rungs + (av1 if AV1 in codecs else []), DEFAULT_VMAF_TARGET)


def at_level(
    rung: Rung, level: float, index: int = 0,
    keyframe_seconds: int = PER_TITLE_KEYFRAME_SECONDS,
) -> Rung:  # fmt: skip
    """Rung `index` (0: the top) one step down the quality dial: level 0 is the fixed ladder's
    (CRF 23, its cap), level 1 is CRF 23 + CRF_SPAN with the cap x CAP_FLOOR; between, both
    linearly. CRF governs where the cap does not bind (easy pictures), the cap where it does
    (grain, motion). On its candidates' chord (`tuned`) the rung takes the per-title settings,
    below it the fixed ladder's. Per-title rungs key once per HLS segment."""
    crf = round(REFERENCE_CRF + CRF_SPAN * level, 2)
    cap = round(rung.maxrate_kbps * (1 - (1 - CAP_FLOOR) * level))
    on = tuned(index, level)
    return replace(
        rung, crf=crf, maxrate_kbps=cap, keyframe_seconds=keyframe_seconds,
        scaler=LANCZOS if on and index else BICUBIC,
        x264_params=TUNED_X264 if on and rung.codec == H264 else "",
    )  # fmt: skip


def tuned(index: int, level: float) -> bool:
    """Rung `index` at `level` is on its candidates' chord (TUNED_X264, lanczos below the top);
    level 0 (the slot) and the least step (about the fixed rung) are the fixed settings."""
    return level >= candidate_levels(index)[0]


def candidate_levels(index: int) -> tuple[float, ...]:
    """The levels of rung `index`'s candidates' chord (TOP_LEVELS or LOWER_LEVELS)."""
    return TOP_LEVELS if index == 0 else LOWER_LEVELS


def levels_of(index: int) -> tuple[float, ...]:
    """The probed levels of rung `index`: level 0 (the fixed settings: the slot) and the levels
    of its candidates' chord."""
    return (0.0, *candidate_levels(index))


def decide(
    work_dir: Path,
    info: ProbeResult,
    *,
    source: str,
    exe: str,
    timeout: float,
    mode: str = PER_TITLE,
    target: float = DEFAULT_VMAF_TARGET,
    codecs: Sequence[str] = (H264,),
    preset: str = "veryfast",
    sample_most: float = SAMPLE_MOST,
) -> LadderDecision:
    """The ladder of this video (see the module's doc); `source` is read in sampled windows
    only (a local path or a URL), `sample_most` seconds of it at most."""
    if mode == FIXED:
        return fixed_ladder(info, codecs)
    started = time.monotonic()
    base = plan_ladder(info.width, info.height)
    windows = quality.sample_windows(
        info.duration, fraction=SAMPLE_FRACTION, least=SAMPLE_LEAST, most=sample_most,
        count=1 if info.duration <= quality.SEEK_AFTER_SECONDS else 3,
    )  # fmt: skip
    probed = [(i, r, level) for i, r in enumerate(base) for level in levels_of(i)]
    probes = [at_level(r, level, i) for i, r, level in probed]
    if AV1 in codecs:
        probes += [at_level(replace(base[0], codec=AV1), 0.0) for _ in AV1_CRFS]
        probes[-len(AV1_CRFS):] = [replace(p, crf=c, maxrate_kbps=base[0].maxrate_kbps)
                                   for p, c in zip(probes[-len(AV1_CRFS):], AV1_CRFS,
                                                   strict=True)]  # fmt: skip
    points = probe(work_dir, info, probes, source=source, windows=windows, exe=exe,
                   timeout=timeout, preset=preset)  # fmt: skip
    keys = [(r.key, level) for _, r, level in probed]
    keys += [(p.key, p.crf) for p in probes[len(probed) :]]  # AV1: by its CRF
    measured = dict(zip(keys, points, strict=True))
    frames = sum(w.duration for w in windows) * (info.fps or 25.0)
    decision = choose(base, measured, target=target, codecs=codecs, sample_frames=frames)
    decision.windows = windows
    decision.probe_seconds = time.monotonic() - started
    return decision


def _on_curve(x: float, curve: Sequence[tuple[float, Point]]) -> Point:
    """The probes' piecewise chord at `x` (within the probed levels)."""
    for low, high in itertools.pairwise(curve):
        if x <= high[0]:
            return _interpolate(x, low, high)
    return curve[-1][1]


def _interpolate(x: float, low: tuple[float, Point], high: tuple[float, Point]) -> Point:
    """The probe chord at `x`: VMAF linearly, bytes log-linearly (a CRF step costs a share)."""
    (x0, p0), (x1, p1) = low, high
    t = (x - x0) / (x1 - x0)
    b0, b1 = max(1, p0.bytes), max(1, p1.bytes)
    return Point(p0.vmaf + (p1.vmaf - p0.vmaf) * t, round(b0 * (b1 / b0) ** t))


Option = tuple[int, int, float, Point]  # (slots served as a bit mask, bytes, level, point)


def choose(
    base: Sequence[Rung],
    measured: dict[tuple[str, float], Point],
    *,
    target: float = DEFAULT_VMAF_TARGET,
    codecs: Sequence[str] = (H264,),
    sample_frames: float | None = None,
) -> LadderDecision:
    """The per-title ladder from the probe: `measured[(rung key, 0)]` at level 0 (the fixed
    ladder's settings), `[(key, 1)]` at level 1; `[("av1_<top>", crf)]` for AV1 (see the
    module's doc, step 4). `sample_frames`: the frames probed (for the keyframe interval,
    LONG_GOP_MOST_BPP; None: one keyframe per segment)."""
    slots = {r.key: measured[(r.key, 0)] for r in base}
    keyframe_seconds = keyframes_for(base[0], slots[base[0].key], sample_frames)
    goals = {k: min(target - MARGIN, p.vmaf - MARGIN_BELOW) for k, p in slots.items()}
    options = [_options(i, base, measured, goals, target) for i in range(len(base))]
    chosen = _cheapest(options, len(base))
    rungs: list[Rung] = []
    scores: list[RungScore] = []
    dropped: list[str] = []
    for i, (r, option) in enumerate(zip(base, chosen, strict=True)):
        if option is None:
            dropped.append(r.key)
            continue
        mask, _, level, point = option
        serves = [s.key for j, s in enumerate(base) if mask >> j & 1]
        rungs.append(at_level(r, level, i, keyframe_seconds))
        scores.append(RungScore(
            r.key, {lv: measured[(r.key, lv)].vmaf for lv in levels_of(i)
                    if (r.key, lv) in measured},
            max(goals[k] for k in serves), level, point.vmaf, serves,
            point.bytes / max(1, slots[r.key].bytes),
        ))  # fmt: skip
    if AV1 in codecs:
        # AV1 is measured against the top fixed rung within 1 point: the margin is MARGIN
        top = slots[base[0].key]
        av1_rungs, av1_score = _av1(base, measured, min(target, top.vmaf) - MARGIN, top,
                                    keyframe_seconds)  # fmt: skip
        rungs += av1_rungs
        scores.append(av1_score)
    return LadderDecision(PER_TITLE, rungs, target, dropped, scores)


def keyframes_for(top: Rung, slot: Point, sample_frames: float | None) -> int:
    """The per-title ladder's keyframe interval (LONG_GOP_MOST_BPP): one per HLS segment where
    the top rung at the fixed settings spends few bits per pixel, else the fixed ladder's."""
    if not sample_frames:
        return PER_TITLE_KEYFRAME_SECONDS
    bpp = slot.bytes * 8 / (top.width * top.height * sample_frames)
    return PER_TITLE_KEYFRAME_SECONDS if bpp < LONG_GOP_MOST_BPP else KEYFRAME_SECONDS


def _options(
    index: int, base: Sequence[Rung], measured: dict[tuple[str, float], Point],
    goals: dict[str, float], target: float,
) -> list[Option]:  # fmt: skip
    """The levels of rung `base[index]` worth considering: per set of slots it would serve, the
    cheapest. Its own slot it serves at its goal (and at LEVEL_FLOOR whatever the probe says:
    about the fixed rung; on a lower rung's lanczos chord only within BYTES_MARGIN of the fixed
    rung's bytes: lanczos spends more at the same CRF); another resolution's slot at its goal
    within BYTES_MARGIN of its bytes — a higher one's only when about transparent (the sample
    flatters a lower rung on grain: measured, 720p dropped 1080p on the probe and was 5 points
    under it on the clip)."""
    r = base[index]
    curve = [(lv, measured[(r.key, lv)]) for lv in candidate_levels(index)
             if (r.key, lv) in measured]  # fmt: skip
    best: dict[int, Option] = {}
    for level in (i / LEVEL_STEPS for i in range(1, LEVEL_STEPS + 1)):
        if level > curve[-1][0]:  # never past the last probe: the chord says nothing there
            break
        if level < curve[0][0]:  # before its candidates' chord: only its least step
            if level != LEVEL_FLOOR:
                continue
            point = measured[(r.key, 0)]  # the fixed settings: about the fixed rung's bytes
        else:
            point = _on_curve(level, curve)
        mask = 0
        for j, slot in enumerate(base):
            ref = measured[(slot.key, 0)]
            if j == index:  # its own viewers: the same resolution
                most = LOWER_BELOW_TARGET_MOST if index else BELOW_TARGET_MOST
                near = ref.vmaf >= target or level <= most
                cheaper = point.bytes <= ref.bytes * BYTES_MARGIN
                ok = level == LEVEL_FLOOR or (near and cheaper and point.vmaf >= goals[slot.key])
            elif j < index:  # a higher resolution's: only when about transparent
                ok = point.vmaf >= target - MARGIN and point.bytes <= ref.bytes * BYTES_MARGIN
            else:
                ok = point.vmaf >= goals[slot.key] and point.bytes <= ref.bytes * BYTES_MARGIN
            if ok:
                mask |= 1 << j
        if mask and (mask not in best or point.bytes < best[mask][1]):
            best[mask] = (mask, point.bytes, level, point)
    return list(best.values())


def _cheapest(options: list[list[Option]], slots: int) -> tuple[Option | None, ...]:
    """One option (or none) per resolution: every slot served, the fewest bytes in all — the top
    rung included: when a lower resolution is about transparent for the top's viewers in fewer
    bytes, the top adds no quality and goes (issue 25: "1080p within 1 VMAF of 720p upscaled")."""
    everyone = (1 << slots) - 1
    chosen: tuple[Option | None, ...] | None = None
    cost = math.inf
    for combo in itertools.product(*[[None, *o] for o in options]):
        mask = total = 0
        for option in combo:
            if option is not None:
                mask, total = mask | option[0], total + option[1]
        if mask == everyone and total < cost:
            chosen, cost = combo, total
    assert chosen is not None  # every reference rung at level 0 serves its own slot
    return chosen


def _av1(
    base: Sequence[Rung], measured: dict[tuple[str, float], Point], goal: float, ref: Point,
    keyframe_seconds: int,
) -> tuple[list[Rung], RungScore]:  # fmt: skip
    """AV1 renditions of the top AV1_RUNGS rungs at the CRF meeting the top slot's goal, keyed
    with the H.264 rungs (aligned segments)."""
    top = base[0]
    low, high = ((float(c), measured[(f"{AV1}_{top.quality}", c)]) for c in AV1_CRFS)
    chord = (low[0], low[1].vmaf), (high[0], high[1].vmaf)
    crf = _av1_crf(goal, *chord)
    rungs = [replace(r, codec=AV1, crf=crf, keyframe_seconds=keyframe_seconds)
             for r in base[:AV1_RUNGS]]  # fmt: skip
    ratio = _interpolate(crf, low, high).bytes / max(1, ref.bytes)
    score = RungScore(f"{AV1}_{top.quality}", dict(chord), goal, crf,
                      _predict(crf, *chord), [top.key], ratio)  # fmt: skip
    return rungs, score


def level_for(goal: float, low: tuple[float, float], high: tuple[float, float]) -> float:
    """The furthest point on the chord from `low` (x, vmaf) to `high` whose VMAF meets `goal`;
    never outside them (the curve is concave: between the probes the chord under-promises)."""
    (x0, v0), (x1, v1) = low, high
    if v1 >= goal:
        return x1
    if v0 <= goal or v0 <= v1:
        return x0
    return x0 + (v0 - goal) / (v0 - v1) * (x1 - x0)


def _predict(x: float, low: tuple[float, float], high: tuple[float, float]) -> float:
    (x0, v0), (x1, v1) = low, high
    return v0 + (v1 - v0) * (x - x0) / (x1 - x0)


def _av1_crf(goal: float, low: tuple[float, float], high: tuple[float, float]) -> int:
    """SVT-AV1's CRF for `goal`: on the chord between its probes, and below the lower probe a
    linear extension (the curve is flatter there: it over-delivers), within AV1_CRF_RANGE."""
    (c0, v0), (c1, v1) = low, high
    if v0 <= v1:  # the higher CRF scored as well for fewer bytes (its cap binds: grain)
        return min(AV1_CRF_RANGE[1], int(c1))
    if v0 >= goal:
        return min(AV1_CRF_RANGE[1], math.floor(level_for(goal, low, high)))
    slope = (v0 - v1) / (c1 - c0)  # VMAF per CRF step
    return max(AV1_CRF_RANGE[0], int(c0) - math.ceil((goal - v0) / slope))


def score_size(top: Rung) -> tuple[int, int]:
    """The size VMAF is scored at: the top rung's, upscaled (aspect kept, even sides) when its
    short side is under SCORE_SHORT_SIDE_LEAST."""
    short = min(top.width, top.height)
    if short >= SCORE_SHORT_SIDE_LEAST:
        return top.width, top.height
    k = SCORE_SHORT_SIDE_LEAST / short
    width, height = (max(2, round(side * k / 2) * 2) for side in (top.width, top.height))
    return width, height


def probe(
    work_dir: Path,
    info: ProbeResult,
    probes: Sequence[Rung],
    *,
    source: str,
    windows: Sequence[quality.Window],
    exe: str,
    timeout: float,
    preset: str,
) -> list[Point]:
    """Encode every probe from the sampled windows and score each with VMAF against them, in
    ONE ffmpeg process: the windows are decoded once, each encode is written (its bytes are
    the probe's other half: raw H.264 or IVF, removed after) and decoded back by a loopback
    decoder (`-dec`) and compared, upscaled to the top rung's size (`score_size`: at least
    1080p).
    The encoders keep the sample's timestamps (`passthrough`, in the filter's time base: in the
    default one, 1/frame rate, the re-timed pictures of a source not at 25 fps collide and the
    pairs slip by a frame — measured, a 24 fps clip's probe scored 60 where the clip scores 92),
    which pair each
    decoded picture with its original (a loopback decoder's frames are not re-timed: measured,
    a count-based re-timing pairs them with their neighbours)."""
    size = (probes[0].width, probes[0].height)
    scored = score_size(probes[0])
    n = len(probes)
    encode_graph = quality.sample_chain(info, windows, size, "[sample]") + f";[sample]split={n}"
    encode_graph += "".join(f"[s{i}]" for i in range(n)) + "".join(
        f";[s{i}]scale={r.width}:{r.height}:flags={r.scaler},setsar=1,format=yuv420p[v{i}]"
        for i, r in enumerate(probes)
    )
    score_graph = quality.sample_chain(info, windows, scored, "[ref]") + f";[ref]split={n}"
    score_graph += "".join(f"[r{i}]" for i in range(n)) + "".join(
        f";[dec:{i}]scale={scored[0]}:{scored[1]}:flags=bicubic,setsar=1,"
        f"format=yuv420p[d{i}];[d{i}][r{i}]"
        f"{quality.vmaf_filter(f'probe_{i:02d}.json', PROBE_SUBSAMPLE)}[o{i}]"
        for i in range(n)
    )
    args = [*quality.sample_inputs(source, windows, info), "-filter_complex", encode_graph]
    encodes = [work_dir / f"probe_{i:02d}.{'ivf' if r.codec == AV1 else 'h264'}"
               for i, r in enumerate(probes)]  # fmt: skip
    for i, r in enumerate(probes):
        # One thread per encoder: the probes run side by side anyway, and x264's frame threads
        # on a 1 s sample are mostly start-up and flush (measured: probe CPU -28 % on slides,
        # -10 % on the talking head).
        threads = ["-threads:v:0", "1"] if r.codec == H264 else []
        args += ["-map", f"[v{i}]", *encoder_args(r, 0, preset), *threads, "-force_key_frames",
                 keyframes(r), "-sc_threshold", "0", *ENCODER_COLOR_ARGS,
                 "-fps_mode", "passthrough", f"-enc_time_base:v:{0}", "filter",
                 "-y", encodes[i].name, "-dec", f"{i}:0"]  # fmt: skip
    args += ["-filter_complex", score_graph]
    for i in range(n):
        args += ["-map", f"[o{i}]", "-f", "null", "-"]
    logs = [work_dir / f"probe_{i:02d}.json" for i in range(n)]
    try:
        run_ffmpeg(args, exe=exe, timeout=timeout, cwd=work_dir, error_code="TranscodeFailed",
                   what="Probing the ladder")  # fmt: skip
        return [Point(quality.read_log(log).mean, path.stat().st_size)
                for log, path in zip(logs, encodes, strict=True)]  # fmt: skip
    finally:
        for path in [*logs, *encodes]:
            path.unlink(missing_ok=True)


def decide_or_fixed(
    work_dir: Path,
    info: ProbeResult,
    *,
    source: str,
    exe: str,
    timeout: float,
    mode: str,
    target: float,
    codecs: Sequence[str],
    preset: str,
    sample_most: float = SAMPLE_MOST,
) -> LadderDecision:
    """`decide`, falling back to the fixed ladder when the probe fails (a source the probe
    cannot read is the ladder's to report, with its own error); the decision says why."""
    try:
        return decide(work_dir, info, source=source, exe=exe, timeout=timeout, mode=mode,
                      target=target, codecs=codecs, preset=preset,
                      sample_most=sample_most)  # fmt: skip
    except MediaError as exc:
        fixed = fixed_ladder(info, codecs)
        fixed.fallback = f"{exc.code}: {exc.message}"
        return fixed


def measure_quality(
    work_dir: Path,
    info: ProbeResult,
    result: TranscodeResult,
    *,
    source: str,
    exe: str,
    timeout: float,
    locate: Callable[[str], str] | None = None,
) -> TranscodeResult:
    """`result` with each rendition's VMAF, measured on the outputs in sampled windows (the
    probe's sample, every second frame) against the source, upscaled to the fixed ladder's top
    size (`score_size`: at least 1080p); best effort: unmeasured (None) when scoring fails."""
    top = score_size(plan_ladder(info.width, info.height)[0])
    windows = quality.sample_windows(info.duration, fraction=SAMPLE_FRACTION,
                                     least=MEASURE_LEAST, most=SAMPLE_MOST)  # fmt: skip
    where = locate or (lambda name: str(work_dir / name))
    try:
        scores = quality.score(
            work_dir, info, [where(r.name) for r in result.renditions], source=source,
            size=top, exe=exe, timeout=timeout, windows=windows,
            subsample=MEASURE_SUBSAMPLE, name="quality",
        )  # fmt: skip
    except MediaError:
        return result
    finally:
        for log in work_dir.glob("quality_*.json"):
            log.unlink(missing_ok=True)
    renditions = [replace(r, vmaf=s.to_dict()) for r, s in zip(result.renditions, scores,
                                                                strict=True)]  # fmt: skip
    return replace(result, renditions=renditions)
