"""The per-title ladder (ladder.py), VMAF scoring (quality.py) and AV1 renditions: the decision
rules on measured numbers (fast), then the probe and an H.264 + AV1 ladder on a tiny clip
(slow: x264, SVT-AV1 and libvmaf run; the bench is where big clips live)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.api.streaming import rewrite_references
from chalicelib.config import Settings
from chalicelib.media import ladder, quality, transcode
from chalicelib.media.probe import probe
from chalicelib.media.segments import SegmentPlan
from tests.media.conftest import X264

BASE = transcode.plan_ladder(1920, 1080)


def measured(**rungs: tuple[float, float]) -> dict[tuple[str, float], float]:
    """{(rung, level): VMAF} from rung=(VMAF at level 0, VMAF at level 1)."""
    out: dict[tuple[str, float], float] = {}
    for key, (v0, v1) in rungs.items():
        out[(key.removeprefix("r"), 0)], out[(key.removeprefix("r"), 1)] = v0, v1
    return out


def test_a_rung_is_never_aimed_below_the_fixed_ladder_by_more_than_the_margin() -> None:
    # 1080p: 93 at the fixed settings -> goal 92.5; the chord from 93 (level 0) to 89 (level 1)
    # meets it at level 0.125. 720p: already above the target at level 1 -> the full level.
    d = ladder.choose(BASE, measured(r1080p=(93, 89), r720p=(90, 86), r480p=(97, 96)))
    levels = {s.key: s.chosen for s in d.scores}
    assert levels["1080p"] == pytest.approx(0.125)
    assert levels["720p"] == pytest.approx(0.125)
    assert d.dropped == []
    top = d.rungs[0]
    assert top.crf == pytest.approx(24.0) and top.maxrate_kbps == 4750  # CRF 23 + 1, cap -5 %
    assert all(s.predicted >= s.goal - 1e-9 for s in d.scores if s.goal is not None)


def test_past_the_target_a_rung_spends_nothing_more() -> None:
    d = ladder.choose(BASE, measured(r1080p=(99, 96), r720p=(91, 88), r480p=(80, 77)))
    assert d.rungs[0].crf == pytest.approx(23 + ladder.CRF_SPAN)  # 96 >= 95 - 0.5 at level 1


def test_a_top_rung_adding_nothing_over_the_one_below_is_dropped() -> None:
    # 720p upscaled reaches 1080p's goal (min(95, 98) - 0.5) at the fixed settings.
    d = ladder.choose(BASE, measured(r1080p=(98, 97), r720p=(96, 92), r480p=(88, 84)))
    assert d.dropped == ["1080p"]
    assert [r.quality for r in d.rungs] == ["720p", "480p"]
    assert d.scores[0].goal == pytest.approx(94.5)  # the 720p rung now aims at 1080p's goal


def test_av1_rungs_follow_the_top_goal_and_the_fixed_ladder_is_todays() -> None:
    m = measured(r1080p=(96, 92), r720p=(90, 86), r480p=(80, 76))
    m[("av1_1080p", 30)], m[("av1_1080p", 42)] = 97.0, 91.0
    d = ladder.choose(BASE, m, codecs=("h264", "av1"))
    av1 = [r for r in d.rungs if r.codec == "av1"]
    assert [r.quality for r in av1] == ["1080p", "720p"]
    assert av1[0].crf == 35  # 94.5 on the chord 97 @30 .. 91 @42
    fixed = ladder.fixed_ladder(probe_like(1920, 1080))  # type: ignore[arg-type]
    assert [(r.crf, r.maxrate_kbps) for r in fixed.rungs] == [(23, 5000), (23, 2800), (23, 1400)]


def probe_like(width: int, height: int) -> object:
    class Info:
        pass

    info = Info()
    info.width, info.height = width, height  # type: ignore[attr-defined]
    return info


def test_settings_choose_the_ladder_and_codecs() -> None:
    s = Settings.from_env({})
    assert (s.video_ladder, s.vmaf_target, s.video_codecs) == ("fixed", 95.0, ("h264",))
    s = Settings.from_env({"VIDEO_LADDER": "per-title", "VIDEO_CODECS": "av1"})
    assert s.video_ladder == "per-title" and s.video_codecs == ("h264", "av1")  # H.264 always
    with pytest.raises(ValueError, match="VIDEO_CODECS"):
        Settings.from_env({"VIDEO_CODECS": "h264,vp9"})
    with pytest.raises(ValueError, match="VIDEO_LADDER"):
        Settings.from_env({"VIDEO_LADDER": "best"})


def test_vmaf_pools_mean_and_5th_percentile() -> None:
    s = quality.pooled([float(v) for v in range(1, 101)])
    assert s.mean == pytest.approx(50.5) and s.p5 == pytest.approx(5.95) and s.frames == 100


def test_an_fmp4_init_segment_is_signed_like_the_media_segments() -> None:
    text = '#EXTM3U\n#EXT-X-MAP:URI="hls_av1_720p_init.mp4"\n#EXTINF:4.0,\nhls_av1_720p_00000.m4s\n'
    out = rewrite_references(text, lambda n: f"https://cdn/{n}?sig=1")
    assert '#EXT-X-MAP:URI="https://cdn/hls_av1_720p_init.mp4?sig=1"' in out
    assert "https://cdn/hls_av1_720p_00000.m4s?sig=1" in out


def test_the_segment_plan_keeps_its_ladder(small_clip: Path, ffmpeg: str) -> None:
    info = probe(small_clip, max_duration=60, exe=ffmpeg)
    rungs = [transcode.Rung("360p", 640, 360, 600, crf=26.5)]
    plan = SegmentPlan(info, 60, "25/1", False, ladder=rungs, ladder_decision={"mode": "x"})
    again = SegmentPlan.from_json(plan.to_json())
    assert again.rungs == rungs and again.ladder_decision == {"mode": "x"}
    assert SegmentPlan(info, 60, "25/1", False).rungs == transcode.plan_ladder(640, 360)


@pytest.fixture(scope="session")
def motion_clip(make_media: Callable[..., Path]) -> Path:
    """640x480, 3 s of moving pictures, silent: a 480p ladder of one rung."""
    return make_media(
        "motion480.mp4", "-f", "lavfi", "-i", "testsrc2=s=640x480:r=25:d=3", *X264,
    )  # fmt: skip


@pytest.mark.slow
def test_probe_decides_and_av1_renditions_join_the_master(
    motion_clip: Path, ffmpeg: str, tmp_path: Path
) -> None:
    info = probe(motion_clip, max_duration=60, exe=ffmpeg)
    (tmp_path / "source").symlink_to(motion_clip)
    d = ladder.decide(tmp_path, info, source=str(motion_clip), exe=ffmpeg, timeout=300,
                      codecs=("h264", "av1"), preset="ultrafast")  # fmt: skip
    h264 = [r for r in d.rungs if r.codec == "h264"]
    assert [r.quality for r in h264] == ["480p"] and d.mode == "per-title"
    assert 23 <= h264[0].crf <= 23 + ladder.CRF_SPAN
    assert all(0 < v <= 100 for s in d.scores for v in s.scores.values())
    assert not list(tmp_path.glob("probe_*"))  # the probe leaves nothing behind
    result = transcode.transcode(tmp_path, info, exe=ffmpeg, timeout=300, rungs=d.rungs,
                                 preset="ultrafast")  # fmt: skip
    result = ladder.measure_quality(tmp_path, info, result, source=str(motion_clip),
                                    exe=ffmpeg, timeout=300)  # fmt: skip
    codecs = [(r.codec, r.video_codec) for r in result.renditions]
    assert codecs in ([("h264", "h264"), ("av1", "av1")], [("h264", "h264"), ("av1", "libdav1d")])
    for r in result.renditions:
        assert r.vmaf is not None and 50 < r.vmaf["mean"] <= 100 and r.vmaf["p5"] <= 100
    master = (tmp_path / transcode.MASTER_PLAYLIST).read_text()
    assert "#EXT-X-VERSION:7" in master
    assert 'RESOLUTION=640x480,CODECS="av01.0.08M.08"' in master
    assert 'CODECS="avc1.640028"' in master
    av1 = (tmp_path / "hls_av1_480p.m3u8").read_text()
    assert '#EXT-X-MAP:URI="hls_av1_480p_init.mp4"' in av1 and ".m4s" in av1
    assert result.renditions[1].media_glob == "hls_av1_480p_*"
    assert (tmp_path / "hls_av1_480p_init.mp4").is_file()
