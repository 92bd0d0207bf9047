"""Reference forms the product no longer runs, kept for the tests and benchmarks that compare the
product against them: the one-pass analysis as a pass of its own (before it rode in the ladder's
run, `analysis.SignalTap`), and a segment's analysis as a pass of its own (before `SegmentTap`).
"""

from __future__ import annotations

from pathlib import Path

from chalicelib.media import segments
from chalicelib.media.analysis import Signals, SignalTap, analysis_size
from chalicelib.media.ffmpeg import run_ffmpeg
from chalicelib.media.filters import audio_map, input_stage, source_pad
from chalicelib.media.probe import ProbeResult
from chalicelib.media.thumbnails import StoryboardPlan


def build_signal_args(info: ProbeResult, storyboard: StoryboardPlan | None) -> list[str]:
    """ffmpeg arguments of the analysis as a pass of its own (plus the storyboard sprite).

    The product runs the analysis inside the ladder's run (`SignalTap` in transcode.py); this
    stand-alone pass decodes the source again, and is what the benchmark compares against.
    """
    tap = SignalTap(info, storyboard)
    stage = input_stage(info, size=analysis_size(info))  # HDR: tone-map the small picture only
    chains = [source_pad(info) + stage.chain() + "[pic]"]
    if info.has_audio:
        chains.append(f"[{audio_map(info)}]anull[snd]")
    chains += tap.chains("pic", "snd" if info.has_audio else None)
    # One decoder thread: the transcode runs at the same time and deserves the cores.
    args = ["-threads", "1", *stage.input_args, "-i", "source", "-filter_complex", ";".join(chains)]
    return args + tap.output_args()


def analyse_signals(
    work_dir: Path,
    info: ProbeResult,
    *,
    exe: str,
    timeout: float,
    storyboard: StoryboardPlan | None = None,
) -> Signals:
    """Run the one-pass analysis in work_dir (reads `source`)."""
    result = run_ffmpeg(
        build_signal_args(info, storyboard),
        exe=exe,
        timeout=timeout,
        cwd=work_dir,
        error_code="AnalysisFailed",
        what="Content analysis",
    )
    return SignalTap(info, storyboard).read(result.stderr, work_dir)


def build_segment_signal_args(
    plan: segments.SegmentPlan, index: int, *, source: str, storyboard: StoryboardPlan | None
) -> list[str]:
    """A segment's analysis as a pass of its own (the window decoded a second time): what the
    product did before the analysis rode in the encode, kept as the reference the tests and
    bench-chunked compare the one-process form against."""
    tap = segments.SegmentTap(plan, index, storyboard)
    w0, w1 = tap.window
    chains = tap.chains(f"0:{plan.info.video_stream}", None)
    args = ["-ss", f"{w0:.6f}", "-t", f"{w1 - w0:.6f}", "-threads", "1", "-i", source]
    return [*args, "-filter_complex", ";".join(chains), *tap.output_args()]
