"""Probe a source with PyAV (the imageio-ffmpeg wheel ships no ffprobe).

Besides size, duration and codecs, the probe records what the shared input stage
(`filters.input_stage`) needs to turn any source into progressive 8-bit 4:2:0 BT.709 pictures:
colour description and bit depth, HDR kind and its luminance metadata, field order (checked with
a short `idet` pass when the stream's flag is missing or claims interlacing), alpha, and which
audio track to use.
"""

from __future__ import annotations

import re
import struct
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from chalicelib.media.errors import MediaError

# Demuxers that read single still images: a picture is not a video.
_IMAGE_FORMATS = frozenset({"image2", "image2pipe", "apng", "webp", "tiff"})

# Containers whose index makes an accurate seek land on the right frame (an input `-ss`
# elsewhere — MPEG-TS, AVI, FLV — lands between keyframes and loses pictures).
SEEK_INDEXED_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
# ffmpeg confined (issue 28): a source is opened only by a demuxer of a real media container,
# never by one that reads other files or URLs named inside it (HLS playlists, DASH manifests,
# concat lists, image sequences, subtitles' includes…), and only through the protocol its
# location needs. The allow-list names FFmpeg demuxers; a demuxer whose name lists several
# ("mov,mp4,m4a,3gp,3g2,mj2") is allowed when one of them is. Single-picture and audio-only
# demuxers stay allowed so that such a file fails with what it is (NotAVideo, NoVideoStream).
SOURCE_DEMUXERS = (
    "mov", "mp4", "matroska", "webm", "avi", "mpegts", "mpeg", "mpegvideo", "flv", "ogg",
    "mxf", "asf", "nut", "ivf", "m4v", "h264", "hevc", "obu", "yuv4mpegpipe", "dv", "gif",
    "rm", "wav", "mp3", "aac", "flac", "w64", "caf", "aiff",
    "jpeg_pipe", "png_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe", "apng", "webp",
)  # fmt: skip
_URL_PROTOCOLS = "http,https,tcp,tls"  # presigned URLs (moto/emulators answer plain http)


def source_open_options(location: Path | str) -> dict[str, str]:
    """libavformat options that confine the opening of a source (PyAV `options=`; the same
    names are ffmpeg input options): its demuxer from SOURCE_DEMUXERS, its protocol `file` for a
    path and http(s) for a URL."""
    url = str(location).startswith(("http://", "https://"))
    return {
        "format_whitelist": ",".join(SOURCE_DEMUXERS),
        "protocol_whitelist": _URL_PROTOCOLS if url else "file",
    }


def source_input(location: Path | str) -> list[str]:
    """`-i location` for an ffmpeg command line that opens a source, preceded by the same
    confinement as input options (`-format_whitelist`, `-protocol_whitelist`): ffmpeg itself
    refuses a playlist, manifest or list source, whether or not the probe saw it first."""
    confine = [
        a for name, value in source_open_options(location).items() for a in (f"-{name}", value)
    ]
    return [*confine, "-i", str(location)]


def open_source(location: Path | str) -> Any:
    """Open a source with PyAV, confined (`source_open_options`). A container outside the
    allow-list is `UnsupportedContainer`; undecodable data is `NotAVideo`."""
    import av  # lazy: heavy native library

    try:
        return av.open(
            str(location),
            mode="r",
            metadata_errors="ignore",
            options=source_open_options(location),
        )
    except av.error.InvalidDataError:
        raise MediaError(
            "NotAVideo",
            "The file is not a video in a format we can read (or it is damaged or truncated).",
        ) from None
    except av.error.ArgumentError:  # EINVAL: the demuxer or a protocol is not on its list
        raise MediaError(
            "UnsupportedContainer",
            "The file is not a media container we accept as a source: playlists (HLS), "
            "manifests (DASH), lists (concat) and image sequences are refused.",
        ) from None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        raise MediaError("Unreadable", "The file could not be opened as a video.") from None


# Decoding stops after this many packets without a picture: the stream is unreadable.
_MAX_PACKETS_FOR_FIRST_FRAME = 300

# --- colour description: FFmpeg's enum values (stable ABI) to FFmpeg's names ------------------
PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
             8: "film", 9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432",
             22: "ebu3213"}  # fmt: skip
TRANSFERS = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "linear",
             9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
             14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428",
             18: "arib-std-b67"}  # fmt: skip
MATRICES = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
            8: "ycgco", 9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc",
            13: "chroma-derived-c", 14: "ictcp", 15: "ipt-c2", 16: "ycgco-re",
            17: "ycgco-ro"}  # fmt: skip
RANGES = {1: "tv", 2: "pc"}
PQ, HLG = "smpte2084", "arib-std-b67"

# AVFieldOrder: 1 progressive, 2 TT, 3 BB, 4 TB, 5 BT. The enum's comments read TB as "bottom
# displayed first", but files say otherwise: ffmpeg's own encoders label top-field-first ProRes
# and DV frames TB (BFF ones BT), and so do Apple's ProRes exports ("top coded first
# (swapped)"). So the field stored first is taken as the one shown first; idet has the last
# word on parity anyway.
_FIELD_ORDERS = {1: "progressive", 2: "tff", 4: "tff", 3: "bff", 5: "bff"}
# Sample entries that exist only for Dolby Vision streams without a standard base layer
# (profiles 4/5/7 in MP4); profile 8 streams use hvc1/hev1/av01 plus a dvcC/dvvC box.
_DOLBY_VISION_ONLY_TAGS = frozenset({"dvh1", "dvhe", "dav1", "dvav", "dva1"})

# Codecs whose pictures say whether they are fields (when the container's field order is unset):
# the decoder's per-picture flag is the flag. Others (rawvideo, MJPEG, HuffYUV, ...) say nothing.
_FIELD_AWARE_CODECS = frozenset({"h264", "hevc", "vvc", "mpeg1video", "mpeg2video", "mpeg4",
                                 "dvvideo", "prores", "dnxhd", "vc1", "wmv3", "vp8", "vp9",
                                 "av1", "theora"})  # fmt: skip

# --- the idet pass (only when the field-order flag is missing or claims interlacing) -----------
IDET_FRAMES = 48  # frames classified: ~2 s of 25i, enough for idet's multi-frame detector
IDET_MIN_DECIDED = 8  # fewer decided frames than this (static picture, tiny clip): trust the flag
IDET_MAJORITY = 2 / 3  # share of the decided frames a verdict needs
IDET_TIMEOUT_SECONDS = 60.0
_IDET_MULTI = re.compile(
    r"Multi frame detection:\s*TFF:\s*(\d+)\s*BFF:\s*(\d+)\s*Progressive:\s*(\d+)"
    r"\s*Undetermined:\s*(\d+)"
)


@dataclass(frozen=True)
class ColorInfo:
    """Colour description of the video stream (FFmpeg names; None = not signalled)."""

    primaries: str | None = None
    transfer: str | None = None
    matrix: str | None = None
    range: str | None = None  # "tv" (limited) | "pc" (full)
    bit_depth: int = 8
    chroma: str | None = "4:2:0"  # "4:2:0" | "4:2:2" | "4:4:4" | "4:1:1" | "rgb" | "gray"
    max_cll: int | None = None  # content light level: brightest pixel, cd/m2
    mastering_peak: float | None = None  # mastering display peak luminance, cd/m2

    def to_media(self) -> dict[str, Any]:
        """The item's `media.color` shape."""
        return {
            "primaries": self.primaries,
            "transfer": self.transfer,
            "matrix": self.matrix,
            "range": self.range,
            "bitDepth": self.bit_depth,
            "chroma": self.chroma,
            "maxCll": self.max_cll,
            "masteringPeak": self.mastering_peak,
        }


@dataclass(frozen=True)
class AudioTrack:
    """The audio track the outputs use: the one marked default, else the first."""

    index: int  # position among the audio streams (ffmpeg's `0:a:N`)
    stream: int  # absolute stream index (ffmpeg's `0:N`)
    language: str | None
    default: bool  # it carried the default disposition
    tracks: int  # audio tracks in the file

    def to_media(self) -> dict[str, Any]:
        """The item's `media.audioTrack` shape."""
        return {"index": self.index, "language": self.language, "default": self.default,
                "tracks": self.tracks}  # fmt: skip


@dataclass(frozen=True)
class VideoTrack:
    """The video track the outputs use (`choose_video`)."""

    index: int  # position among the video streams (ffmpeg's `0:v:N`)
    stream: int  # absolute stream index (ffmpeg's `0:N`)
    default: bool  # it carried the default disposition
    tracks: int  # video streams in the file
    stills: int  # of those, cover art and single pictures, never chosen

    def to_media(self) -> dict[str, Any]:
        """The item's `media.videoTrack` shape."""
        return {"index": self.index, "default": self.default, "tracks": self.tracks,
                "stills": self.stills}  # fmt: skip


@dataclass(frozen=True)
class ProbeResult:
    """Facts about a source; width/height are display dimensions (rotation applied)."""

    container: str
    duration: float
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # degrees counter-clockwise to display upright, one of 0/90/180/270
    fps: float
    video_codec: str
    audio_codec: str | None
    has_audio: bool
    bitrate: int | None  # bits per second, whole file
    pix_fmt: str | None
    video_stream: int = 0  # absolute index of the video stream (never cover art)
    video_track: VideoTrack | None = None  # how it was chosen (`choose_video`)
    audio_track: AudioTrack | None = None
    color: ColorInfo = field(default_factory=ColorInfo)
    hdr: str | None = None  # "pq" | "hlg" | "dolby-vision" | None
    interlaced: str | bool = False  # "tff" | "bff" | False: what the input stage acts on
    # What the stream says: progressive | tff | bff | interlaced (parity unsaid) | unknown.
    field_order: str = "progressive"
    alpha: bool = False

    @property
    def short_side(self) -> int:
        """The side a ladder rung names ("720p" = 720 on the short side, portrait too)."""
        return min(self.width, self.height)

    @property
    def audio_stream(self) -> int | None:
        """Absolute stream index of the chosen audio track (None: no audio)."""
        return self.audio_track.stream if self.audio_track else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ProbeResult:
        """The inverse of `to_dict` (a stored segment plan is read back with it)."""
        fields = dict(raw)
        if isinstance(fields.get("color"), dict):
            fields["color"] = ColorInfo(**fields["color"])
        if isinstance(fields.get("audio_track"), dict):
            fields["audio_track"] = AudioTrack(**fields["audio_track"])
        if isinstance(fields.get("video_track"), dict):
            fields["video_track"] = VideoTrack(**fields["video_track"])
        return cls(**fields)

    def media_fields(self) -> dict[str, Any]:
        """The item's `media` object: what the source is and how it was read."""
        return {
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "videoCodec": self.video_codec,
            "audioCodec": self.audio_codec,
            "container": self.container,
            "bitrate": self.bitrate,
            "rotation": self.rotation,
            "hasAudio": self.has_audio,
            "pixelFormat": self.pix_fmt,
            "color": self.color.to_media(),
            "hdr": self.hdr,
            "interlaced": self.interlaced,
            "alpha": self.alpha,
            "videoTrack": self.video_track.to_media() if self.video_track else None,
            "audioTrack": self.audio_track.to_media() if self.audio_track else None,
        }


def probe(
    path: Path | str, *, max_duration: float, exe: str | None = None, size: int | None = None
) -> ProbeResult:
    """Probe `path` (a local file, or a URL ffmpeg reads with ranged requests: only the headers
    and a few frames travel); raise MediaError for anything that is not a processable video.
    `size` (bytes) is the file's size when `path` is a URL (the bitrate fallback).

    `exe` is the ffmpeg binary for the `idet` pass (default: `ffmpeg_exe()`).
    Codes: NotAVideo, NoVideoStream, ZeroDuration, TooLong, Unreadable, UnsupportedHdr,
    UnsupportedContainer.
    """
    container = open_source(path)
    with container:
        fmt = container.format.name
        if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe"):
            raise MediaError("NotAVideo", "The file is a still image, not a video.")
        vtrack = choose_video(list(container.streams.video))
        if vtrack is None:
            raise MediaError("NoVideoStream", "The file has no video stream.")
        vstream = container.streams.video[vtrack.index]
        audios = list(container.streams.audio)
        duration = _duration(container, vstream)
        if duration <= 0:
            raise MediaError("ZeroDuration", "The video has no duration (no frames to play).")
        if duration > max_duration:
            raise MediaError(
                "TooLong",
                f"The video lasts {duration / 60:.1f} minutes; the limit is "
                f"{max_duration / 60:.1f} minutes.",
            )
        frame = _first_frame(container, vstream)
        rotation = round(getattr(frame, "rotation", 0) or 0) % 360
        cc = vstream.codec_context
        coded_w, coded_h = int(cc.width or 0), int(cc.height or 0)
        if coded_w <= 0 or coded_h <= 0:
            raise MediaError("Unreadable", "The video stream has no picture size.")
        display_w, display_h = _display_size(coded_w, coded_h, vstream.sample_aspect_ratio)
        if rotation in (90, 270):
            display_w, display_h = display_h, display_w
        rate = vstream.average_rate or vstream.guessed_rate or vstream.base_rate
        bitrate = int(container.bit_rate) if container.bit_rate else None
        if not bitrate:
            bitrate = int((size if size is not None else Path(path).stat().st_size) * 8 / duration)
        pix_fmt = frame.format.name or cc.pix_fmt
        color = _color_info(cc, frame, pix_fmt)
        tag = _codec_tag(cc)
        side = {sd.type.name for sd in frame.side_data}
        dolby_vision = tag in _DOLBY_VISION_ONLY_TAGS or bool(
            side & {"DOVI_METADATA", "DOVI_RPU_BUFFER"}
        )
        hdr = classify_hdr(color.transfer, dolby_vision=dolby_vision)
        # Profile 8.x carries an HDR10 (8.1), SDR (8.2) or HLG (8.4) picture the input stage can
        # use as it is; profile 5's base layer is IPTPQc2, which only a Dolby Vision (or
        # libplacebo/Vulkan) renderer turns into colours, and it signals no standard transfer.
        if dolby_vision and (tag in _DOLBY_VISION_ONLY_TAGS or color.transfer is None):
            raise MediaError(
                "UnsupportedHdr",
                "Dolby Vision without an HDR10, HLG or SDR base layer (e.g. profile 5) cannot be "
                "converted to SDR here; export it as HDR10 or HLG.",
            )
        field_order = _field_order(cc, frame)
        alpha = _has_alpha(pix_fmt) or vstream.metadata.get("alpha_mode") == "1"
        track = _choose_audio(audios)
        info = ProbeResult(
            container=fmt,
            duration=round(duration, 3),
            width=display_w,
            height=display_h,
            coded_width=coded_w,
            coded_height=coded_h,
            rotation=rotation,
            fps=round(float(rate), 3) if rate else 0.0,
            video_codec=cc.name,
            audio_codec=audios[track.index].codec_context.name if track else None,
            has_audio=bool(audios),
            bitrate=bitrate,
            pix_fmt=pix_fmt,
            video_stream=vstream.index,
            video_track=vtrack,
            audio_track=track,
            color=color,
            hdr=hdr,
            interlaced=False,
            field_order=field_order,
            alpha=alpha,
        )
    if field_order == "progressive":
        return info  # trusted: SDR progressive sources pay for no extra decode
    counts = detect_interlace(path, info, exe=exe)
    return replace(info, interlaced=decide_interlace(field_order, counts))


def _field_order(cc: Any, frame: Any) -> str:
    """What the stream says: progressive, tff, bff, interlaced (parity unsaid) or unknown."""
    said = _FIELD_ORDERS.get(int(cc.field_order or 0), "unknown")
    picture_interlaced = bool(getattr(frame, "interlaced_frame", False))
    if said == "unknown" and cc.name in _FIELD_AWARE_CODECS:
        # The container did not say, but these bitstreams mark every picture.
        return "interlaced" if picture_interlaced else "progressive"
    if said == "progressive" and picture_interlaced:
        return "interlaced"  # the stream and its first picture disagree
    return said


def classify_hdr(transfer: str | None, *, dolby_vision: bool = False) -> str | None:
    """The HDR kind: pq, hlg, dolby-vision (whatever its base layer), or None for SDR."""
    if dolby_vision:
        return "dolby-vision"
    if transfer == PQ:
        return "pq"
    if transfer == HLG:
        return "hlg"
    return None


@dataclass(frozen=True)
class IdetCounts:
    """idet's multi-frame verdicts over the sampled frames."""

    tff: int
    bff: int
    progressive: int
    undetermined: int


def parse_idet(log: str) -> IdetCounts | None:
    """The last multi-frame summary of an idet run (ffmpeg may print an empty one first)."""
    found = _IDET_MULTI.findall(log)
    if not found:
        return None
    tff, bff, prog, und = (int(x) for x in found[-1])
    return IdetCounts(tff, bff, prog, und)


def decide_interlace(field_order: str, counts: IdetCounts | None) -> str | bool:
    """What to deinterlace: the flag, unless idet has a clear majority saying otherwise.

    A flag claiming interlacing is overruled when most decided frames are progressive (PsF,
    progressive film flagged interlaced) and its parity when idet finds the other one; a
    missing flag follows idet. Too few decided frames (a still picture, a tiny clip) leave the
    flag in charge; with no flag that means progressive.
    """
    flagged: str | bool = field_order if field_order in ("tff", "bff") else False
    if field_order == "interlaced":
        flagged = "tff"  # parity unsaid: TFF is the HD and most SD broadcast order
    if counts is None:
        return flagged
    decided = counts.tff + counts.bff + counts.progressive
    if decided < IDET_MIN_DECIDED:
        return flagged
    interlaced = counts.tff + counts.bff
    if counts.progressive >= IDET_MAJORITY * decided:
        return False
    if interlaced >= IDET_MAJORITY * decided:
        if counts.tff >= IDET_MAJORITY * interlaced:
            return "tff"
        if counts.bff >= IDET_MAJORITY * interlaced:
            return "bff"
        return flagged or ("tff" if counts.tff >= counts.bff else "bff")
    return flagged


def detect_interlace(
    path: Path | str, info: ProbeResult, *, exe: str | None = None
) -> IdetCounts | None:
    """A short `idet` pass: IDET_FRAMES frames from a fifth into the video (None on failure)."""
    from chalicelib.media.ffmpeg import ffmpeg_exe, run_ffmpeg

    start = max(0.0, min(info.duration * 0.2, info.duration - 2.0))
    args = [
        "-ss", f"{start:.3f}", *source_input(path), "-map", f"0:{info.video_stream}",
        "-frames:v", str(IDET_FRAMES), "-vf", "idet", "-an", "-sn", "-dn", "-f", "null", "-",
    ]  # fmt: skip
    try:
        result = run_ffmpeg(args, exe=exe or ffmpeg_exe(), timeout=IDET_TIMEOUT_SECONDS,
                            error_code="Unreadable", what="Interlace detection")  # fmt: skip
    except MediaError:
        return None  # the flag decides; a truly broken stream fails in the transcode with a reason
    return parse_idet(result.stderr)


def _duration(container: Any, vstream: Any) -> float:
    if container.duration and container.duration > 0:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    if vstream.duration and vstream.time_base:
        return float(vstream.duration * vstream.time_base)
    return 0.0


def _first_frame(container: Any, vstream: Any) -> Any:
    """Decode the first picture: proves the stream is readable; carries rotation and HDR data."""
    import av

    packets = 0
    try:
        for packet in container.demux(vstream):
            packets += 1
            for frame in packet.decode():
                return frame
            if packets >= _MAX_PACKETS_FOR_FIRST_FRAME:
                break
    except av.error.FFmpegError:
        pass
    raise MediaError("Unreadable", "No picture could be decoded from the video stream.")


def _codec_tag(cc: Any) -> str:
    try:
        return str(cc.codec_tag or "").strip("\x00").lower()
    except (AttributeError, ValueError):
        return ""


def _color_info(cc: Any, frame: Any, pix_fmt: str | None) -> ColorInfo:
    """The first picture's colour description (the codec context's when the picture has none)."""

    def pick(frame_value: Any, stream_value: Any, names: dict[int, str]) -> str | None:
        for value in (frame_value, stream_value):
            if value is not None and int(value) in names:
                return names[int(value)]
        return None

    range_ = pick(getattr(frame, "color_range", None), cc.color_range, RANGES)
    if range_ is None and pix_fmt and pix_fmt.startswith("yuvj"):
        range_ = "pc"  # the JPEG formats are full range by definition
    mastering, cll = None, None
    for sd in frame.side_data:
        if sd.type.name == "MASTERING_DISPLAY_METADATA":
            mastering = parse_mastering_peak(bytes(sd))
        elif sd.type.name == "CONTENT_LIGHT_LEVEL":
            cll = parse_max_cll(bytes(sd))
    depth, chroma = _format_facts(pix_fmt)
    return ColorInfo(
        primaries=pick(getattr(frame, "color_primaries", None), cc.color_primaries, PRIMARIES),
        transfer=pick(getattr(frame, "color_trc", None), cc.color_trc, TRANSFERS),
        matrix=pick(getattr(frame, "colorspace", None), cc.colorspace, MATRICES),
        range=range_,
        bit_depth=depth,
        chroma=chroma,
        max_cll=cll,
        mastering_peak=mastering,
    )


def parse_mastering_peak(data: bytes) -> float | None:
    """Peak luminance (cd/m2) of an AVMasteringDisplayMetadata: 10 AVRationals, 2 ints."""
    if len(data) < 88:
        return None
    num, den = struct.unpack_from("=ii", data, 72)  # max_luminance
    (has_luminance,) = struct.unpack_from("=i", data, 84)
    if not has_luminance or den <= 0 or num <= 0:
        return None
    return round(num / den, 3)


def parse_max_cll(data: bytes) -> int | None:
    """MaxCLL (cd/m2) of an AVContentLightMetadata (MaxCLL, MaxFALL as unsigned ints)."""
    if len(data) < 8:
        return None
    max_cll, _max_fall = struct.unpack_from("=II", data, 0)
    return int(max_cll) or None


def _format_facts(pix_fmt: str | None) -> tuple[int, str | None]:
    """Bit depth and chroma layout of a pixel format."""
    import av

    if not pix_fmt:
        return 8, None
    try:
        f = av.VideoFormat(pix_fmt)
    except (ValueError, av.error.FFmpegError):
        return 8, None
    depth = max((c.bits for c in f.components), default=8)
    if f.is_rgb or f.is_bayer or f.has_palette:
        return depth, "rgb"
    if len([c for c in f.components if not c.is_alpha]) == 1:
        return depth, "gray"
    sub_w, sub_h = 64 // max(1, f.chroma_width(64)), 64 // max(1, f.chroma_height(64))
    chroma = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (4, 1): "4:1:1"}
    return depth, chroma.get((sub_w, sub_h), f"1/{sub_w}x1/{sub_h}")


def _has_alpha(pix_fmt: str | None) -> bool:
    import av

    if not pix_fmt:
        return False
    try:
        return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.error.FFmpegError):
        return False


# A track no longer than this many frames is a picture, not a video (Matroska cover art is a
# PNG/JPEG track of one frame; a real video this short has nothing to encode).
_STILL_FRAMES = 1.5


def _is_still(s: Any) -> bool:
    """Cover art (`attached_pic`) or a track holding a single picture."""
    import av

    if s.disposition & av.stream.Disposition.attached_pic or s.frames == 1:
        return True
    length = _stream_seconds(s)
    rate = s.average_rate or s.guessed_rate
    return length is not None and bool(rate) and length * float(rate) <= _STILL_FRAMES


def _stream_seconds(s: Any) -> float | None:
    """The track's own length: its duration, else Matroska's `DURATION` tag (None: unknown)."""
    if s.duration and s.time_base:
        return float(s.duration * s.time_base)
    tag = next((v for k, v in s.metadata.items() if k.upper() == "DURATION"), None)
    m = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", str(tag or "").strip())
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def choose_video(videos: list[Any]) -> VideoTrack | None:
    """The video track to use, the same for every path: never cover art or a single-picture
    track; among the rest the default-marked ones, else all; of those the largest picture (the
    first of equals). None when there is no moving picture at all."""
    import av

    moving = [(i, s) for i, s in enumerate(videos) if not _is_still(s)]
    if not moving:
        return None
    marked = [(i, s) for i, s in moving if s.disposition & av.stream.Disposition.default]
    pool = marked or moving

    def area(item: tuple[int, Any]) -> int:
        cc = item[1].codec_context
        return int(cc.width or 0) * int(cc.height or 0)

    index, chosen = max(pool, key=area)  # max keeps the first of equals
    return VideoTrack(index, chosen.index, bool(marked), len(videos), len(videos) - len(moving))


def _choose_audio(audios: list[Any]) -> AudioTrack | None:
    """The track marked default (the first such when several), else the first."""
    import av

    if not audios:
        return None
    flagged = [i for i, s in enumerate(audios) if s.disposition & av.stream.Disposition.default]
    index = flagged[0] if flagged else 0
    s = audios[index]
    language = s.language if s.language and s.language != "und" else None
    return AudioTrack(index, s.index, language, bool(flagged), len(audios))


def _display_size(width: int, height: int, sar: Fraction | None) -> tuple[int, int]:
    """Square-pixel size: anamorphic sources (SAR != 1) are widened, as players show them."""
    if sar and sar > 0 and sar != 1:
        return max(2, round(width * float(sar))), height
    return width, height
