"""Real-world sources on generated clips: HDR, interlaced, unusual formats, several audio tracks.

Every source is made here with ffmpeg (small and short: the machine has two shared cores) and
every output is measured: colour tags and pixel format (PyAV), progressive frames (`idet`),
dimensions, levels, audio, and for HDR made from an SDR original, the original's colours.

Interlaced clips are woven from 50p testsrc2 rendered at twice the size and halved: testsrc2
drawn natively at 640x360 has edges sharp enough that idet calls ~80% of its progressive frames
interlaced, which would make the "outputs are progressive" check meaningless.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from chalicelib.config import Settings
from chalicelib.media import analysis, thumbnails, transcode
from chalicelib.media.errors import MediaError
from chalicelib.media.ffmpeg import run_ffmpeg
from chalicelib.media.filters import HDR_SIDE_DATA, input_stage
from chalicelib.media.probe import IdetCounts, ProbeResult, parse_idet, probe
from chalicelib.media_store.local import LocalMediaStore
from chalicelib.processing.one_pass import run_processing
from tests.media import reference
from tests.media.conftest import X264, into_inbox
from tests.media.test_pipeline import media_path

pytestmark = pytest.mark.slow
VID = "AbCdEfGhIjKlMnOpQrSt_-"
BT709 = (1, 1, 1, 1)  # primaries, transfer, matrix, range (tv) as FFmpeg's enum values
HALVED_50P = "testsrc2=s=1280x720:r=50:d=1,scale=640:360"  # idet-friendly moving picture
X264_FIELDS = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
               "-flags", "+ildct+ilme"]  # fmt: skip
MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"


# --- helpers --------------------------------------------------------------------------------------


def work_dir_with(clip: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "source").write_bytes(clip.read_bytes())
    return work


def facts(path: Path) -> dict[str, Any]:
    """What a player reads from an output's video stream, and its first picture's side data."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        frame = next(c.decode(v))
        return {
            "size": (cc.width, cc.height),
            "pix_fmt": cc.pix_fmt,
            "tags": (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range),
            "fps": float(v.average_rate or 0),
            "side_data": {sd.type.name for sd in frame.side_data},  # type: ignore[attr-defined]
            "audio": len(c.streams.audio),
            "streams": len(c.streams),
        }


def assert_sdr_bt709(path: Path, size: tuple[int, int]) -> dict[str, Any]:
    """8-bit 4:2:0 H.264 signalled BT.709 limited, of the given size, with no HDR metadata."""
    f = facts(path)
    assert f["pix_fmt"] == "yuv420p" and f["tags"] == BT709, f
    assert f["size"] == size
    assert not f["side_data"] & set(HDR_SIDE_DATA), f["side_data"]
    return f


def idet(ffmpeg: str, path: Path) -> IdetCounts:
    result = run_ffmpeg(["-i", str(path), "-an", "-vf", "idet", "-f", "null", "-"],
                        exe=ffmpeg, timeout=60)  # fmt: skip
    counts = parse_idet(result.stderr)
    assert counts is not None
    return counts


def png_at(ffmpeg: str, source: str | Path, t: float, out: Path, *lavfi: str) -> Any:
    """One frame as BGR, decoded by ffmpeg (which honours the colour tags)."""
    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-y", *lavfi, "-i", str(source), "-ss", f"{t:.3f}",
         "-frames:v", "1", str(out)],
        check=True, timeout=60,
    )  # fmt: skip
    return cv2.imread(str(out))


def colour_shift(img: Any, ref: Any) -> tuple[float, float]:
    """(mean hue difference in degrees, saturation ratio) over the reference's coloured pixels."""
    if img.shape != ref.shape:
        img = cv2.resize(img, (ref.shape[1], ref.shape[0]), interpolation=cv2.INTER_AREA)
    a = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(float)
    b = cv2.cvtColor(ref, cv2.COLOR_BGR2HSV).astype(float)
    mask = (b[..., 1] > 80) & (b[..., 2] > 60)
    assert mask.mean() > 0.2  # testsrc2 is mostly saturated colour
    dh = np.abs(a[..., 0] - b[..., 0])
    dh = np.minimum(dh, 180 - dh) * 2  # OpenCV hue is 0-180
    return float(dh[mask].mean()), float(a[..., 1][mask].mean() / b[..., 1][mask].mean())


def run_whole(clip: Path, settings: Settings) -> tuple[dict[str, Any], LocalMediaStore]:
    settings = replace(settings, whisper_model="off")
    store = LocalMediaStore(settings.media_dir, settings.public_base_url)
    result = run_processing(VID, into_inbox(settings, clip), settings, store, lambda p: None)
    for name in ("transcode", "thumbnail", "analysis", "vision"):
        assert result["stages"][name]["status"] == "completed", (name, result["stages"][name])
    return result, store


def dominant_hz(path: Path) -> float:
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rate = stream.codec_context.sample_rate
        chunks = [f.to_ndarray()[0] for f in c.decode(stream)]
    signal = np.concatenate(chunks).astype(float)
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[int(spectrum.argmax())])


# --- sources --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hdr_clip(make_media: Callable[..., Path]) -> Callable[[str], Path]:
    """640x360 25 fps 1 s HEVC Main 10 made from testsrc2: HDR10 PQ (mastering display 1000
    cd/m2, MaxCLL 1000) or HLG, tagged in the stream and the container."""

    def make(kind: str) -> Path:
        transfer = "smpte2084" if kind == "pq" else "arib-std-b67"
        x265 = f"log-level=error:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc"
        if kind == "pq":
            x265 += f":hdr10=1:master-display={MASTER_DISPLAY}:max-cll=1000,400"
        return make_media(
            f"hdr_{kind}.mp4",
            "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=1",
            "-vf", "format=gbrp,zscale=pin=bt709:tin=bt709:min=gbr:rin=full:npl=100"
                   f":p=bt2020:t={transfer}:m=bt2020nc:r=limited,format=yuv420p10le",
            "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", x265, "-tag:v", "hvc1",
            "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc",
        )  # fmt: skip

    return make


@pytest.fixture(scope="session")
def interlaced_clip(make_media: Callable[..., Path]) -> Callable[[str], Path]:
    """640x360 25i (50 fields/s), 1 s, H.264 coded as fields with the given parity flagged."""

    def make(parity: str) -> Path:
        return make_media(
            f"interlaced_{parity}.mp4",
            "-f", "lavfi", "-i", f"{HALVED_50P},interlace=scan={parity}",
            *X264_FIELDS, "-x264-params", f"{parity}=1",
            "-colorspace", "bt709", "-color_range", "tv",
        )  # fmt: skip

    return make


# --- HDR ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pq", "hlg"])
def test_hdr_source_gives_sdr_bt709_everywhere_with_the_originals_colours(
    kind: str, hdr_clip: Callable[[str], Path], media_settings: Settings, ffmpeg: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    clip = hdr_clip(kind)
    info = probe(clip, max_duration=60)
    assert info.hdr == kind
    c = info.color
    assert (c.primaries, c.matrix, c.range, c.bit_depth, c.chroma) == (
        "bt2020", "bt2020nc", "tv", 10, "4:2:0",
    )  # fmt: skip
    assert c.transfer == ("smpte2084" if kind == "pq" else "arib-std-b67")
    if kind == "pq":
        assert (c.max_cll, c.mastering_peak) == (1000, 1000.0)
    assert info.media_fields()["color"]["bitDepth"] == 10

    result, store = run_whole(clip, media_settings)
    [fmt] = result["transcoding"]["formats"]
    rendition = media_path(store, fmt["url"])
    assert_sdr_bt709(rendition, (640, 360))

    def original(t: float, name: str) -> Any:
        return png_at(ffmpeg, "testsrc2=s=640x360:r=25:d=1", t, tmp_path / name, "-f", "lavfi")

    # The rendition, the poster, a storyboard tile and a vision frame all keep the SDR original's
    # hue and saturation (brightness may differ: highlights are rolled off). Measured: 4-7.5
    # degrees (x265 at 640x360, 4:2:0, JPEG) and 92-95% of the saturation; the old path (no tone
    # mapping, BT.2020 values shown as BT.709) gave the poster 13-16 degrees and 47-63%.
    checks = {"rendition": (png_at(ffmpeg, rendition, 0.5, tmp_path / "r.png"), 0.5)}
    thumb = result["thumbnail"]
    checks["poster"] = (cv2.imread(str(media_path(store, thumb["url"]))), thumb["captureTime"])
    sb = result["storyboard"]
    sprite = cv2.imread(str(media_path(store, sb["url"])))
    assert sprite is not None
    checks["storyboard"] = (sprite[: sb["tileHeight"], : sb["tileWidth"]], 0.5)
    [(t, frame)] = analysis.grab_frames(clip, info, [0.6], 640, exe=ffmpeg)
    checks["vision"] = (frame, t)
    for name, (img, at) in checks.items():
        hue, saturation = colour_shift(img, original(at, f"{name}.png"))
        assert hue < 9 and 0.85 < saturation < 1.15, (name, hue, saturation)
        assert img.mean() > 60, name  # not crushed to black by a wrong peak


def test_hdr_ladder_graph_tone_maps_once_before_the_split(hdr_clip: Callable[[str], Path]) -> None:
    info = probe(hdr_clip("pq"), max_duration=60)
    rungs = transcode.plan_ladder(info.width, info.height)
    args = transcode.build_transcode_args(info, rungs)
    graph = args[args.index("-filter_complex") + 1]
    assert graph.count("tonemap=tonemap=mobius") == 1
    assert graph.index("tonemap") < graph.index("split=")


# --- interlaced -----------------------------------------------------------------------------------


@pytest.mark.parametrize("parity", ["tff", "bff"])
def test_interlaced_source_gives_progressive_renditions_at_the_frame_rate(
    parity: str, interlaced_clip: Callable[[str], Path], ffmpeg: str, tmp_path: Path
) -> None:
    clip = interlaced_clip(parity)
    before = idet(ffmpeg, clip)
    assert getattr(before, parity) >= 20 and before.progressive == 0  # the property is real
    work = work_dir_with(clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    assert (info.field_order, info.interlaced, info.fps) == (parity, parity, 25.0)
    assert input_stage(info).steps[0] == f"deinterlace:{parity}"
    [r] = transcode.transcode(work, info, exe=ffmpeg, timeout=120).renditions
    out = assert_sdr_bt709(work / r.name, (640, 360))
    assert out["fps"] == 25.0  # one frame per frame: 25p
    after = idet(ffmpeg, work / r.name)
    assert after.tff + after.bff <= 1 and after.progressive >= 20, after


def test_interlaced_mpeg2_broadcast_source(make_media: Callable[..., Path], ffmpeg: str,
                                           tmp_path: Path) -> None:  # fmt: skip
    clip = make_media(
        "mpeg2_576i.ts", "-f", "lavfi", "-i",
        "testsrc2=s=1440x1152:r=50:d=1,scale=720:576,interlace=scan=tff",
        "-c:v", "mpeg2video", "-q:v", "4", "-flags", "+ildct+ilme",
    )  # fmt: skip
    work = work_dir_with(clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    assert (info.video_codec, info.interlaced) == ("mpeg2video", "tff")
    [r] = transcode.transcode(work, info, exe=ffmpeg, timeout=120).renditions
    assert_sdr_bt709(work / r.name, (600, 480))  # the 480p rung of a square-pixel 720x576
    assert idet(ffmpeg, work / r.name).progressive >= 20


@pytest.mark.parametrize(
    ("name", "args", "field_order", "expected"),
    [
        # No flag anywhere (MJPEG AVI, as analogue capture cards write it): idet decides.
        ("mjpeg_woven.avi", ["-vf", "interlace=scan=tff", "-c:v", "mjpeg", "-q:v", "3"],
         "unknown", "tff"),
        ("mjpeg_progressive.avi", ["-vf", "fps=25", "-c:v", "mjpeg", "-q:v", "3"],
         "unknown", False),
        # Flagged TFF, woven BFF: the flag's parity lies.
        ("liar.mp4", ["-vf", "interlace=scan=bff", *X264_FIELDS, "-x264-params", "tff=1"],
         "tff", "bff"),
        # Flagged interlaced, progressive pictures (PsF): nothing to deinterlace.
        ("psf.mp4", ["-vf", "fps=25", *X264_FIELDS, "-x264-params", "tff=1"], "tff", False),
    ],
)  # fmt: skip
def test_missing_or_lying_field_flags_are_settled_by_idet(
    name: str, args: list[str], field_order: str, expected: str | bool,
    make_media: Callable[..., Path], tmp_path: Path,
) -> None:  # fmt: skip
    clip = make_media(name, "-f", "lavfi", "-i", HALVED_50P, *args)
    info = probe(clip, max_duration=60)
    assert (info.field_order, info.interlaced) == (field_order, expected)
    assert info.media_fields()["interlaced"] == expected


# --- unusual formats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "codec_args", "pix_fmt", "depth", "chroma"),
    [
        ("prores422.mov", ["-c:v", "prores_ks", "-profile:v", "2", "-pix_fmt", "yuv422p10le"],
         "yuv422p10le", 10, "4:2:2"),
        ("dnxhr_hqx.mov", ["-c:v", "dnxhd", "-profile:v", "dnxhr_hqx",
                           "-pix_fmt", "yuv422p10le"], "yuv422p10le", 10, "4:2:2"),
        ("x264_444_10.mp4", ["-c:v", "libx264", "-preset", "ultrafast",
                             "-pix_fmt", "yuv444p10le"], "yuv444p10le", 10, "4:4:4"),
    ],
)  # fmt: skip
def test_high_bit_depth_and_chroma_sources_become_8bit_420(
    name: str, codec_args: list[str], pix_fmt: str, depth: int, chroma: str,
    make_media: Callable[..., Path], ffmpeg: str, tmp_path: Path,
) -> None:  # fmt: skip
    clip = make_media(name, "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=1", *codec_args,
                      "-colorspace", "bt709")  # fmt: skip
    work = work_dir_with(clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    assert (info.pix_fmt, info.color.bit_depth, info.color.chroma) == (pix_fmt, depth, chroma)
    assert input_stage(info).steps == ("convert",)
    [r] = transcode.transcode(work, info, exe=ffmpeg, timeout=120).renditions
    assert_sdr_bt709(work / r.name, (640, 360))
    poster = thumbnails.extract_poster(work, info, exe=ffmpeg, timeout=60)
    ref = png_at(ffmpeg, "testsrc2=s=640x360:r=25:d=1", poster.capture_time,
                 tmp_path / "ref.png", "-f", "lavfi")  # fmt: skip
    hue, saturation = colour_shift(cv2.imread(str(work / poster.name)), ref)
    assert hue < 3 and 0.9 < saturation < 1.1


def _half_transparent(make_media: Callable[..., Path], name: str, *codec: str) -> Path:
    """320x240 testsrc2, left half opaque, right half fully transparent."""
    return make_media(
        name, "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=1",
        "-vf", "format=yuva444p,geq=lum='lum(X,Y)':cb='cb(X,Y)':cr='cr(X,Y)'"
               ":a='if(lt(X,W/2),255,0)'",
        *codec,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("vp9_alpha.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                            "-pix_fmt", "yuva420p"]),
        ("prores4444_alpha.mov", ["-c:v", "prores_ks", "-profile:v", "4",
                                  "-pix_fmt", "yuva444p10le"]),
    ],
)  # fmt: skip
def test_alpha_is_flattened_on_black(name: str, codec: list[str], make_media: Callable[..., Path],
                                     ffmpeg: str, tmp_path: Path) -> None:  # fmt: skip
    work = work_dir_with(_half_transparent(make_media, name, *codec), tmp_path)
    info = probe(work / "source", max_duration=60)
    assert info.alpha and info.media_fields()["alpha"] is True
    [r] = transcode.transcode(work, info, exe=ffmpeg, timeout=120).renditions
    assert_sdr_bt709(work / r.name, (320, 240))
    with av.open(str(work / r.name)) as c:
        luma = next(c.decode(video=0)).to_ndarray()[:240]  # yuv420p: the Y plane first
    assert abs(float(luma[:, 180:].mean()) - 16) < 2  # transparent -> video black
    assert luma[:, :140].mean() > 60  # the opaque half is the picture
    poster = thumbnails.extract_poster(work, info, exe=ffmpeg, timeout=60)
    img = cv2.imread(str(work / poster.name))
    assert img is not None
    assert img[:, 180:].mean() < 6 and img[:, :140].mean() > 60


def test_full_range_source_is_mapped_to_limited_range(
    make_media: Callable[..., Path], ffmpeg: str, tmp_path: Path
) -> None:
    # Full-range H.264 (as phones and screen recorders write): black 0 and white 255 in luma.
    clip = make_media(
        "fullrange.mp4", "-f", "lavfi", "-i", "color=c=black:s=160x240:r=25:d=1",
        "-f", "lavfi", "-i", "color=c=white:s=160x240:r=25:d=1",
        "-filter_complex", "[0:v][1:v]hstack,scale=out_range=pc:out_color_matrix=bt709[v]",
        "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-color_range", "pc", "-colorspace", "bt709",
    )  # fmt: skip
    work = work_dir_with(clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    assert info.color.range == "pc"
    with av.open(str(clip)) as c:
        src = next(c.decode(video=0)).to_ndarray()[:240]
    assert src[:, :150].mean() < 3 and src[:, 170:].mean() > 252
    [r] = transcode.transcode(work, info, exe=ffmpeg, timeout=60).renditions
    assert_sdr_bt709(work / r.name, (320, 240))
    with av.open(str(work / r.name)) as c:
        luma = next(c.decode(video=0)).to_ndarray()[:240]
    assert abs(float(luma[:, :150].mean()) - 16) < 2 and abs(float(luma[:, 170:].mean()) - 235) < 2


def test_clip_under_one_second_goes_through_every_stage(
    make_media: Callable[..., Path], media_settings: Settings
) -> None:
    clip = make_media(
        "short.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=0.4",
        "-f", "lavfi", "-i", "sine=f=440:d=0.4", "-shortest", *X264, "-c:a", "aac",
    )  # fmt: skip
    result, store = run_whole(clip, media_settings)
    assert result["media"]["duration"] < 1
    [fmt] = result["transcoding"]["formats"]
    assert_sdr_bt709(media_path(store, fmt["url"]), (320, 180))
    sb = result["storyboard"]
    assert sb["count"] == 1 and media_path(store, sb["url"]).stat().st_size > 0
    assert result["thumbnail"]["captureTime"] < 0.4


def test_the_audio_track_marked_default_is_the_one_used(
    make_media: Callable[..., Path], ffmpeg: str, tmp_path: Path
) -> None:
    clip = make_media(
        "two_audio.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1",
        "-f", "lavfi", "-i", "sine=f=440:d=1", "-f", "lavfi", "-i", "sine=f=1000:d=1",
        "-map", "0:v", "-map", "1:a", "-map", "2:a", *X264, "-c:a", "aac",
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
        "-disposition:a:0", "0", "-disposition:a:1", "default",
    )  # fmt: skip
    work = work_dir_with(clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    assert info.media_fields()["audioTrack"] == {
        "index": 1, "language": "fra", "default": True, "tracks": 2,
    }  # fmt: skip
    [r] = transcode.transcode(work, info, exe=ffmpeg, timeout=60).renditions
    assert facts(work / r.name)["audio"] == 1
    assert abs(dominant_hz(work / r.name) - 1000) < 20  # the French track, not the first one
    signals = reference.analyse_signals(work, info, exe=ffmpeg, timeout=60)
    assert signals.loudness is not None and signals.silences == []


def test_timecode_track_and_cover_art_are_not_the_video(
    make_media: Callable[..., Path], ffmpeg: str, tmp_path: Path
) -> None:
    with_tc = make_media(
        "timecode.mov", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1",
        *X264, "-timecode", "10:00:00:00",
    )  # fmt: skip
    cover = make_media("cover.png", "-f", "lavfi", "-i", "color=c=red:s=100x100", "-frames:v",
                       "1")  # fmt: skip
    with_cover = make_media(
        "cover.mkv", "-i", str(with_tc), "-map", "0:v", "-c", "copy",
        "-attach", str(cover), "-metadata:s:t", "mimetype=image/png",
    )  # fmt: skip
    for clip in (with_tc, with_cover):
        with av.open(str(clip)) as c:
            assert len(c.streams) == 2  # the video and a timecode (data) or picture stream
        work = tmp_path / clip.stem
        work.mkdir()
        (work / "source").write_bytes(clip.read_bytes())
        info = probe(work / "source", max_duration=60)
        assert (info.width, info.height, info.video_codec) == (320, 180, "h264")
        [r] = transcode.transcode(work, info, exe=ffmpeg, timeout=60).renditions
        f = assert_sdr_bt709(work / r.name, (320, 180))
        assert f["streams"] == 1  # no data or cover stream carried over
        poster = thumbnails.extract_poster(work, info, exe=ffmpeg, timeout=60)
        img = cv2.imread(str(work / poster.name))
        assert img is not None
        assert img.shape[:2] == (180, 320)


def test_anamorphic_source_is_widened(make_media: Callable[..., Path], ffmpeg: str,
                                      tmp_path: Path) -> None:  # fmt: skip
    # 1440x1080 SAR 4:3 (HDV) in small: 480x360 SAR 4:3 shows as 640x360.
    clip = make_media("anamorphic.mp4", "-f", "lavfi", "-i", "testsrc2=s=480x360:r=25:d=1",
                      "-vf", "setsar=4/3", *X264)  # fmt: skip
    work = work_dir_with(clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    assert (info.width, info.height, info.coded_width) == (640, 360, 480)
    [r] = transcode.transcode(work, info, exe=ffmpeg, timeout=60).renditions
    assert_sdr_bt709(work / r.name, (640, 360))


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("vp9.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]),
        ("av1.mkv", ["-c:v", "libsvtav1", "-preset", "12", "-svtav1-params", "lp=1"]),
        ("mpeg2.mpg", ["-c:v", "mpeg2video", "-q:v", "4"]),
    ],
)
def test_other_codecs_still_work(name: str, codec: list[str], make_media: Callable[..., Path],
                                 ffmpeg: str, tmp_path: Path) -> None:  # fmt: skip
    clip = make_media(name, "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=0.5", *codec)
    work = work_dir_with(clip, tmp_path)
    info = probe(work / "source", max_duration=60)
    assert info.interlaced is False
    [r] = transcode.transcode(work, info, exe=ffmpeg, timeout=60).renditions
    assert_sdr_bt709(work / r.name, (320, 240))


def test_dolby_vision_without_a_usable_base_layer_fails_with_a_reason(
    hdr_clip: Callable[[str], Path], make_media: Callable[..., Path]
) -> None:
    # A Dolby-Vision-only sample entry (profile 5 style): no HDR10/HLG picture to start from.
    clip = make_media("dvh1.mp4", "-i", str(hdr_clip("pq")), "-c", "copy", "-tag:v", "dvh1",
                      "-strict", "unofficial")  # fmt: skip
    with av.open(str(clip)) as c:
        assert c.streams.video[0].codec_context.codec_tag == "dvh1"
    with pytest.raises(MediaError) as err:
        probe(clip, max_duration=60)
    assert err.value.code == "UnsupportedHdr" and "Dolby Vision" in err.value.message


def test_probe_of_an_sdr_progressive_source_runs_no_idet(
    small_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.media import probe as probe_module

    def no_idet(*args: object, **kwargs: object) -> None:
        raise AssertionError("idet ran on a progressive-flagged source")

    monkeypatch.setattr(probe_module, "detect_interlace", no_idet)
    info: ProbeResult = probe(small_clip, max_duration=60)
    assert (info.field_order, info.interlaced, info.hdr) == ("progressive", False, None)
    assert input_stage(info).steps == ()
