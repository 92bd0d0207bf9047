"""The shared input stage: any probed source -> progressive 8-bit 4:2:0 limited-range BT.709.

`input_stage(info)` is the one place that decides how a source's pictures are made standard
before anything looks at them: the ladder (and the segment encoder through it), the poster, the
storyboard and signal pass, and the frames vision reads all put its `filters` right after the
source pad, and its `input_args` before `-i`. It is a pure function of the probe result.

In order:
1. Deinterlace (interlaced sources only): `bwdif`, one frame per frame, so 1080i50 becomes
   1080p25. Doubling to the field rate (50p) would be smoother on fast motion but doubles the
   cost of every encoder and detector downstream and the bitrate budget per rung, and the ladder's
   caps assume the source's frame rate; bwdif's motion-adaptive interpolation keeps 25p clean.
2. Flatten alpha on black (`premultiply`): players ignore alpha, so what is transparent must be
   black, not whatever colour the encoder left under it. VP8/VP9 alpha lives outside the
   picture, so those streams are decoded with libvpx, which reads it.
3. Colour:
   - HDR (PQ, HLG, and Dolby Vision through its HDR10/HLG base layer): `zscale` to linear light
     with 100 cd/m2 = 1.0 and BT.709 primaries in one step, `tonemap` in 32-bit float, `zscale`
     back to BT.709 8-bit limited. The operator is `mobius`: linear up to 0.3 (30 cd/m2), then a
     smooth roll-off reaching 1.0 exactly at the peak, so the SDR part of the picture keeps its
     contrast and colour (hable darkens everything: diffuse white at 203 cd/m2 lands at 51% of
     SDR white with hable against 83% with mobius for a 1000 cd/m2 peak). `desat=0`: the curve
     scales R, G and B by the same factor, so chromaticity is kept. The peak is MaxCLL, else the
     mastering display's peak, else 1000 cd/m2 for PQ (the common HDR10 grading peak; 10000
     would crush everything); HLG's is 1000 cd/m2, the reference display zimg linearises to.
     When the consumer's output is smaller than the source, the first `zscale` resizes too, so
     the float stages run on the pixels that will be kept: the analysis pass's 320 px picture
     of a 1080p PQ clip costs 0.85 s CPU per 120 frames, the same as decoding and scaling an
     SDR one, against 6.1 s when tone-mapped at full size (one thread, -benchmark).
   - Wide-gamut SDR (BT.2020, DCI-P3, Display P3 primaries): `zscale` to BT.709 primaries.
   - Any other non-standard picture (10/12-bit, 4:2:2/4:4:4, RGB, full range, BT.601 matrix,
     alpha): one `scale` (swscale) to yuv420p BT.709 limited. An untagged matrix is BT.601 for
     SD sizes and BT.709 for HD, as players guess it.
   - 8-bit 4:2:0 limited BT.709 (or untagged HD) progressive: nothing.
   Both zscale paths drop the frames' HDR side data (mastering display, MaxCLL, HDR10+, Dolby
   Vision RPU), which an encoder would otherwise copy into the SDR stream.
4. `setparams` labels the pictures BT.709 / limited / progressive. It moves no pixel (the SDR
   progressive path's whole cost), and encoders take colour tags from the frames: without it an
   untagged source gives untagged renditions, and tags left from an HDR source survive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chalicelib.media.probe import HLG, PQ, ProbeResult, source_input

TONEMAP_OPERATOR = "mobius"
TONEMAP_PARAM = 0.3  # mobius: linear below this (in units of SDR white), rolled off above
NOMINAL_PEAK_NITS = 100.0  # SDR reference white: linear 1.0 in the float stages
DEFAULT_PQ_PEAK_NITS = 1000.0  # PQ without MaxCLL or mastering metadata
HLG_PEAK_NITS = 1000.0  # HLG's nominal display peak (zimg's linearisation)
MAX_PEAK_NITS = 10000.0  # PQ's ceiling; metadata above it is nonsense
WIDE_GAMUTS = frozenset({"bt2020", "smpte431", "smpte432"})
# The tags every output picture carries, and the encoder options that say the same.
OUTPUT_TAGS = (
    "setparams=field_mode=prog:range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"
)
ENCODER_COLOR_ARGS = ("-color_primaries", "bt709", "-color_trc", "bt709",
                      "-colorspace", "bt709", "-color_range", "tv")  # fmt: skip
# HDR side data of the source's frames: an encoder copies it into the SDR stream (x264 writes
# mastering-display and content-light SEI from it), so it goes when the colours change.
HDR_SIDE_DATA = ("MASTERING_DISPLAY_METADATA", "CONTENT_LIGHT_LEVEL", "DYNAMIC_HDR_PLUS",
                 "DYNAMIC_HDR_VIVID", "DOVI_RPU_BUFFER", "DOVI_METADATA",
                 "AMBIENT_VIEWING_ENVIRONMENT")  # fmt: skip
_STRIP_HDR = ",".join(f"sidedata=mode=delete:type={t}" for t in HDR_SIDE_DATA)
# Matrices swscale converts from (its in_color_matrix names); others go through zscale.
_SWS_MATRICES = {"bt709": "bt709", "smpte170m": "bt601", "bt470bg": "bt601", "fcc": "fcc",
                 "smpte240m": "smpte240m", "bt2020nc": "bt2020"}  # fmt: skip
_ZSCALE_MATRICES = frozenset({"bt709", "fcc", "bt470bg", "smpte170m", "smpte240m", "ycgco",
                              "bt2020nc", "bt2020c", "chroma-derived-nc", "chroma-derived-c",
                              "ictcp", "gbr"})  # fmt: skip
_ZSCALE_TRANSFERS = frozenset({"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "linear",
                               "log100", "log316", "bt2020-10", "bt2020-12", "smpte2084",
                               "iec61966-2-4", "iec61966-2-1", "arib-std-b67"})  # fmt: skip


@dataclass(frozen=True)
class InputStage:
    """How to read a source: options before `-i`, and the filter chain after its video pad."""

    input_args: tuple[str, ...]
    filters: str  # never empty: at least OUTPUT_TAGS
    steps: tuple[str, ...]  # what it does, for logs and tests: deinterlace, tonemap, ...

    def chain(self, *more: str) -> str:
        """The stage followed by the consumer's own filters (comma-joined)."""
        return ",".join(p for p in (self.filters, *more) if p)


def source_pad(info: ProbeResult, input_index: int = 0) -> str:
    """The filter-graph pad of the video stream (an absolute index: never cover art)."""
    return f"[{input_index}:{info.video_stream}]"


def audio_map(info: ProbeResult, input_index: int = 0) -> str:
    """The `-map` / pad specifier of the chosen audio track."""
    stream = info.audio_stream
    return f"{input_index}:{stream if stream is not None else 'a:0'}"


def input_stage(info: ProbeResult, *, size: tuple[int, int] | None = None) -> InputStage:
    """The input stage for a probed source.

    `size` is the (display) size the consumer scales to next; only the HDR path uses it, to
    tone-map no more pixels than are kept. The stage never changes the frame rate (beyond
    nothing: bwdif sends one frame per frame) or the display aspect ratio.
    """
    args: list[str] = []
    filters: list[str] = []
    steps: list[str] = []
    if info.alpha and info.video_codec in ("vp8", "vp9"):
        decoder = "libvpx-vp9" if info.video_codec == "vp9" else "libvpx"
        args += [f"-c:{info.video_stream}", decoder]
    if info.interlaced in ("tff", "bff"):
        filters.append(f"bwdif=mode=send_frame:parity={info.interlaced}:deint=all")
        steps.append(f"deinterlace:{info.interlaced}")
    if info.alpha:
        filters.append("premultiply=inplace=1")
        steps.append("flatten-alpha")
    c = info.color
    rgb = c.chroma in ("rgb", "gray")
    if c.transfer in (PQ, HLG):
        peak = peak_nits(info)
        filters += _tonemap(info, peak, size)
        steps.append(f"tonemap:{'pq' if c.transfer == PQ else 'hlg'}:{peak:g}")
    elif c.primaries in WIDE_GAMUTS or (_matrix(info) not in _SWS_MATRICES and not rgb):
        filters.append(_zscale_in(info, default_primaries="bt709") +
                       ":p=bt709:t=bt709:m=bt709:r=limited")  # fmt: skip
        filters += ["format=yuv420p", _STRIP_HDR]
        steps.append("gamut" if c.primaries in WIDE_GAMUTS else "convert")
    elif info.alpha or not _is_standard(info):
        opts = [] if rgb else [f"in_color_matrix={_SWS_MATRICES[_matrix(info)]}"]
        opts += [] if rgb else [f"in_range={_range(info)}"]
        opts += ["out_color_matrix=bt709", "out_range=tv"]
        filters.append("scale=" + ":".join(opts))
        filters.append("format=yuv420p")
        steps.append("convert")
    filters.append(OUTPUT_TAGS)
    return InputStage(tuple(args), ",".join(filters), tuple(steps))


def peak_nits(info: ProbeResult) -> float:
    """The luminance tone mapping maps to SDR white's ceiling (cd/m2)."""
    c = info.color
    if c.transfer == HLG:
        return HLG_PEAK_NITS
    for value in (c.max_cll, c.mastering_peak):
        if value and NOMINAL_PEAK_NITS < value <= MAX_PEAK_NITS:
            return float(value)
    return DEFAULT_PQ_PEAK_NITS


def _tonemap(info: ProbeResult, peak: float, size: tuple[int, int] | None) -> list[str]:
    resize = ""
    if size and size[0] * size[1] < info.width * info.height:
        resize = f"w={size[0]}:h={size[1]}:f=bicubic:"
    linear = _zscale_in(info, default_primaries="bt2020", resize=resize)
    return [
        f"{linear}:t=linear:npl={NOMINAL_PEAK_NITS:g}:p=bt709",
        "format=gbrpf32le",
        f"tonemap=tonemap={TONEMAP_OPERATOR}:param={TONEMAP_PARAM}:desat=0"
        f":peak={peak / NOMINAL_PEAK_NITS:g}",
        "zscale=t=bt709:m=bt709:r=limited",
        "format=yuv420p",
        _STRIP_HDR,
    ]


def _zscale_in(info: ProbeResult, *, default_primaries: str, resize: str = "") -> str:
    """`zscale=` with the source's colour description spelled out (tags can be missing)."""
    c = info.color
    matrix = "gbr" if c.chroma == "rgb" else _matrix(info)
    if matrix not in _ZSCALE_MATRICES:
        matrix = "bt709"
    if c.transfer in (PQ, HLG) and c.matrix is None and c.chroma != "rgb":
        matrix = "bt2020nc"
    transfer = c.transfer if c.transfer in _ZSCALE_TRANSFERS else "bt709"
    primaries = c.primaries or default_primaries
    range_ = "full" if _range(info) == "pc" else "limited"
    return (f"zscale={resize}pin={primaries}:tin={transfer}:min={matrix}"
            f":rin={range_}")  # fmt: skip


def _matrix(info: ProbeResult) -> str:
    """The source's YCbCr matrix; untagged: BT.601 below HD, BT.709 from 1280 wide or 577 high."""
    if info.color.matrix:
        return info.color.matrix
    hd = info.coded_width >= 1280 or info.coded_height > 576
    return "bt709" if hd else "smpte170m"


def _range(info: ProbeResult) -> str:
    return "pc" if info.color.range == "pc" else "tv"


def _is_standard(info: ProbeResult) -> bool:
    """Already what the outputs carry: 8-bit 4:2:0 limited range with the BT.709 matrix."""
    return info.pix_fmt == "yuv420p" and _range(info) == "tv" and _matrix(info) == "bt709"


# --- trim (clips, issue 26): the source cut to a range before any stage reads it ----------------
TRIM_NAME = "source.trim.mkv"
# Pixel formats x264 codes losslessly at qp 0 (8-bit YUV); any other picture is cut with FFV1.
_X264_LOSSLESS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"})
# A streamed cut: fragmented QuickTime (a fragment per keyframe, `mfra` index for seeking).
_STREAMED = ["-movflags", "frag_keyframe+empty_moov+delay_moov+default_base_moof",
             "-f", "mov", "pipe:1"]  # fmt: skip


def trim_frames(info: ProbeResult, start: float, end: float) -> tuple[float, int, float]:
    """(seek time, number of frames, frame rate) of the cut [start, end): its first frame is the
    one on screen at `start`, its frames those whose display starts before `end`."""
    fps = info.fps if info.fps and info.fps > 0 else 25.0
    first = int(start * fps + 1e-6)
    frames = max(1, math.ceil(end * fps - 1e-6) - first)
    seek = max(0.0, first / fps - min(0.002, 0.25 / fps))  # a hair early: rounding drops none
    return seek, frames, fps


def trim_args(
    info: ProbeResult, start: float, end: float, source: str, out: str | None = None
) -> list[str]:
    """ffmpeg arguments that cut [start, end) of `source` frame-accurately and losslessly:
    `-ss` before `-i` decodes from the preceding key frame and drops what is before the seek;
    `-frames:v` keeps exactly the frames of the range (`trim_frames`). The pictures: x264 at
    qp 0 (lossless) for 8-bit YUV, the common case; FFV1 (lossless for every pixel format and
    alpha, but ~2.5x slower: bench/bench_media_text.py) otherwise. To `out` (the one-pass job):
    Matroska with FLAC. Without `out` (the segmented path, streamed into scratch): fragmented
    QuickTime with PCM, video stream 0 and audio stream 1 as a remux has them. The stages then
    read the cut as any source (the input stage applies unchanged)."""
    seek, frames, fps = trim_frames(info, start, end)
    # the source opened confined, as every ffmpeg run that opens one (probe.source_input)
    args = ["-ss", f"{seek:.6f}", *source_input(source), "-map", f"0:{info.video_stream}"]
    if info.has_audio:
        args += ["-map", audio_map(info), "-t", f"{frames / fps:.6f}"]
        args += ["-c:a", "flac" if out else "pcm_s16le"]
    args += ["-frames:v", str(frames), "-map_metadata", "-1", "-map_chapters", "-1"]
    if (info.pix_fmt or "") in _X264_LOSSLESS:
        args += [
            "-c:v",
            "libx264",
            "-qp",
            "0",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            str(info.pix_fmt),
        ]
    else:
        args += ["-c:v", "ffv1", "-level", "3", "-slices", "4"]
    args += ["-g", str(max(1, round(fps * 2)))]
    return [*args, "-f", "matroska", out] if out is not None else [*args, *_STREAMED]
