"""The content-aware (per-title) ladder: each rung's CRF chosen from short probe encodes.

`VIDEO_LADDER=per-title` (opt-in; `fixed` is the default until it meets its goals) decides
the ladder of a video once, before it is encoded (one-pass: before the ladder; segmented:
in the plan, which every segment reads):

1. Sample: a few windows spread over the video, together ~10 % of it (1-6 s;
   `quality.sample_windows`).
2. Probe: ONE ffmpeg process encodes the sample at every rung twice, at the fixed ladder's
   CRF 23 and at CRF 32 (same preset, caps and keyframes as the ladder), and, when AV1 is on,
   the top rung with SVT-AV1 at two CRFs.
3. Score: ONE ffmpeg process scores every probe with VMAF against the sample (each upscaled to
   the top rung's size, `quality.score`).
4. Choose, per rung: its goal is min(`VIDEO_VMAF_TARGET`, what CRF 23 gives) - 0.5: never below
   the fixed ladder by more than half a point, never spending past the target. The CRF is the
   highest whose VMAF, interpolated between the two probes (VMAF falls faster as the CRF
   rises, so the chord under-promises), meets the goal: 23..32. The caps stay the fixed
   ladder's, so no rung ever costs more than the fixed one.
5. Drop: the top rung goes when the rung below already reaches the top's goal at CRF 23 (e.g.
   1080p adds nothing over 720p upscaled on a slide); the rung below then aims at that goal.

`fixed` is the fixed ladder (CRF 23 everywhere, nothing probed). AV1 (`VIDEO_CODECS=h264,av1`)
adds SVT-AV1 renditions of the top `AV1_RUNGS` kept rungs, aiming at the top H.264 rung's goal.
"""

from __future__ import annotations

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
    Rung,
    TranscodeResult,
    encoder_args,
    plan_ladder,
)

FIXED, PER_TITLE = "fixed", "per-title"
LADDERS = (FIXED, PER_TITLE)
CODECS = (H264, AV1)
DEFAULT_VMAF_TARGET = 95.0  # about transparent on a 1080p screen: bits past it are not seen
MARGIN = 0.5  # the probe's sample stands for the whole video: keep half a point in hand
# The quality dial (`at_level`): level 1 is CRF 23 + CRF_SPAN with the cap x CAP_FLOOR.
CRF_SPAN = 8.0
CAP_FLOOR = 0.6
MIN_LEVEL = 0.05  # CRF +0.4, cap -2 %: when the goal allows it, never the fixed rung's own bytes
DROP_WITHIN = 1.0  # a rung is dropped only within 1 VMAF of the one below (upscaled)
AV1_CRFS = (30, 42)  # SVT-AV1's probe points (its CRF scale is 0-63)
AV1_CRF_RANGE = (24, 50)
AV1_DEFAULT_CRF = 35  # the fixed ladder's AV1 rungs (nothing probed)
AV1_RUNGS = 2  # AV1 renditions of the top two rungs: the bytes are in them
PROBE_SUBSAMPLE = 2  # VMAF every second frame of the probes (and of the outputs' measure)
# The probe's sample: 6 % of the video, 0.5-6 s, in three windows (one when short).
SAMPLE_FRACTION, SAMPLE_LEAST, SAMPLE_MOST = 0.06, 0.5, 6.0
MEASURE_LEAST = 1.0  # the outputs' VMAF on the item: on at least a second of the video


@dataclass(frozen=True)
class RungScore:
    """What the probe measured of one rung (VMAF means on the sample) and the choice made."""

    key: str
    scores: dict[float, float]  # level (H.264) or CRF (AV1) -> VMAF mean on the sample
    goal: float | None
    chosen: float  # the level (H.264) or the CRF (AV1)
    predicted: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scores"] = {str(k): round(v, 2) for k, v in self.scores.items()}
        d["predicted"] = round(self.predicted, 2)
        d["chosen"] = round(self.chosen, 3)
        d["goal"] = None if self.goal is None else round(self.goal, 2)
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
                {"key": r.key, "codec": r.codec, "crf": r.crf, "maxrateKbps": r.maxrate_kbps}
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


def at_level(rung: Rung, level: float) -> Rung:
    """The rung one step down the quality dial: level 0 is the fixed ladder's (CRF 23, its
    cap), level 1 is CRF 23 + CRF_SPAN with the cap x CAP_FLOOR; between, both linearly. CRF
    governs where the cap does not bind (easy pictures), the cap where it does (grain, motion)."""
    crf = round(REFERENCE_CRF + CRF_SPAN * level, 1)
    cap = round(rung.maxrate_kbps * (1 - (1 - CAP_FLOOR) * level))
    return replace(rung, crf=crf, maxrate_kbps=cap)


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
) -> LadderDecision:
    """The ladder of this video (see the module's doc); `source` is read in sampled windows
    only (a local path or a URL)."""
    if mode == FIXED:
        return fixed_ladder(info, codecs)
    started = time.monotonic()
    base = plan_ladder(info.width, info.height)
    windows = quality.sample_windows(info.duration, fraction=SAMPLE_FRACTION,
                                     least=SAMPLE_LEAST, most=SAMPLE_MOST)  # fmt: skip
    probes = [at_level(r, level) for r in base for level in (0.0, 1.0)]
    if AV1 in codecs:
        probes += [replace(base[0], codec=AV1, crf=c) for c in AV1_CRFS]
    scores = probe(work_dir, info, probes, source=source, windows=windows, exe=exe,
                   timeout=timeout, preset=preset)  # fmt: skip
    measured = {(p.key, i % 2 if p.codec == H264 else p.crf): s.mean
                for i, (p, s) in enumerate(zip(probes, scores, strict=True))}  # fmt: skip
    decision = choose(base, measured, target=target, codecs=codecs)
    decision.windows = windows
    decision.probe_seconds = time.monotonic() - started
    return decision


def choose(
    base: Sequence[Rung],
    measured: dict[tuple[str, float], float],
    *,
    target: float = DEFAULT_VMAF_TARGET,
    codecs: Sequence[str] = (H264,),
) -> LadderDecision:
    """The per-title ladder from the probe's VMAF means: `measured[(rung key, 0)]` at level 0
    (the fixed ladder's settings), `[(key, 1)]` at level 1; `[("av1_<top>", crf)]` for AV1."""

    def points(r: Rung) -> tuple[tuple[float, float], tuple[float, float]]:
        return (0.0, measured[(r.key, 0)]), (1.0, measured[(r.key, 1)])

    goals = {r.key: min(target, points(r)[0][1]) - MARGIN for r in base}
    kept = list(base)
    dropped: list[str] = []
    # The top rung goes when the one below, at the fixed ladder's settings, is itself about
    # transparent (the target, less the margin) and within DROP_WITHIN of it (VMAF past the
    # target counting as the target): below that, the sample may flatter a lower rung (measured
    # on film grain: 1080p was dropped for a 720p 6 points below it on the whole clip).
    while (
        len(kept) > 1
        and points(kept[1])[0][1] >= max(goals[kept[0].key], target - MARGIN)
        and min(target, points(kept[0])[0][1]) - min(target, points(kept[1])[0][1]) <= DROP_WITHIN
    ):
        top = kept.pop(0)
        dropped.append(top.key)
        goals[kept[0].key] = max(goals[kept[0].key], goals[top.key])
    rungs: list[Rung] = []
    scores: list[RungScore] = []
    for r in kept:
        low, high = points(r)
        level = level_for(goals[r.key], low, high)
        if level < MIN_LEVEL and _predict(MIN_LEVEL, low, high) >= low[1] - 2 * MARGIN + 0.1:
            level = MIN_LEVEL  # a step below the fixed rung: fewer bytes, not the same ones
        rungs.append(at_level(r, level))
        scores.append(RungScore(r.key, {0: low[1], 1: high[1]}, goals[r.key], level,
                                _predict(level, low, high)))  # fmt: skip
    if AV1 in codecs:
        top = base[0]
        a_low, a_high = ((float(c), measured[(f"{AV1}_{top.quality}", c)]) for c in AV1_CRFS)
        goal = goals[rungs[0].key]
        crf = _av1_crf(goal, a_low, a_high)
        rungs += [replace(r, codec=AV1, crf=crf, maxrate_kbps=r.maxrate_kbps)
                  for r in rungs[:AV1_RUNGS]]  # fmt: skip
        scores.append(RungScore(f"{AV1}_{top.quality}", dict((a_low, a_high)), goal,
                                crf, _predict(crf, a_low, a_high)))  # fmt: skip
    return LadderDecision(PER_TITLE, rungs, target, dropped, scores)


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
    if v0 >= goal or v0 <= v1:
        return math.floor(level_for(goal, low, high))
    slope = (v0 - v1) / (c1 - c0)  # VMAF per CRF step
    return max(AV1_CRF_RANGE[0], int(c0) - math.ceil((goal - v0) / slope))


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
) -> list[quality.VmafScore]:
    """Encode every probe from the sampled windows and score each with VMAF against them, in
    ONE ffmpeg process: the windows are decoded once, each encode is decoded back by a loopback
    decoder (`-dec`) and compared, upscaled to the top rung's size; nothing is written but the
    VMAF logs. The encoders keep the sample's timestamps (`passthrough`), which pair each
    decoded picture with its original (a loopback decoder's frames are not re-timed: measured,
    a count-based re-timing pairs them with their neighbours)."""
    size = (probes[0].width, probes[0].height)
    n = len(probes)
    encode_graph = quality.sample_chain(info, windows, size, "[sample]") + f";[sample]split={n}"
    encode_graph += "".join(f"[s{i}]" for i in range(n)) + "".join(
        f";[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]"
        for i, r in enumerate(probes)
    )
    score_graph = quality.sample_chain(info, windows, size, "[ref]") + f";[ref]split={n}"
    score_graph += "".join(f"[r{i}]" for i in range(n)) + "".join(
        f";[dec:{i}]scale={size[0]}:{size[1]}:flags=bicubic,setsar=1,"
        f"format=yuv420p[d{i}];[d{i}][r{i}]"
        f"{quality.vmaf_filter(f'probe_{i:02d}.json', PROBE_SUBSAMPLE)}[o{i}]"
        for i in range(n)
    )
    args = [*quality.sample_inputs(source, windows, info), "-filter_complex", encode_graph]
    gop = f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})"
    for i, r in enumerate(probes):
        args += ["-map", f"[v{i}]", *encoder_args(r, 0, preset), "-force_key_frames", gop,
                 *ENCODER_COLOR_ARGS, "-fps_mode", "passthrough", "-f", "null", "-",
                 "-dec", f"{i}:0"]  # fmt: skip
    args += ["-filter_complex", score_graph]
    for i in range(n):
        args += ["-map", f"[o{i}]", "-f", "null", "-"]
    logs = [work_dir / f"probe_{i:02d}.json" for i in range(n)]
    try:
        run_ffmpeg(args, exe=exe, timeout=timeout, cwd=work_dir, error_code="TranscodeFailed",
                   what="Probing the ladder")  # fmt: skip
        return [quality.read_log(log) for log in logs]
    finally:
        for log in logs:
            log.unlink(missing_ok=True)


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
) -> LadderDecision:
    """`decide`, falling back to the fixed ladder when the probe fails (a source the probe
    cannot read is the ladder's to report, with its own error); the decision says why."""
    try:
        return decide(work_dir, info, source=source, exe=exe, timeout=timeout, mode=mode,
                      target=target, codecs=codecs, preset=preset)  # fmt: skip
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
    size; best effort: unmeasured (None) when scoring fails."""
    top = plan_ladder(info.width, info.height)[0]
    windows = quality.sample_windows(info.duration, fraction=SAMPLE_FRACTION,
                                     least=MEASURE_LEAST, most=SAMPLE_MOST)  # fmt: skip
    where = locate or (lambda name: str(work_dir / name))
    try:
        scores = quality.score(
            work_dir, info, [where(r.name) for r in result.renditions], source=source,
            size=(top.width, top.height), exe=exe, timeout=timeout, windows=windows,
            subsample=PROBE_SUBSAMPLE, name="quality",
        )  # fmt: skip
    except MediaError:
        return result
    finally:
        for log in work_dir.glob("quality_*.json"):
            log.unlink(missing_ok=True)
    renditions = [replace(r, vmaf=s.to_dict()) for r, s in zip(result.renditions, scores,
                                                                strict=True)]  # fmt: skip
    return replace(result, renditions=renditions)
