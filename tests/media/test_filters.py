"""Fast tests of the shared input stage and the probe's pure decisions (no ffmpeg run)."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from chalicelib.media import filters, thumbnails, transcode
from chalicelib.media.filters import OUTPUT_TAGS, input_stage, peak_nits
from chalicelib.media.probe import (
    AudioTrack,
    ColorInfo,
    IdetCounts,
    ProbeResult,
    classify_hdr,
    decide_interlace,
    parse_idet,
    parse_mastering_peak,
    parse_max_cll,
    source_input,
)

SDR_709 = ColorInfo("bt709", "bt709", "bt709", "tv", 8, "4:2:0")
PQ = ColorInfo("bt2020", "smpte2084", "bt2020nc", "tv", 10, "4:2:0")
HLG = ColorInfo("bt2020", "arib-std-b67", "bt2020nc", "tv", 10, "4:2:0")


def info(w: int = 1920, h: int = 1080, **kw: object) -> ProbeResult:
    base = ProbeResult("mov,mp4", 10.0, w, h, w, h, 0, 25.0, "h264", "aac", True, 1_000_000,
                       "yuv420p", video_stream=0,
                       audio_track=AudioTrack(0, 1, None, False, 1), color=SDR_709)  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


# --- SDR progressive pays nothing --------------------------------------------------------------


@pytest.mark.parametrize(
    "color",
    [SDR_709, ColorInfo(None, None, None, None, 8, "4:2:0"), ColorInfo("bt709", None, "bt709")],
)
def test_standard_sdr_progressive_gets_only_the_tags(color: ColorInfo) -> None:
    stage = input_stage(info(color=color), size=(1280, 720))
    assert stage.filters == OUTPUT_TAGS and stage.steps == () and stage.input_args == ()
    assert "setparams" in OUTPUT_TAGS and "scale" not in OUTPUT_TAGS  # a label, no pixel work


def test_sdr_ladder_command_is_the_old_one_plus_labels_only() -> None:
    src = info()
    rungs = transcode.plan_ladder(src.width, src.height)
    args = transcode.build_transcode_args(src, rungs, preset="veryfast")
    graph = args[args.index("-filter_complex") + 1]
    old_graph = "[0:v:0]split=3[s0][s1][s2];" + ";".join(
        f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]"
        for i, r in enumerate(rungs)
    )
    # The only difference: the absolute stream pad and the setparams label before the split.
    assert graph == old_graph.replace("[0:v:0]", f"[0:0]{OUTPUT_TAGS},")
    # no decoder options: only the source's confinement (issue 28)
    confine = source_input(args[args.index("-i") + 1])[:-2]
    assert args[: args.index("-i")] == ["-filter_complex_threads", args[1], *confine]
    # Three video streams and ONE audio stream (encoded once, shared by every rendition).
    assert args.count("-map") == 4 and args.count("0:1") == 1 and args.count("-c:a") == 1
    for flag, value in zip(filters.ENCODER_COLOR_ARGS[::2], filters.ENCODER_COLOR_ARGS[1::2],
                           strict=True):  # fmt: skip
        assert args.count(flag) == 1 and args[args.index(flag) + 1] == value


# --- HDR ---------------------------------------------------------------------------------------


def test_pq_is_tone_mapped_with_the_content_light_level_as_peak() -> None:
    src = info(color=replace(PQ, max_cll=1500, mastering_peak=4000.0), pix_fmt="yuv420p10le")
    stage = input_stage(src)
    parts = stage.filters.split(",")
    assert stage.steps == ("tonemap:pq:1500",)
    # Linear light (100 cd/m2 = 1.0) with BT.709 primaries, from the spelled-out source colours.
    assert parts[0] == (
        "zscale=pin=bt2020:tin=smpte2084:min=bt2020nc:rin=limited:t=linear:npl=100:p=bt709"
    )
    assert "tonemap=tonemap=mobius:param=0.3:desat=0:peak=15" in parts
    i_tm = parts.index("tonemap=tonemap=mobius:param=0.3:desat=0:peak=15")
    assert parts[i_tm - 1] == "format=gbrpf32le"
    assert parts[i_tm + 1 : i_tm + 3] == ["zscale=t=bt709:m=bt709:r=limited", "format=yuv420p"]
    for side in filters.HDR_SIDE_DATA:
        assert f"sidedata=mode=delete:type={side}" in parts
    assert stage.filters.endswith(OUTPUT_TAGS)


@pytest.mark.parametrize(
    ("color", "peak"),
    [
        (replace(PQ, max_cll=None, mastering_peak=4000.0), 4000.0),  # mastering display
        (replace(PQ, max_cll=None, mastering_peak=None), 1000.0),  # nothing: HDR10's common peak
        (replace(PQ, max_cll=50, mastering_peak=None), 1000.0),  # below SDR white: nonsense
        (replace(PQ, max_cll=20000, mastering_peak=600.0), 600.0),  # above PQ's ceiling
        (replace(HLG, max_cll=4000), 1000.0),  # HLG: the reference display's 1000 cd/m2
    ],
)
def test_tone_mapping_peak(color: ColorInfo, peak: float) -> None:
    assert peak_nits(info(color=color)) == peak


def test_hlg_and_untagged_pq_matrix() -> None:
    stage = input_stage(info(color=HLG))
    assert stage.steps == ("tonemap:hlg:1000",)
    assert "tin=arib-std-b67" in stage.filters and ":peak=10," in stage.filters
    untagged = input_stage(info(color=replace(PQ, primaries=None, matrix=None)))
    assert "pin=bt2020:tin=smpte2084:min=bt2020nc" in untagged.filters


def test_hdr_is_tone_mapped_at_the_consumers_size_but_sdr_is_not_resized() -> None:
    uhd = info(3840, 2160, color=PQ)
    assert input_stage(uhd, size=(1920, 1080)).filters.startswith("zscale=w=1920:h=1080:f=bicubic")
    assert "zscale=w=" not in input_stage(uhd).filters
    same = input_stage(info(1280, 720, color=PQ), size=(1280, 720))
    assert "zscale=w=" not in same.filters  # nothing to shrink (and never an upscale)
    assert input_stage(info(3840, 2160), size=(320, 180)).filters == OUTPUT_TAGS


def test_wide_gamut_sdr_goes_through_zscale_to_bt709() -> None:
    for primaries in ("bt2020", "smpte432"):
        color = ColorInfo(primaries, "bt709", "bt709", "tv", 10, "4:2:0")
        stage = input_stage(info(color=color))
        assert stage.steps == ("gamut",)
        assert stage.filters.startswith(f"zscale=pin={primaries}:tin=bt709:min=bt709:rin=limited:")
        assert ":p=bt709:t=bt709:m=bt709:r=limited,format=yuv420p," in stage.filters


def test_hdr_classification() -> None:
    assert classify_hdr("smpte2084") == "pq"
    assert classify_hdr("arib-std-b67") == "hlg"
    assert classify_hdr("bt709") is None and classify_hdr(None) is None
    assert classify_hdr("smpte2084", dolby_vision=True) == "dolby-vision"


def test_luminance_metadata_parsing() -> None:
    # AVMasteringDisplayMetadata: 6 primaries + 2 white point + min + max AVRationals, 2 ints.
    rationals = [(34000, 50000), (16000, 50000)] * 3 + [(15635, 50000), (16450, 50000)]
    blob = b"".join(struct.pack("=ii", *r) for r in rationals)
    blob += struct.pack("=ii", 1, 10000) + struct.pack("=ii", 10_000_000, 10000)
    assert parse_mastering_peak(blob + struct.pack("=ii", 1, 1)) == 1000.0
    assert parse_mastering_peak(blob + struct.pack("=ii", 1, 0)) is None  # has_luminance = 0
    assert parse_mastering_peak(b"\x00" * 10) is None
    assert parse_max_cll(struct.pack("=II", 1000, 400)) == 1000
    assert parse_max_cll(struct.pack("=II", 0, 0)) is None


# --- deinterlacing -------------------------------------------------------------------------------


@pytest.mark.parametrize("parity", ["tff", "bff"])
def test_interlaced_sources_are_deinterlaced_first_keeping_the_frame_rate(parity: str) -> None:
    stage = input_stage(info(interlaced=parity, color=PQ), size=(640, 360))
    assert stage.filters.startswith(f"bwdif=mode=send_frame:parity={parity}:deint=all,zscale=")
    assert stage.steps[0] == f"deinterlace:{parity}"
    assert "field_mode=prog" in OUTPUT_TAGS


IDET_LOG = """
[Parsed_idet_0 @ 0x1] Multi frame detection: TFF:     0 BFF:     0 Progressive:     0 Undetermined:     0
[Parsed_idet_0 @ 0x2] Single frame detection: TFF:    30 BFF:     2 Progressive:     8 Undetermined:     8
[Parsed_idet_0 @ 0x2] Multi frame detection: TFF:    41 BFF:     0 Progressive:     6 Undetermined:     1
"""  # noqa: E501


def test_idet_log_gives_the_last_multi_frame_summary() -> None:
    assert parse_idet(IDET_LOG) == IdetCounts(41, 0, 6, 1)
    assert parse_idet("no summary") is None


@pytest.mark.parametrize(
    ("flag", "counts", "expected"),
    [
        ("unknown", IdetCounts(40, 0, 8, 0), "tff"),  # no flag: idet decides
        ("unknown", IdetCounts(0, 35, 5, 8), "bff"),
        ("unknown", IdetCounts(2, 1, 45, 0), False),
        ("unknown", IdetCounts(20, 0, 20, 8), False),  # no majority, no flag: progressive
        ("unknown", IdetCounts(3, 0, 0, 45), False),  # a still picture decides nothing
        ("unknown", None, False),  # idet failed
        ("tff", IdetCounts(0, 0, 48, 0), False),  # flagged interlaced, progressive content (PsF)
        ("tff", IdetCounts(2, 40, 6, 0), "bff"),  # the flag's parity is wrong
        ("bff", IdetCounts(20, 0, 20, 8), "bff"),  # unclear: the flag stands
        ("bff", IdetCounts(1, 0, 2, 45), "bff"),
        ("bff", None, "bff"),
        ("interlaced", IdetCounts(0, 0, 0, 48), "tff"),  # interlaced, parity unsaid
        ("interlaced", IdetCounts(5, 40, 0, 0), "bff"),
    ],
)
def test_interlace_decision(flag: str, counts: IdetCounts | None, expected: str | bool) -> None:
    assert decide_interlace(flag, counts) == expected


# --- conversions of unusual pictures ------------------------------------------------------------


@pytest.mark.parametrize(
    ("pix_fmt", "color", "expected"),
    [
        ("yuv422p10le", ColorInfo("bt709", "bt709", "bt709", "tv", 10, "4:2:2"),
         "scale=in_color_matrix=bt709:in_range=tv:out_color_matrix=bt709:out_range=tv"),
        ("yuvj420p", ColorInfo(None, None, "bt470bg", "pc", 8, "4:2:0"),
         "scale=in_color_matrix=bt601:in_range=pc:out_color_matrix=bt709:out_range=tv"),
        ("yuv420p", ColorInfo(None, None, "smpte170m", "tv", 8, "4:2:0"),
         "scale=in_color_matrix=bt601:in_range=tv:out_color_matrix=bt709:out_range=tv"),
        ("rgb24", ColorInfo(None, None, "gbr", "pc", 8, "rgb"),
         "scale=out_color_matrix=bt709:out_range=tv"),
    ],
)  # fmt: skip
def test_non_standard_pictures_get_one_swscale_conversion(
    pix_fmt: str, color: ColorInfo, expected: str
) -> None:
    stage = input_stage(info(pix_fmt=pix_fmt, color=color))
    assert stage.steps == ("convert",)
    assert stage.filters == f"{expected},format=yuv420p,{OUTPUT_TAGS}"


def test_untagged_matrix_is_bt601_below_hd_and_bt709_from_hd() -> None:
    untagged = ColorInfo(None, None, None, None, 8, "4:2:0")
    assert "in_color_matrix=bt601" in input_stage(info(720, 576, color=untagged)).filters
    assert input_stage(info(1280, 720, color=untagged)).filters == OUTPUT_TAGS


def test_alpha_is_flattened_on_black_and_vp9_alpha_is_decoded_by_libvpx() -> None:
    vp9 = info(video_codec="vp9", alpha=True, video_stream=2)
    stage = input_stage(vp9)
    assert stage.input_args == ("-c:2", "libvpx-vp9")
    assert stage.filters.startswith("premultiply=inplace=1,scale=")
    assert "format=yuv420p" in stage.filters
    prores = input_stage(info(video_codec="prores", alpha=True, pix_fmt="yuva444p12le",
                              color=ColorInfo(None, None, None, "tv", 12, "4:4:4")))  # fmt: skip
    assert prores.input_args == () and prores.steps == ("flatten-alpha", "convert")


def test_streams_are_addressed_by_absolute_index() -> None:
    src = info(video_stream=1, audio_track=AudioTrack(1, 3, "fra", True, 2))
    assert filters.source_pad(src) == "[0:1]"
    assert filters.audio_map(src) == "0:3"
    args = transcode.build_transcode_args(src, transcode.plan_ladder(1920, 1080))
    assert args[args.index("-filter_complex") + 1].startswith("[0:1]")
    assert "0:3" in args and "0:a:0" not in args


def test_media_fields_describe_colour_hdr_interlacing_and_audio_track() -> None:
    src = info(color=replace(PQ, max_cll=1000), hdr="pq", interlaced="tff",
               audio_track=AudioTrack(1, 2, "fra", True, 2))  # fmt: skip
    media = src.media_fields()
    assert media["color"] == {"primaries": "bt2020", "transfer": "smpte2084",
                              "matrix": "bt2020nc", "range": "tv", "bitDepth": 10,
                              "chroma": "4:2:0", "maxCll": 1000,
                              "masteringPeak": None}  # fmt: skip
    assert media["hdr"] == "pq" and media["interlaced"] == "tff" and media["alpha"] is False
    assert media["audioTrack"] == {"index": 1, "language": "fra", "default": True, "tracks": 2}
    assert info(audio_track=None, has_audio=False).media_fields()["audioTrack"] is None


def test_storyboard_of_a_clip_under_one_second_takes_its_tile_mid_clip() -> None:
    plan = thumbnails.plan_storyboard(info(640, 360, duration=0.4))
    assert (plan.count, plan.first) == (1, 0.2)
    assert "gte(t\\,0.200+selected_n*1.000)" in thumbnails.storyboard_filter(plan, "a", "b")
    assert thumbnails.plan_storyboard(info(duration=25.0)).first == 0.5
