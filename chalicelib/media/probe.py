"""Probe a source with PyAV (the imageio-ffmpeg wheel ships no ffprobe)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from chalicelib.media.errors import MediaError

# Demuxers that read single still images: a picture is not a video.
_IMAGE_FORMATS = frozenset({"image2", "image2pipe", "apng", "webp", "tiff"})
# Decoding stops after this many packets without a picture: the stream is unreadable.
_MAX_PACKETS_FOR_FIRST_FRAME = 300


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

    @property
    def short_side(self) -> int:
        """The side a ladder rung names ("720p" = 720 on the short side, portrait too)."""
        return min(self.width, self.height)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


def probe(path: Path, *, max_duration: float) -> ProbeResult:
    """Probe `path`; raise MediaError for anything that is not a processable video.

    Codes: NotAVideo, NoVideoStream, ZeroDuration, TooLong, Unreadable.
    """
    import av  # lazy: heavy native library

    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError:
        raise MediaError(
            "NotAVideo",
            "The file is not a video in a format we can read (or it is damaged or truncated).",
        ) from None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        raise MediaError("Unreadable", "The file could not be opened as a video.") from None
    with container:
        fmt = container.format.name
        if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe"):
            raise MediaError("NotAVideo", "The file is a still image, not a video.")
        videos = [
            s
            for s in container.streams.video
            if not (s.disposition & av.stream.Disposition.attached_pic)
        ]
        if not videos:
            raise MediaError("NoVideoStream", "The file has no video stream.")
        vstream = videos[0]
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
        rotation = _first_frame_rotation(container, vstream)
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
            bitrate = int(path.stat().st_size * 8 / duration)
        return ProbeResult(
            container=fmt,
            duration=round(duration, 3),
            width=display_w,
            height=display_h,
            coded_width=coded_w,
            coded_height=coded_h,
            rotation=rotation,
            fps=round(float(rate), 3) if rate else 0.0,
            video_codec=cc.name,
            audio_codec=audios[0].codec_context.name if audios else None,
            has_audio=bool(audios),
            bitrate=bitrate,
            pix_fmt=cc.pix_fmt,
        )


def _duration(container: Any, vstream: Any) -> float:
    if container.duration and container.duration > 0:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    if vstream.duration and vstream.time_base:
        return float(vstream.duration * vstream.time_base)
    return 0.0


def _first_frame_rotation(container: Any, vstream: Any) -> int:
    """Decode the first picture (proves the stream is readable) and read its display rotation."""
    import av

    packets = 0
    try:
        for packet in container.demux(vstream):
            packets += 1
            for frame in packet.decode():
                return round(getattr(frame, "rotation", 0) or 0) % 360
            if packets >= _MAX_PACKETS_FOR_FIRST_FRAME:
                break
    except av.error.FFmpegError:
        pass
    raise MediaError("Unreadable", "No picture could be decoded from the video stream.")


def _display_size(width: int, height: int, sar: Fraction | None) -> tuple[int, int]:
    """Square-pixel size: anamorphic sources (SAR != 1) are widened, as players show them."""
    if sar and sar > 0 and sar != 1:
        return max(2, round(width * float(sar))), height
    return width, height
