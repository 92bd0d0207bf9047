"""Every odd source through both paths, with the same assertions (issue 22).

Each fixture is 6 s long: the one-pass path (`run_processing`) and the segmented path at a
segment length of 4 s (`prepare` -> two segment jobs and the audio job -> `assemble`, on the
local stores) must give the same media facts, stream and track choice, and renditions that are
SDR BT.709 8-bit 4:2:0 of the same size, frames and sound. A last test checks that the two
paths make identical decisions (the probe's choice, the input stage of the filter graph) for
every fixture.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import pytest

from chalicelib.config import Settings
from chalicelib.media import transcode
from chalicelib.media.errors import MediaError
from chalicelib.media.filters import input_stage
from chalicelib.media.probe import probe
from chalicelib.media.segments import SegmentPlan, build_segment_args
from chalicelib.media_store.local import LocalMediaStore
from chalicelib.media_store.scratch import LocalScratchStore, run_scratch
from chalicelib.processing import segmented
from chalicelib.processing.context import new_run_id
from chalicelib.processing.one_pass import run_processing
from tests.media.conftest import X264, into_inbox
from tests.media.test_pipeline import media_path
from tests.media.test_sources import MASTER_DISPLAY, assert_sdr_bt709, dominant_hz, facts

pytestmark = pytest.mark.slow

VID = "OddSourcePaths00000001"
SECONDS = 6
PATHS = ["one-pass", "segmented"]
T = f"d={SECONDS}"


def _hdr(kind: str) -> list[str]:
    transfer = "smpte2084" if kind == "pq" else "arib-std-b67"
    x265 = f"log-level=error:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc"
    if kind == "pq":
        x265 += f":hdr10=1:master-display={MASTER_DISPLAY}:max-cll=1000,400"
    return [
        "-f", "lavfi", "-i", f"testsrc2=s=320x180:r=25:{T}",
        "-vf", "format=gbrp,zscale=pin=bt709:tin=bt709:min=gbr:rin=full:npl=100"
               f":p=bt2020:t={transfer}:m=bt2020nc:r=limited,format=yuv420p10le",
        "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", x265, "-tag:v", "hvc1",
        "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc",
    ]  # fmt: skip


TONE = ["-f", "lavfi", "-i", f"sine=f=440:{T}"]
# name -> (file name, ffmpeg arguments, the rendition's size)
SOURCES: dict[str, tuple[str, list[str], tuple[int, int]]] = {
    "two-audio-second-default": ("two_audio.mp4", [
        "-f", "lavfi", "-i", f"testsrc2=s=320x180:r=25:{T}", *TONE,
        "-f", "lavfi", "-i", f"sine=f=1000:{T}", "-map", "0:v", "-map", "1:a", "-map", "2:a",
        *X264, "-c:a", "aac", "-disposition:a:0", "0", "-disposition:a:1", "default",
    ], (320, 180)),
    "cover-art-first": ("cover_first.mkv", [
        "-f", "lavfi", "-i", "color=c=red:s=240x240:d=0.04",
        "-f", "lavfi", "-i", f"testsrc2=s=320x180:r=25:{T}", *TONE,
        "-map", "0:v", "-map", "1:v", "-map", "2:a", "-c:v:0", "png",
        "-c:v:1", "libx264", "-preset", "ultrafast", "-pix_fmt:v:1", "yuv420p",
        "-colorspace:v:1", "bt709", "-color_range:v:1", "tv", "-c:a", "aac",
        "-disposition:v:0", "0", "-disposition:v:1", "default",
    ], (320, 180)),
    "hdr10": ("hdr_pq.mp4", _hdr("pq"), (320, 180)),
    "hlg": ("hdr_hlg.mp4", _hdr("hlg"), (320, 180)),
    "interlaced": ("interlaced.mp4", [
        "-f", "lavfi", "-i", f"testsrc2=s=1280x720:r=50:{T},scale=640:360,interlace=scan=tff",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-flags", "+ildct+ilme",
        "-x264-params", "tff=1", "-colorspace", "bt709", "-color_range", "tv",
    ], (640, 360)),
    "rotated": ("rotated.mp4", [
        "-display_rotation", "90", "-i", "@base", "-c", "copy",
    ], (180, 320)),
    "vfr": ("vfr.mp4", [
        "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=3",
        "-f", "lavfi", "-i", "testsrc2=s=320x180:r=10:d=3",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]",
        "-fps_mode", "vfr", *X264,
    ], (320, 180)),
    "prores": ("prores.mov", [
        "-f", "lavfi", "-i", f"testsrc2=s=320x180:r=25:{T}", *TONE,
        "-c:v", "prores_ks", "-profile:v", "2", "-c:a", "pcm_s16le",
    ], (320, 180)),
    "alpha": ("alpha.mov", [
        "-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:{T}",
        "-vf", "format=yuva444p,geq=lum='lum(X,Y)':cb='cb(X,Y)':cr='cr(X,Y)'"
               ":a='if(lt(X,W/2),255,0)'",
        "-c:v", "prores_ks", "-profile:v", "4", "-pix_fmt", "yuva444p10le",
    ], (320, 240)),
    "full-range": ("fullrange.mp4", [
        "-f", "lavfi", "-i", f"color=c=black:s=160x240:r=25:{T}",
        "-f", "lavfi", "-i", f"color=c=white:s=160x240:r=25:{T}",
        "-filter_complex", "[0:v][1:v]hstack,scale=out_range=pc:out_color_matrix=bt709[v]",
        "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-color_range", "pc", "-colorspace", "bt709",
    ], (320, 240)),
    "no-audio": ("noaudio.mp4", [
        "-f", "lavfi", "-i", f"testsrc2=s=320x180:r=25:{T}", *X264,
    ], (320, 180)),
}  # fmt: skip


@pytest.fixture(scope="module")
def sources(make_media: Callable[..., Path]) -> dict[str, Path]:
    base = make_media("paths_base.mp4", "-f", "lavfi", "-i", f"testsrc2=s=320x180:r=25:{T}",
                      *TONE, *X264, "-c:a", "aac")  # fmt: skip
    made = {}
    for name, (file, args, _) in SOURCES.items():
        made[name] = make_media(f"paths_{file}", *[str(base) if a == "@base" else a for a in args])
    return made


def settings_for(path: str, media_settings: Settings) -> Settings:
    """The product's defaults where they matter here: the per-title ladder (odd sources go through
    its probe as they would in production)."""
    return replace(media_settings, whisper_model="off", x264_preset="ultrafast",
                   segment_seconds=4 if path == "segmented" else 0,
                   video_ladder="per-title")  # fmt: skip


def run(path: str, clip: Path, settings: Settings) -> tuple[dict[str, Any], LocalMediaStore]:
    """The video through one path: the item's fields, or {"error": ...} when it failed."""
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    url = into_inbox(settings, clip)
    if path == "one-pass":
        try:
            return run_processing(VID, url, settings, store, lambda p: None), store
        except MediaError as exc:
            return {"error": {"Error": exc.code, "Cause": exc.message}}, store
    scratch = LocalScratchStore(settings.data_dir / "work" / "scratch")
    run_id = new_run_id()
    prepared = segmented.prepare(VID, run_id, url, settings, scratch)
    assert prepared.planned is not None and prepared.planned["segments"] == 2
    try:
        for job in prepared.planned["jobs"]:
            segmented.run_job(VID, run_id, job, settings, scratch)
    except segmented.SegmentFailed as exc:
        error = segmented.failure(scratch, VID, run_id, {"Error": "SegmentFailed",
                                                         "Cause": str(exc)})  # fmt: skip
        return {"error": error}, store
    return segmented.assemble(VID, run_id, settings, scratch, store), store


def top_rendition(result: dict[str, Any], store: LocalMediaStore) -> Path:
    return media_path(store, result["transcoding"]["formats"][0]["url"])


def check_downloads(result: dict[str, Any], store: LocalMediaStore) -> None:
    """Issue 26: each MP4 rendition, and an audio-only M4A (the AAC copied) with audio."""
    downloads = result["downloads"]
    mp4s = [d["quality"] for d in downloads if d["format"] == "mp4"]
    assert mp4s == [f["quality"] for f in result["transcoding"]["formats"]]
    audio = [d for d in downloads if d["format"] == "m4a"]
    assert len(audio) == (1 if result["media"]["hasAudio"] else 0)
    if audio:
        with av.open(str(media_path(store, audio[0]["url"]))) as c:
            assert not c.streams.video and c.streams.audio[0].codec_context.name == "aac"
            assert abs(float(c.duration or 0) / 1e6 - SECONDS) < 0.15
        assert result["stages"]["audio"]["status"] == "completed"


def luma(path: Path) -> Any:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray()


def check(name: str, r: dict[str, Any], mp4: Path) -> None:  # noqa: C901 - one case per source
    """What is particular to each source, asserted the same way whichever path ran."""
    media = r["media"]
    if name == "two-audio-second-default":
        assert media["audioTrack"]["index"] == 1
        assert abs(dominant_hz(mp4) - 1000) < 20  # the default track, not the first one
    elif name == "cover-art-first":
        assert (media["videoTrack"]["index"], media["videoTrack"]["stills"]) == (1, 1)
    elif name in ("hdr10", "hlg"):
        assert media["hdr"] == ("pq" if name == "hdr10" else "hlg")
    elif name == "interlaced":
        assert media["interlaced"] == "tff" and _frames(mp4) == SECONDS * 25
    elif name == "rotated":
        assert media["rotation"] == 90
    elif name == "vfr":  # a constant-rate ladder: whole seconds of frames at its rate
        assert _frames(mp4) == round(SECONDS * facts(mp4)["fps"])
    elif name == "prores":
        assert media["videoCodec"] == "prores"
    elif name == "alpha":
        y = luma(mp4)[:240]
        assert abs(float(y[:, 180:].mean()) - 16) < 2 and y[:, :140].mean() > 60
    elif name == "full-range":
        y = luma(mp4)[:240]
        assert abs(float(y[:, :150].mean()) - 16) < 2 and abs(float(y[:, 170:].mean()) - 235) < 2
    elif name == "no-audio":
        assert media["hasAudio"] is False and facts(mp4)["audio"] == 0


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", list(SOURCES))
def test_an_odd_source_gives_the_same_result_on_each_path(
    name: str, path: str, sources: dict[str, Path], media_settings: Settings
) -> None:
    result, store = run(path, sources[name], settings_for(path, media_settings))
    assert "error" not in result, result.get("error")
    mp4 = top_rendition(result, store)
    f = assert_sdr_bt709(mp4, SOURCES[name][2])
    assert f["audio"] == (1 if result["media"]["hasAudio"] else 0)
    with av.open(str(mp4)) as c:
        assert abs(float(c.duration or 0) / 1e6 - SECONDS) < 0.15
    check(name, result, mp4)
    check_downloads(result, store)
    stages = result["stages"]
    for stage in ("transcode", "thumbnail", "analysis", "vision", "publish"):
        assert stages[stage]["status"] == "completed", (stage, stages[stage])
    # Speech to text is off in these runs: both paths report it the same way.
    assert stages["subtitles"] == {"status": "skipped", "ms": 0,
                                   "reason": stages["subtitles"]["reason"]}  # fmt: skip
    assert result["subtitles"]["status"] == "skipped"
    # The per-title probe is paid for: one-pass runs it inside the transcode stage; the
    # segmented plan runs it apart, and the run's environment time adds its seconds.
    ladder_decision = result["transcoding"]["ladder"]
    probe_s = ladder_decision["probe"]["seconds"]
    assert ladder_decision.get("fallback") or probe_s > 0, ladder_decision
    if path == "one-pass":
        assert stages["transcode"]["ms"] >= probe_s * 1000 - 1
    else:
        jobs = sum(s["totalMs"] for s in result["segments"]["items"]) / 1000
        expected = jobs + result["assembleMs"] / 1000 + probe_s
        assert result["cost"]["environmentSeconds"] == pytest.approx(expected, abs=0.002)


@pytest.mark.parametrize("path", PATHS)
def test_damage_in_one_segment(
    path: str, make_media: Callable[..., Path], media_settings: Settings, tmp_path: Path
) -> None:
    """Damage in the second half (the second segment): both paths conceal it, as a player
    would, and publish the same video: every frame of the whole duration, with its sound."""
    clip = make_media("paths_damage_base.mp4", "-f", "lavfi", "-i",
                      f"testsrc2=s=320x180:r=25:{T}", *TONE, *X264, "-c:a", "aac")  # fmt: skip
    # Damage placed by time, not by byte share (x264's output, so the layout, varies run to
    # run): from the first video packet at 5.2 s, past the first segment's analysis margin.
    with av.open(str(clip)) as c:
        v = c.streams.video[0]
        assert v.time_base is not None
        tb = v.time_base
        at = next(
            int(p.pos)
            for p in c.demux(v)
            if p.pts is not None and p.pos is not None and float(p.pts * tb) >= 5.2
        )
    data = bytearray(clip.read_bytes())
    data[at : at + 8_000] = bytes((i * 7) % 256 for i in range(8_000))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    settings = settings_for(path, media_settings)
    result, store = run(path, damaged, settings)
    assert "error" not in result, result
    mp4 = top_rendition(result, store)
    assert_sdr_bt709(mp4, (320, 180))
    assert _frames(mp4) == SECONDS * 25
    assert facts(mp4)["audio"] == 1
    with av.open(str(mp4)) as c:
        assert abs(float(c.duration or 0) / 1e6 - SECONDS) < 0.15
    assert not list((settings.data_dir / "work" / "scratch").rglob("*.ts"))


@pytest.mark.parametrize("path", PATHS)
def test_an_unreadable_source_fails_the_same_way_on_each_path(
    path: str, make_media: Callable[..., Path], media_settings: Settings, tmp_path: Path
) -> None:
    """A source whose every picture is garbage behind an intact index (the `moov` box): the
    same recorded failure on both paths, nothing published."""
    clip = make_media("paths_damage_base.mp4", "-f", "lavfi", "-i",
                      f"testsrc2=s=320x180:r=25:{T}", *TONE, *X264, "-c:a", "aac")  # fmt: skip
    data = bytearray(clip.read_bytes())
    mdat, moov = data.find(b"mdat") + 4, data.rfind(b"moov") - 4
    assert 0 < mdat < moov
    data[mdat:moov] = bytes((i * 7) % 256 for i in range(moov - mdat))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    settings = settings_for(path, media_settings)
    url = into_inbox(settings, broken)
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    with pytest.raises(MediaError) as failed:
        if path == "one-pass":
            run_processing(VID, url, settings, store, lambda p: None)
        else:
            scratch = LocalScratchStore(settings.data_dir / "work" / "scratch")
            segmented.prepare(VID, new_run_id(), url, settings, scratch)
    assert failed.value.code == "Unreadable", failed.value
    assert store.list_runs(VID) == []


def one_pass_graph(info: Any) -> str:
    args = transcode.build_transcode_args(info, transcode.plan_ladder(info.width, info.height))
    return args[args.index("-filter_complex") + 1]


@pytest.mark.parametrize("name", list(SOURCES))
def test_both_paths_make_identical_decisions(
    name: str, sources: dict[str, Path], media_settings: Settings, tmp_path: Path
) -> None:
    """The one-pass probe of the fetched file and the segmented plan's probe (through the
    source where it lies) choose the same streams and read them with the same input stage."""
    settings = settings_for("segmented", media_settings)
    one = probe(sources[name], max_duration=60)
    scratch = LocalScratchStore(tmp_path / "scratch")
    run_id = new_run_id()
    prepared = segmented.prepare(VID, run_id, into_inbox(settings, sources[name]), settings,
                                 scratch)  # fmt: skip
    assert prepared.planned is not None
    plan = SegmentPlan.from_json(scratch.get_text(run_scratch(VID, run_id), "plan.json") or "")
    seg = plan.info
    assert (seg.video_stream, seg.video_track, seg.audio_track) == (
        one.video_stream, one.video_track, one.audio_track)  # fmt: skip
    assert seg.media_fields() == one.media_fields()
    stage = input_stage(one)
    assert input_stage(seg) == stage
    one_graph = one_pass_graph(one)
    seg_args = build_segment_args(plan, 0, source="source")
    seg_graph = seg_args[seg_args.index("-filter_complex") + 1]
    pad = f"[0:{one.video_stream}]"
    assert one_graph.startswith(pad + stage.filters) and seg_graph.startswith(pad + stage.filters)
    # What feeds each rung's scaler is the same chain on both paths.
    assert one_graph.split(";")[0] == seg_graph.split(";")[0], (one_graph, seg_graph)
    json.dumps(plan.info.to_dict())  # the stored plan keeps the choice


@pytest.mark.parametrize("path", PATHS)
def test_a_whisper_failure_is_a_stage_report_not_a_failed_video(
    path: str, sources: dict[str, Path], media_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.media import segments, subtitles
    from chalicelib.media.whisper_model import ModelChoice
    from chalicelib.processing.context import RunContext

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("model file is damaged")

    monkeypatch.setattr(RunContext, "whisper", property(lambda self: ModelChoice("a-model")))
    monkeypatch.setattr(subtitles, "transcribe", broken)
    monkeypatch.setattr(segments, "transcribe_window", broken)
    settings = settings_for(path, media_settings)
    result, _ = run(path, sources["two-audio-second-default"], settings)
    assert "error" not in result, result
    report = result["stages"]["subtitles"]
    assert report["status"] == "failed" and report["code"] == "StageError"
    assert "RuntimeError: model file is damaged" in report["reason"]
    assert result["subtitles"]["status"] == "failed"
    assert result["transcoding"]["formats"]


def test_a_short_source_too_large_to_fetch_is_one_segment_of_the_segmented_path(
    sources: dict[str, Path], media_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-pass job fetches its source: above ONE_PASS_MAX_SOURCE_BYTES a short video is
    planned as one segment instead, so no invocation keeps a large source on local disk."""
    clip = sources["two-audio-second-default"]
    monkeypatch.setattr(segmented, "ONE_PASS_MAX_SOURCE_BYTES", clip.stat().st_size - 1)
    settings = replace(settings_for("one-pass", media_settings), segment_seconds=60)
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    scratch = LocalScratchStore(settings.data_dir / "work" / "scratch")
    run_id = new_run_id()
    prepared = segmented.prepare(VID, run_id, into_inbox(settings, clip), settings, scratch)
    assert prepared.planned is not None and prepared.planned["segments"] == 1
    for job in prepared.planned["jobs"]:
        segmented.run_job(VID, run_id, job, settings, scratch)
    result = segmented.assemble(VID, run_id, settings, scratch, store)
    mp4 = top_rendition(result, store)
    check("two-audio-second-default", result, mp4)
    with av.open(str(mp4)) as c:
        assert abs(float(c.duration or 0) / 1e6 - SECONDS) < 0.15


def test_an_assembly_whose_scratch_stays_is_not_reported_clean(
    sources: dict[str, Path], media_settings: Settings
) -> None:
    from chalicelib.media_store.base import DeleteFailed

    class Stuck(LocalScratchStore):
        def delete_prefix(self, prefix: str) -> None:
            raise DeleteFailed("scratch", [(f"{prefix}/plan.json", "AccessDenied")])

    settings = settings_for("segmented", media_settings)
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    scratch = Stuck(settings.data_dir / "work" / "scratch")
    run_id = new_run_id()
    prepared = segmented.prepare(VID, run_id, into_inbox(settings, sources["no-audio"]), settings,
                                 scratch)  # fmt: skip
    assert prepared.planned is not None
    for job in prepared.planned["jobs"]:
        segmented.run_job(VID, run_id, job, settings, scratch)
    with pytest.raises(DeleteFailed, match="AccessDenied"):
        segmented.assemble(VID, run_id, settings, scratch, store)


@pytest.mark.parametrize("path", PATHS)
def test_the_per_title_ladder_on_each_path(
    path: str, sources: dict[str, Path], media_settings: Settings
) -> None:
    """Issue 25 on both paths: the ladder decided once (segmented: in the plan), its rungs keyed
    at the interval it chose (once per HLS segment where the pictures repeat, else every 2 s) —
    the renditions' keyframes fall there, and nowhere else."""
    settings = settings_for(path, media_settings)
    r, store = run(path, sources["no-audio"], settings)
    assert "error" not in r, r
    decided = r["transcoding"]["ladder"]
    assert decided["mode"] == "per-title" and "fallback" not in decided
    (every,) = {rung["keyframeSeconds"] for rung in decided["rungs"]}
    assert every in (transcode.KEYFRAME_SECONDS, transcode.SEGMENT_SECONDS)
    with av.open(str(top_rendition(r, store))) as c:
        keys = [round(float(p.pts * p.time_base), 2) for p in c.demux(video=0)
                if p.is_keyframe and p.pts is not None and p.time_base is not None]  # fmt: skip
    assert keys == [float(t) for t in range(0, 6, every)]  # the 6 s source


@pytest.mark.parametrize("path", PATHS)
def test_av1_beside_h264_on_each_path(
    path: str, sources: dict[str, Path], media_settings: Settings
) -> None:
    """Issue 25 on both paths: with `VIDEO_CODECS=h264,av1` the AV1 rung is in the master beside
    the H.264 one, as fMP4 pieces (segmented: each segment's init before its pieces, one
    timeline), and its MP4 holds every frame once, with the audio."""
    settings = replace(settings_for(path, media_settings), video_codecs=("h264", "av1"))
    r, store = run(path, sources["two-audio-second-default"], settings)
    assert "error" not in r, r
    formats = r["transcoding"]["formats"]
    assert [(f["codec"], f["height"]) for f in formats] == [("h264", 180), ("av1", 180)]
    assert all(50 < f["vmaf"]["mean"] <= 100 and f["vmaf"]["p5"] <= 100 for f in formats)
    mp4 = media_path(store, formats[1]["url"])
    with av.open(str(mp4)) as c:
        assert c.streams.video[0].codec_context.name in ("av1", "libdav1d", "libaom-av1")
        assert c.streams.audio and abs(float(c.duration or 0) / 1e6 - SECONDS) < 0.15
        assert sum(1 for _ in c.decode(video=0)) == SECONDS * 25  # every frame once
    folder = mp4.parent
    master = (folder / transcode.MASTER_PLAYLIST).read_text()
    assert 'CODECS="av01.0.08M.08' in master and 'CODECS="avc1.640028' in master
    playlist = (folder / "hls_av1_180p.m3u8").read_text()
    maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', playlist)
    assert len(maps) == (2 if path == "segmented" else 1)
    uris = [ln for ln in playlist.splitlines() if ln and not ln.startswith("#")]
    assert all(u.endswith(".m4s") for u in uris)
    assert all((folder / name).is_file() for name in [*maps, *uris])
    total = sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+),", playlist))
    assert abs(total - SECONDS) < 0.1
