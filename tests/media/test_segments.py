"""Segmented processing: plan, per-segment encode and analysis, merge and assembly, checked
against the one-process ladder and the one-pass analysis on the same small generated clips."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from chalicelib.media import analysis, merge, segments, thumbnails, transcode
from chalicelib.media.probe import ProbeResult, probe
from chalicelib.media.subtitles import transcribe
from chalicelib.media.whisper_model import resolve_whisper_model
from tests.media import reference
from tests.media.conftest import FIXTURES, X264


def info_of(duration: float, width: int = 320, height: int = 240, audio: bool = True) -> Any:
    return ProbeResult("mov,mp4,m4a,3gp,3g2,mj2", duration, width, height, width, height, 0,
                       30.0, "h264", "aac" if audio else None, audio, 1000, "yuv420p")  # fmt: skip


# --- plan ----------------------------------------------------------------------------------------


def test_boundaries_are_multiples_of_the_hls_segment_length() -> None:
    assert segments.segment_length(60) == 60
    assert segments.segment_length(11) == 12  # the nearest multiple of 4 s
    assert segments.segment_length(9) == 8
    assert segments.segment_length(1) == 4
    segs = segments.plan_segments(130.0, 60, Fraction(30))
    assert [(s.start, s.end, s.first_hls) for s in segs] == [(0.0, 60.0, 0), (60.0, 130.0, 15)]


def test_short_tail_joins_the_segment_before_and_short_videos_are_one_segment() -> None:
    assert segments.segment_count(10.0, 60) == 1
    assert segments.segment_count(79.0, 60) == 1  # 19 s tail < 1/3 of a segment
    assert segments.segment_count(81.0, 60) == 2
    assert segments.segment_count(120.0, 20) == 6
    assert segments.segment_count(3 * 3600.0, 60) == 180
    assert segments.segment_count(500.0, 0) == 1  # 0 = never segment


def test_boundaries_sit_on_source_frames_for_ntsc_rates() -> None:
    rate = Fraction(30000, 1001)
    segs = segments.plan_segments(40.0, 8, rate)
    for s in segs[1:]:
        frames = Fraction(s.start).limit_denominator(10**6) * rate
        assert abs(frames - round(frames)) < 1e-3  # exactly a frame time
        assert 0 <= s.start - (s.index * 8) < 1 / 29.97
    assert segs[1].start == pytest.approx(8.008)


def test_plan_round_trips_as_json() -> None:
    plan = segments.SegmentPlan(info_of(30.0), 8, "30/1", False,
                                segments.plan_segments(30.0, 8, Fraction(30)))  # fmt: skip
    again = segments.SegmentPlan.from_json(plan.to_json())
    assert again == plan and again.count == 4
    # The plan stays small: a 3-hour video at 60 s segments.
    long = segments.SegmentPlan(info_of(10800.0), 60, "30/1", False,
                                segments.plan_segments(10800.0, 60, Fraction(30)))  # fmt: skip
    assert len(long.to_json()) < 20_000


def test_segment_arguments_reuse_the_ladder_builder() -> None:
    plan = segments.SegmentPlan(info_of(30.0, 1920, 1080), 8, "30/1", False,
                                segments.plan_segments(30.0, 8, Fraction(30)))  # fmt: skip
    args = segments.build_segment_args(plan, 1, source="in.mp4")
    ladder = transcode.build_transcode_args(plan.info, plan.rungs)
    # Same graph and encoder settings; seek, duration, offset and numbering added; no audio.
    assert args[args.index("-filter_complex") + 1] == ladder[ladder.index("-filter_complex") + 1]
    assert args[args.index("-ss") + 1] == "7.998000" and args[args.index("-t") + 1] == "8.000000"
    assert "0:a:0" not in args and "-c:a" not in args
    assert args.count("-force_key_frames") == 1 and "-sc_threshold" in args
    assert args[-1].count("select=\\'v:") == 3  # one output: each rung's slave picks its stream
    assert "start_number=2" in args[-1] and args[-1].endswith("part_480p.m3u8")
    last = segments.build_segment_args(plan, plan.count - 1, source="in.mp4")
    assert "-t" not in last[: last.index("-i")]  # the last segment reads to the end


def test_a_segment_reads_its_analysis_window_once_and_trims_its_rungs() -> None:
    plan = segments.SegmentPlan(info_of(30.0, 1920, 1080), 8, "30/1", False,
                                segments.plan_segments(30.0, 8, Fraction(30)),
                                time_base="1/15360")  # fmt: skip
    sb = thumbnails.plan_storyboard(plan.info)
    tap = segments.SegmentTap(plan, 1, sb)
    args = segments.build_segment_args(plan, 1, source="in.mp4", tap=tap)
    alone = segments.build_segment_args(plan, 1, source="in.mp4")
    # One input, seeked to the window [7, 17]; the encoder settings and outputs of the encode.
    assert args.count("-i") == 1
    assert args[args.index("-ss") + 1] == "7.000000" and args[args.index("-t") + 1] == "10.000000"
    start = alone.index("-c:v")
    assert args[start : start + len(alone) - start] == alone[start:]
    graph = args[args.index("-filter_complex") + 1].split(";")
    # The rungs: the separate encode's graph behind the trim to the segment's own frames. The
    # seek to 7.998 shifts timestamps by round(7.998 * 15360) = 122849 ticks, the one to 7 by
    # 107520: 15329 ticks apart.
    ladder = alone[alone.index("-filter_complex") + 1].split(";")
    assert graph[0] == "[0:0]split=2[enc][tap]"
    assert graph[1] == "[enc]setpts=PTS-15329,trim=start=0:duration=8.000000," + ladder[0][5:]
    assert graph[2:5] == ladder[1:]
    # The analysis: the separate pass's chains on the tap, its outputs after the ladder's.
    assert graph[5:] == segments.SegmentTap(plan, 1, sb).chains("tap", None)
    assert analysis.detectors() in graph[6]
    assert args[-len(tap.output_args()) :] == tap.output_args()
    assert tap.tiles == list(range(8, 16)) and "-start_number" in tap.output_args()
    last_tap = segments.SegmentTap(plan, plan.count - 1, sb)
    last = segments.build_segment_args(plan, plan.count - 1, source="in.mp4", tap=last_tap)
    assert "-t" not in last[: last.index("-i")] and last[last.index("-ss") + 1] == "23.000000"
    assert "trim=start=0," in last[last.index("-filter_complex") + 1]  # to the end


def test_seek_shifts_round_as_ffmpeg_rounds() -> None:
    tb = Fraction(1, 15360)
    assert segments._ticks(7_998_000, tb) == 122849  # 122849.28
    assert segments._ticks(-7_998_000, tb) == -122849
    assert segments._ticks(500, Fraction(1, 1000)) == 1  # halves away from zero
    assert segments._ticks(-500, Fraction(1, 1000)) == -1
    assert segments._ticks(1_001, Fraction(1001, 30000)) == 0
    assert segments._us("8.006000") == 8_006_000


def test_media_playlist_is_one_timeline() -> None:
    text = segments.media_playlist([(4.0, "a_00000.ts"), (4.0, "a_00001.ts"), (1.5, "a_00002.ts")])
    assert "DISCONTINUITY" not in text and text.count("#EXTINF") == 3
    assert "#EXT-X-TARGETDURATION:4" in text and text.rstrip().endswith("#EXT-X-ENDLIST")


# --- merge ---------------------------------------------------------------------------------------


def test_cuts_belong_to_the_segment_that_owns_their_time() -> None:
    parts = [
        merge.Owned(0.0, 8.0, [{"time": 3.0, "score": 40.0}, {"time": 8.0, "score": 50.0}]),
        merge.Owned(8.0, 16.0, [{"time": 8.0, "score": 50.0}, {"time": 12.0, "score": 30.0}]),
    ]
    assert [c["time"] for c in merge.merge_cuts(parts)] == [3.0, 8.0, 12.0]
    scenes = merge.scenes_from_cuts(merge.merge_cuts(parts), 16.0)
    assert [(s["start"], s["end"]) for s in scenes] == [(0, 3), (3, 8), (8, 12), (12, 16)]


def test_a_run_spanning_a_boundary_is_reported_once_with_its_true_ends() -> None:
    parts = [
        # The first segment saw the run until its window ended (8 s + 1 s margin).
        merge.Owned(0.0, 8.0, [{"start": 6.5, "end": 8.967}, {"start": 1.0, "end": 2.0}]),
        merge.Owned(8.0, 16.0, [{"start": 7.0, "end": 9.5}, {"start": 15.8, "end": 16.967}]),
        merge.Owned(16.0, 20.0, [{"start": 15.0, "end": 16.4}]),
    ]
    runs = merge.merge_intervals(parts)
    assert [(r["start"], r["end"]) for r in runs] == [(1.0, 2.0), (6.5, 9.5), (15.8, 16.4)]
    assert runs[1]["duration"] == 3.0


def w(start: float, end: float, text: str) -> list[Any]:
    return [start, end, text]


def test_speech_across_a_boundary_keeps_every_word_once() -> None:
    # "one two three four five six" spoken 6.2-9.6 s; a pause 9.6-10.4; "seven eight" after.
    # Both windows heard the words near the boundary at 8 s, with slightly different timings.
    left = {"language": "en", "languageProbability": 0.9, "cues": [
        [w(6.2, 6.6, " One"), w(6.7, 7.1, " two"), w(7.2, 7.6, " three"), w(7.7, 8.2, " four"),
         w(8.3, 8.8, " five"), w(8.9, 9.6, " six."), w(10.4, 10.9, " Seven")],
    ]}  # fmt: skip
    right = {"language": "en", "languageProbability": 0.8, "cues": [
        [w(7.75, 8.25, " four"), w(8.32, 8.8, " five"), w(8.9, 9.55, " six.")],
        [w(10.42, 10.9, " Seven"), w(11.0, 11.5, " eight.")],
    ]}  # fmt: skip
    t = merge.merge_transcripts([(0.0, 8.0, left), (8.0, 16.0, right)], margin=3.0)
    words = " ".join(c.text for c in t.cues).split()
    assert words == ["One", "two", "three", "four", "five", "six.", "Seven", "eight."]
    assert t.language == "en" and t.language_probability == 0.9


def test_a_sentence_cut_mid_word_stream_becomes_one_cue() -> None:
    # No pause near the boundary on either side: the cut falls between words anyway, and the
    # two halves of the sentence are joined into one cue.
    left = {
        "language": "en",
        "languageProbability": 0.9,
        "cues": [[w(7.0, 7.5, " a"), w(7.5, 8.0, " b"), w(8.0, 8.5, " c"), w(8.5, 9.0, " d")]],
    }
    right = {"language": "en", "languageProbability": 0.9, "cues": [
        [w(7.0, 7.5, " a"), w(7.5, 8.0, " b"), w(8.0, 8.5, " c"), w(8.5, 9.0, " d."),
         w(9.0, 9.5, " e.")]]}  # fmt: skip
    t = merge.merge_transcripts([(0.0, 8.0, left), (8.0, 16.0, right)], margin=3.0)
    assert [c.text for c in t.cues] == ["a b c d. e."]


# --- media (real ffmpeg) -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def boundary_clip(make_media: Callable[..., Path]) -> Path:
    """320x240 30 fps, 21 s, segments of 8 s: testsrc2 [0,7.5) | black [7.5,8.6) |
    mandelbrot [8.6,16) | smptebars [16,21): a black run across the 8 s boundary and a scene cut
    exactly on the 16 s one. Audio: tone, silence [7.5,9), tone."""
    v = "s=320x240:r=30"
    return make_media(
        "boundary.mp4",
        "-f", "lavfi", "-i", f"testsrc2={v}:d=7.5",
        "-f", "lavfi", "-i", f"color=c=black:{v}:d=1.1",
        "-f", "lavfi", "-i", f"mandelbrot={v},trim=duration=7.4",
        "-f", "lavfi", "-i", f"smptebars={v}:d=5",
        "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=7.5",
        "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono,atrim=duration=1.5",
        "-f", "lavfi", "-i", "sine=f=660:sample_rate=48000:d=12",
        "-filter_complex",
        "[0:v][1:v][2:v][3:v]concat=n=4:v=1:a=0[v];[4:a][5:a][6:a]concat=n=3:v=0:a=1[a]",
        "-map", "[v]", "-map", "[a]", *X264, "-g", "250", "-c:a", "aac", "-b:a", "96k",
    )  # fmt: skip


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.time or 0.0) for f in c.decode(video=0)]


def audio_samples(path: Path) -> tuple[float, int]:
    with av.open(str(path)) as c:
        frames = [(float(f.time or 0.0), f.samples) for f in c.decode(audio=0)]
    return frames[0][0], sum(n for _, n in frames)


def ssim(exe: str, a: Path, b: Path) -> float:
    out = subprocess.run(
        [exe, "-hide_banner", "-nostats", "-i", str(a), "-i", str(b),
         "-lavfi", "[0:v][1:v]ssim", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    m = re.search(r"All:([\d.]+)", out)
    assert m, out[-500:]
    return float(m.group(1))


def remux(source: str, info: ProbeResult, dest: Path, exe: str) -> str:
    """The remux for seeking, written to a local file."""
    with open(dest, "wb") as out:
        segments.remux_for_seeking(
            source, info, lambda stream: shutil.copyfileobj(stream, out), exe=exe, timeout=120
        )
    return str(dest)


def run_segmented(
    src: Path, info: ProbeResult, out: Path, exe: str, seconds: int = 8
) -> tuple[segments.SegmentPlan, list[segments.SegmentOutput], Any]:
    plan = segments.make_plan(str(src), info, seconds)
    source = str(src)
    if plan.remux:
        source = remux(source, info, out / segments.REMUX_NAME, exe)
        plan = plan.as_remuxed()
    sb = thumbnails.plan_storyboard(info)
    parts = [
        segments.encode_segment(
            out, plan, s.index, source=source, exe=exe, timeout=120, storyboard=sb
        )
        for s in plan.segments
    ]
    audio = (
        segments.encode_audio(out, info, source=source, exe=exe, timeout=120)
        if info.has_audio
        else None
    )
    return plan, parts, audio


@pytest.fixture(scope="module")
def both_ways(
    boundary_clip: Path, ffmpeg: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The clip through the one-process ladder + one-pass analysis, and through segments."""
    root = tmp_path_factory.mktemp("both-ways")
    one, seg = root / "one", root / "seg"
    one.mkdir()
    seg.mkdir()
    info = probe(boundary_clip, max_duration=3600)
    shutil.copyfile(boundary_clip, one / "source")
    ladder = transcode.transcode(one, info, exe=ffmpeg, timeout=300)
    sb = thumbnails.plan_storyboard(info)
    signals = reference.analyse_signals(one, info, exe=ffmpeg, timeout=120, storyboard=sb)
    plan, parts, audio = run_segmented(boundary_clip, info, seg, ffmpeg)
    result = segments.assemble(seg, plan, parts, audio, exe=ffmpeg, timeout=300)
    segments.assemble_storyboard(seg, sb, exe=ffmpeg, timeout=60)
    return {"one": one, "seg": seg, "info": info, "ladder": ladder, "signals": signals,
            "plan": plan, "parts": parts, "audio": audio, "result": result}  # fmt: skip


@pytest.mark.slow
def test_segmented_renditions_equal_the_one_process_ladder(
    both_ways: dict[str, Any], ffmpeg: str
) -> None:
    one, seg, plan = both_ways["one"], both_ways["seg"], both_ways["plan"]
    assert plan.count == 3 and [s.start for s in plan.segments] == [0.0, 8.0, 16.0]
    assert [r.quality for r in both_ways["result"].renditions] == ["240p"]
    for r in both_ways["ladder"].renditions:
        a, b = one / r.name, seg / r.name
        ta, tb = frame_times(a), frame_times(b)
        assert len(ta) == len(tb) == 630
        assert max(abs(x - y) for x, y in zip(ta, tb, strict=True)) < 0.002
        (a0, an), (b0, bn) = audio_samples(a), audio_samples(b)
        assert abs(a0 - b0) < 0.001 and an == bn  # same start, not one sample more or less
        assert ssim(ffmpeg, a, b) >= 0.98
        assert b.stat().st_size <= a.stat().st_size * 1.05
        head = b.read_bytes()[:4096]
        assert 0 <= head.find(b"moov") < max(head.find(b"mdat"), 4096)  # +faststart


@pytest.mark.slow
def test_segmented_hls_is_one_continuous_timeline(both_ways: dict[str, Any]) -> None:
    seg = both_ways["seg"]
    master = (seg / transcode.MASTER_PLAYLIST).read_text()
    assert 'TYPE=AUDIO,GROUP-ID="audio"' in master and 'URI="hls_audio.m3u8"' in master
    assert 'AUDIO="audio"' in master and "hls_240p.m3u8" in master
    playlist = (seg / "hls_240p.m3u8").read_text()
    assert "DISCONTINUITY" not in playlist
    entries = segments.read_playlist(seg / "hls_240p.m3u8")
    names = [n for _, n in entries]
    assert names == [f"hls_240p_{i:05d}.ts" for i in range(6)]  # as the one-pass names them
    assert sum(d for d, _ in entries) == pytest.approx(21.0, abs=0.04)
    # Video timestamps run on across the segments' files without a gap or an overlap.
    last_end = None
    for name in names:
        with av.open(str(seg / name)) as c:
            times = sorted(
                float(p.pts * p.time_base)
                for p in c.demux(video=0)
                if p.pts is not None and p.time_base is not None
            )
        if last_end is not None:
            assert times[0] == pytest.approx(last_end + 1 / 30, abs=0.002)
        last_end = times[-1]
    audio = segments.read_playlist(seg / segments.AUDIO_PLAYLIST)
    assert sum(d for d, _ in audio) == pytest.approx(21.0, abs=0.05)


@pytest.mark.slow
def test_merged_analysis_equals_the_one_pass_analysis(both_ways: dict[str, Any]) -> None:
    signals, plan, parts = both_ways["signals"], both_ways["plan"], both_ways["parts"]
    owned = [(s.start, s.end) for s in plan.segments]
    pairs = list(zip(owned, parts, strict=True))
    cuts = merge.merge_cuts([merge.Owned(a, b, p.cuts) for (a, b), p in pairs])
    black = merge.merge_intervals([merge.Owned(a, b, p.black_segments) for (a, b), p in pairs])
    assert [c["time"] for c in cuts] == pytest.approx([c["time"] for c in signals.cuts], abs=0.04)
    assert 16.0 in [c["time"] for c in cuts]  # the cut on a boundary, found once
    assert len(black) == len(signals.black_segments) == 1
    assert black[0]["start"] == pytest.approx(signals.black_segments[0]["start"], abs=0.04)
    assert black[0]["end"] == pytest.approx(signals.black_segments[0]["end"], abs=0.04)
    assert black[0]["start"] < 8.0 < black[0]["end"]  # spans the boundary, reported once
    audio = both_ways["audio"]
    assert audio.silences == signals.silences and audio.loudness == signals.loudness


@pytest.mark.slow
def test_storyboard_from_segments_matches_the_one_pass_sprite(
    both_ways: dict[str, Any], ffmpeg: str
) -> None:
    one, seg = both_ways["one"], both_ways["seg"]
    tiles = [t for p in both_ways["parts"] for t in p.tiles]
    assert tiles == [segments.STORYBOARD_TILE_PATTERN % i for i in range(21)]
    assert ssim(ffmpeg, one / thumbnails.STORYBOARD_NAME, seg / thumbnails.STORYBOARD_NAME) > 0.95


@pytest.mark.slow
def test_a_source_without_a_seek_index_is_remuxed_and_cut_exactly(
    boundary_clip: Path, ffmpeg: str, tmp_path: Path
) -> None:
    ts = tmp_path / "clip.ts"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(boundary_clip), "-c", "copy", str(ts)],
                   check=True)  # fmt: skip
    info = probe(ts, max_duration=3600)
    plan, parts, audio = run_segmented(ts, info, tmp_path, ffmpeg)
    assert plan.remux and (tmp_path / segments.REMUX_NAME).is_file()
    segments.assemble(tmp_path, plan, parts, audio, exe=ffmpeg, timeout=300)
    assert len(frame_times(tmp_path / "video_240p.mp4")) == 630


@pytest.mark.slow
def test_speech_across_a_boundary_is_transcribed_once(
    make_media: Callable[..., Path], ffmpeg: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The committed 6.5 s sentence starts at 5 s: it runs across the boundary at 8 s."""
    clip = make_media(
        "speech_boundary.mp4",
        "-f", "lavfi", "-i", "color=c=darkblue:s=160x120:r=25:d=16",
        "-i", str(FIXTURES / "speech_en.opus"),
        "-filter_complex", "[1:a]adelay=5000:all=1,apad=whole_dur=16[a]",
        "-map", "0:v", "-map", "[a]", "-t", "16", *X264, "-c:a", "aac",
    )  # fmt: skip
    model = resolve_whisper_model("", tmp_path_factory.mktemp("whisper")).model
    assert model is not None
    whole = transcribe(clip, model)
    parts = []
    for start, end in ((0.0, 8.0), (8.0, 16.0)):
        m = segments.SPEECH_MARGIN
        t = segments.transcribe_window(
            str(clip), max(0.0, start - m), min(16.0, end + m), model, exe=ffmpeg, timeout=60
        )
        parts.append((start, end, t))
    merged = merge.merge_transcripts(parts, segments.SPEECH_MARGIN)

    def norm(text: str) -> list[str]:
        return re.sub(r"[^a-z0-9 ]", "", text.lower()).split()

    whole_words = norm(" ".join(c.text for c in whole.cues))
    merged_words = norm(" ".join(c.text for c in merged.cues))
    assert len(whole_words) >= 5
    # Every word once: as many words as the whole-file transcript, in the same order (the model
    # may hear a word's ending differently with other context: "jump" / "jumps").
    assert len(merged_words) == len(whole_words), (merged_words, whole_words)
    same = sum(a == b for a, b in zip(merged_words, whole_words, strict=True))
    assert same >= len(whole_words) - 1, (merged_words, whole_words)
    # Each sentence once, none split into two cues at the boundary.
    sentences = [c.text for c in merged.cues]
    assert sum(t.count(".") for t in sentences) == " ".join(c.text for c in whole.cues).count(".")
    assert all(t.endswith(".") for t in sentences), sentences
    assert merged.cues[0].start == pytest.approx(whole.cues[0].start, abs=0.6)


@pytest.mark.slow
def test_a_player_reads_the_segmented_hls_with_its_audio_rendition(
    both_ways: dict[str, Any], ffmpeg: str
) -> None:
    """ffmpeg's HLS demuxer as the player: the master's variant and its alternate audio group
    both play to the end, on one timeline."""
    seg = both_ways["seg"]
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostats", "-allowed_extensions", "ALL", "-i",
         str(seg / transcode.MASTER_PLAYLIST), "-map", "0:v:0", "-map", "0:a:0",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    assert "Audio: aac" in out and "Video: h264" in out
    times = re.findall(r"time=(\d+):(\d+):([\d.]+)", out)
    h, m, sec = times[-1]
    assert int(h) * 3600 + int(m) * 60 + float(sec) == pytest.approx(21.0, abs=0.1)


def counting(monkeypatch: pytest.MonkeyPatch, one_x264_thread: bool = False) -> list[list[str]]:
    """Every ffmpeg run of segments.py from now on (its arguments), still run; optionally with
    x264 on one thread: its frame threads with VBV do not give the same bytes twice (measured on
    the encode alone), one thread does."""
    calls: list[list[str]] = []
    real = segments.run_ffmpeg

    def run(args: Any, **kwargs: Any) -> Any:
        calls.append(list(args))
        if one_x264_thread and "-c:v" in args:
            i = list(args).index("-c:v")
            args = [*args[:i], "-threads:v", "1", *args[i:]]
        return real(args, **kwargs)

    monkeypatch.setattr(segments, "run_ffmpeg", run)
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("container", ["mp4", "ts"])
def test_one_process_segments_equal_the_encode_and_the_separate_analysis(
    container: str, boundary_clip: Path, ffmpeg: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Each segment's single process writes the same HLS files, byte for byte, as its encode
    alone, and finds the same cuts, black runs and tiles as the separate pass over its window
    (the form before the analysis rode in the encode). MPEG-TS is read through its remux."""
    src = boundary_clip
    if container == "ts":
        src = tmp_path / "clip.ts"
        subprocess.run([ffmpeg, "-v", "error", "-i", str(boundary_clip), "-c", "copy", str(src)],
                       check=True)  # fmt: skip
    info = probe(src, max_duration=3600)
    plan = segments.make_plan(str(src), info, 8)
    source = str(src)
    if plan.remux:
        source = remux(source, info, tmp_path / segments.REMUX_NAME, ffmpeg)
        plan = plan.as_remuxed()
    assert plan.remux == (container == "ts")
    sb = thumbnails.plan_storyboard(info)
    calls = counting(monkeypatch, one_x264_thread=True)
    for s in plan.segments:
        old, new = tmp_path / f"old{s.index}", tmp_path / f"new{s.index}"
        old.mkdir()
        new.mkdir()
        segments.run_ffmpeg(segments.build_segment_args(plan, s.index, source=source),
                            exe=ffmpeg, timeout=120, cwd=old)  # fmt: skip
        log = segments.run_ffmpeg(
            reference.build_segment_signal_args(plan, s.index, source=source, storyboard=sb),
            exe=ffmpeg, timeout=120, cwd=old,
        ).stderr  # fmt: skip
        before = segments.SegmentTap(plan, s.index, sb).read(log, old)
        calls.clear()
        part = segments.encode_segment(new, plan, s.index, source=source, exe=ffmpeg,
                                       timeout=120, storyboard=sb)  # fmt: skip
        assert len(calls) == 1  # one ffmpeg process: one decode for the rungs and the analysis
        assert (part.cuts, part.black_segments, part.tiles) == before
        assert part.tiles and all((new / t).read_bytes() == (old / t).read_bytes()
                                  for t in part.tiles)  # fmt: skip
        for rung in plan.rungs:
            playlist = segments.piece_playlist_name(rung)
            assert (new / playlist).read_text() == (old / playlist).read_text()
            for _, name in part.hls[rung.quality]:
                assert (new / name).read_bytes() == (old / name).read_bytes(), name


@pytest.mark.slow
def test_damage_is_concealed_as_the_one_pass_ladder_conceals_it(
    boundary_clip: Path, ffmpeg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A picture at 8.8 s is damaged: segment 2 (8-16 s) owns it, segment 1 decodes it too (its
    window reaches 9 s). Both encode, in one ffmpeg process each (no second decode to judge the
    damage), every rung of their range: the decoder conceals it, as in the one-pass ladder."""
    data = bytearray(boundary_clip.read_bytes())
    with av.open(str(boundary_clip)) as c:
        packet = next(
            p for p in c.demux(video=0)
            if p.pts is not None and p.time_base is not None and p.pos is not None
            and float(p.pts * p.time_base) >= 8.8 and not p.is_keyframe
        )  # fmt: skip
        assert packet.pos is not None
        pos, size = packet.pos, packet.size
    data[pos + 8 : pos + size] = bytes((i * 7) % 256 for i in range(size - 8))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    info = probe(bad, max_duration=3600)
    plan = segments.make_plan(str(bad), info, 8)
    sb = thumbnails.plan_storyboard(info)
    calls = counting(monkeypatch)
    for index in range(plan.count):
        part = segments.encode_segment(tmp_path, plan, index, source=str(bad), exe=ffmpeg,
                                       timeout=120, storyboard=sb)  # fmt: skip
        assert len(calls) == index + 1
        assert part.tiles and all(part.hls[r.quality] for r in plan.rungs)
        seg = plan.segments[index]
        assert abs(sum(d for d, _ in part.hls[plan.rungs[0].quality]) - seg.duration) < 0.05


def test_a_playable_plan_starts_with_short_segments_that_double() -> None:
    """Issue 24: 4, 8, 16, 32 s, then the segment length; boundaries stay on the 4 s grid, so
    the HLS pieces (and their numbers) are those of the one-length plan."""
    assert segments.segment_lengths(180.0, 60, 4) == [4, 8, 16, 32, 60, 60]
    assert segments.segment_lengths(30.0, 60, 4) == [4, 8, 16]  # a 2 s tail joins: 12-30 s
    assert segments.segment_lengths(180.0, 60) == [60, 60, 60]  # no first length: today's
    segs = segments.plan_segments(180.0, 60, Fraction(30), first_seconds=4)
    assert [(s.start, s.first_hls) for s in segs] == [
        (0.0, 0), (4.0, 1), (12.0, 3), (28.0, 7), (60.0, 15), (120.0, 30)
    ]  # fmt: skip
    assert segs[2].end == 28.0 and segs[-1].end == 180.0
    assert segments.segment_count(79.0, 60, 4) == 4  # the last, 28-79 s, takes the 19 s tail
