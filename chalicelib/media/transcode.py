"""The adaptive ladder: ONE ffmpeg process decodes once, splits, scales and encodes every rung.

All encoded streams go to one `tee` muxer output, whose slaves write each rung's MP4
(+faststart) and HLS variant (MPEG-TS segments): HLS costs no second encode, and the audio is
encoded once for every rendition. The content analysis can ride along as one more branch of
the graph (`tap`), so it costs no decode of its own. All outputs are flat file names in the
work dir (the local API serves `/media/{id}/{run}/{name}` from one flat directory). The HLS
master playlist is written by us from the measured outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Protocol

from chalicelib.media.analysis import Signals, SignalTap
from chalicelib.media.errors import MediaError
from chalicelib.media.ffmpeg import available_cpus, run_ffmpeg
from chalicelib.media.filters import ENCODER_COLOR_ARGS, audio_map, input_stage, source_pad
from chalicelib.media.probe import ColorInfo, ProbeResult, source_input

# Short-side heights of the ladder, top first; bitrate caps keep CRF from exploding on noise.
LADDER: tuple[int, ...] = (1080, 720, 480)
_MAXRATE_KBPS = {1080: 5000, 720: 2800, 480: 1400}
SEGMENT_SECONDS = 4
KEYFRAME_SECONDS = 2  # segments cut only on keyframes: aligned GOPs across rungs
AUDIO_KBPS = 128
MASTER_PLAYLIST = "hls_master.m3u8"
H264, AV1 = "h264", "av1"
REFERENCE_CRF = 23.0  # the fixed ladder's CRF (VIDEO_LADDER=fixed): the per-title ladder's floor
# SVT-AV1's preset: 8 encodes 1080p at ~1.3-1.8x the CPU of x264 veryfast and ~20 % fewer bytes
# at equal VMAF than preset 10 (bench-encoding; its extra CPU is the AV1 rungs' own figure).
AV1_PRESET = 8


@dataclass(frozen=True)
class Rung:
    """One rendition: named by its short side ("720p"), encoded at width x height.

    `crf` is its constant rate factor (the per-title ladder chooses one per rung, ladder.py),
    `maxrate_kbps` its cap, `codec` "h264" (MPEG-TS HLS) or "av1" (SVT-AV1, fMP4/CMAF HLS)."""

    quality: str
    width: int
    height: int
    maxrate_kbps: int
    crf: float = REFERENCE_CRF
    codec: str = H264
    # A keyframe every this many seconds, aligned across the rungs (the fixed ladder: 2; the
    # per-title ladder: one per HLS segment, SEGMENT_SECONDS). Every rung of a ladder has the same.
    keyframe_seconds: int = KEYFRAME_SECONDS
    # The downscaler (swscale flags) from the source to its size: the fixed ladder's bicubic, or
    # lanczos for the per-title ladder's lower rungs (sharper: ~1 VMAF more at the same CRF on
    # the bench's 720p/480p, ~8 % fewer bytes at the same VMAF; docs/encoding.md).
    scaler: str = "bicubic"
    # x264 options on top of the preset (`-x264-params`, "k=v:k=v"): "" is the fixed ladder's
    # plain preset; the per-title ladder's rungs add ladder.TUNED_X264 (docs/encoding.md).
    x264_params: str = ""

    @property
    def key(self) -> str:
        """Unique within a ladder: "720p", "av1_720p"."""
        return self.quality if self.codec == H264 else f"{self.codec}_{self.quality}"

    @property
    def mp4_name(self) -> str:
        return f"video_{self.key}.mp4"

    @property
    def playlist_name(self) -> str:
        return f"hls_{self.key}.m3u8"

    @property
    def segment_pattern(self) -> str:
        ext = "ts" if self.codec == H264 else "m4s"
        return f"hls_{self.key}_%05d.{ext}"

    @property
    def init_name(self) -> str:
        """The fMP4 initialisation segment of an AV1 variant (EXT-X-MAP)."""
        return f"hls_{self.key}_init.mp4"

    def media_files(self, names: Sequence[str]) -> list[str]:
        """Of `names`, this rung's HLS media files (segments, and its init segment)."""
        prefix, ext = self.segment_pattern.split("%", 1)[0], self.segment_pattern.rsplit(".", 1)[1]
        return sorted(
            n for n in names
            if (n.startswith(prefix) and n.endswith("." + ext)) or n == self.init_name
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Rung:
        """A rung from its dict; keys this version does not know are left out (a plan written by
        a newer worker while a run is in flight still reads)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def _even(value: float) -> int:
    return max(2, round(value / 2.0) * 2)


def plan_ladder(width: int, height: int) -> list[Rung]:
    """Rungs for a display size: never upscale; a source below 480p gets one native rendition.

    The rung names the short side, so a 1080x1920 portrait gets 1080p (1080x1920), 720p, 480p.
    Aspect ratio is kept and both sides are even (required by yuv420p/H.264).
    """
    short = min(width, height)
    rungs: list[Rung] = []
    for target in LADDER:
        if target > short:
            continue
        scale = target / short
        rungs.append(
            Rung(f"{target}p", _even(width * scale), _even(height * scale), _MAXRATE_KBPS[target])
        )
    if not rungs:
        w, h = width - width % 2, height - height % 2
        # Roughly proportional to the pixel count of the 480p cap.
        maxrate = max(200, int(_MAXRATE_KBPS[480] * (w * h) / (854 * 480)))
        rungs.append(Rung(f"{min(w, h)}p", max(2, w), max(2, h), maxrate))
    return rungs


class Tap(Protocol):
    """A branch of the ladder's filter graph that looks at what the ladder decodes, so it costs
    no decode of its own: the one-pass analysis (`analysis.SignalTap`), a segment's analysis
    window (`segments.SegmentTap`)."""

    @property
    def raw(self) -> bool:
        """True: it reads the decoded pictures as they come, before `encode_filter` and the input
        stage; False: the pictures the rungs are scaled from."""
        ...

    @property
    def takes_audio(self) -> bool:
        """It wants a copy of the audio track (when the source has one)."""
        ...

    def chains(self, video: str, audio: str | None) -> list[str]:
        """Filter chains consuming [video] (and [audio]), ending in the labels it maps."""
        ...

    def output_args(self) -> list[str]:
        """Its outputs (`-map` ... file), after the ladder's."""
        ...


def hls_tee_target(rung: Rung) -> tuple[str, str]:
    """The `tee` muxer slave of a rung's HLS variant (4 s segments, VOD playlist): MPEG-TS for
    H.264, fragmented MP4 (CMAF) for AV1, which players take from fMP4 only."""
    fmp4 = (
        f":hls_segment_type=fmp4:hls_fmp4_init_filename={rung.init_name}"
        if rung.codec == AV1
        else ""
    )
    return (
        f"f=hls:hls_time={SEGMENT_SECONDS}:hls_playlist_type=vod:hls_list_size=0{fmp4}"
        f":hls_segment_filename={rung.segment_pattern}",
        rung.playlist_name,
    )


def default_outputs(rung: Rung) -> list[tuple[str, str]]:
    """A rung's files: the MP4 (+faststart) and the HLS variant, as (tee options, name)."""
    return [("f=mp4:movflags=+faststart", rung.mp4_name), hls_tee_target(rung)]


def build_transcode_args(
    info: ProbeResult,
    rungs: list[Rung],
    *,
    source: str = "source",
    preset: str = "veryfast",
    crf: float | None = None,
    input_args: Sequence[str] = (),
    audio: bool | None = None,
    outputs_for: Callable[[Rung], list[tuple[str, str]]] = default_outputs,
    output_args: Sequence[str] = (),
    tap: Tap | None = None,
    encode_filter: str = "",
) -> list[str]:
    """The ffmpeg arguments (after the binary) for the whole ladder in one process.

    One decode, one input stage, a split into every rung's scaler and encoder, and ONE output:
    the `tee` muxer, whose slaves each `select` their rung's video stream and the audio. So the
    audio is encoded once and shared by every rendition (a separate output per rung would run
    an AAC encoder per rung on the same samples). `tap` adds the content analysis as one more
    branch of the same graph (analysis.py), so it costs no decode of its own.

    The segmented flow (segments.py) reuses this builder for one time range of the source:
    `input_args` go before `-i` (seek, duration), `audio=False` leaves audio out (it is encoded
    once for the whole video), `outputs_for` names each rung's files and `output_args` go
    before the output (timestamp offset). `encode_filter` runs first on the pictures the rungs are
    made of (a segment's trim to its own frames, when the process reads its analysis window); a
    `raw` tap branches off before it.
    """
    with_audio = info.has_audio if audio is None else audio and info.has_audio
    n = len(rungs)
    # ffmpeg auto-rotates before the graph, so the graph sees the display orientation. The
    # shared input stage (deinterlace, tone-map, convert, BT.709 tags) runs once, before the
    # split; HDR is tone-mapped at the top rung's size.
    stage = input_stage(info, size=(rungs[0].width, rungs[0].height))
    pre = f"{encode_filter}," if encode_filter else ""
    rung_pads = "".join(f"[s{i}]" for i in range(n))
    if tap and tap.raw:  # the tap sees every decoded picture, the rungs what encode_filter keeps
        chains = [
            f"{source_pad(info)}split=2[enc][tap]",
            f"[enc]{pre}" + stage.chain(f"split={n}") + rung_pads,
        ]
    else:
        branches = n + (1 if tap else 0)
        chains = [
            source_pad(info) + pre + stage.chain(f"split={branches}") + rung_pads
            + ("[tap]" if tap else "")
        ]  # fmt: skip
    for i, r in enumerate(rungs):
        chains.append(
            f"[s{i}]scale={r.width}:{r.height}:flags={r.scaler},setsar=1,format=yuv420p[v{i}]"
        )
    audio_in = audio_map(info)
    if tap:
        tapped_audio = info.has_audio and tap.takes_audio
        if tapped_audio:
            if with_audio:
                chains.append(f"[{audio_in}]asplit=2[aenc][atap]")
                audio_in = "[aenc]"
            else:
                chains.append(f"[{audio_in}]anull[atap]")
        chains += tap.chains("tap", "atap" if tapped_audio else None)
    # The split+scale graph is one filter graph; by default it scales every rung on one thread,
    # which starves the encoders of pictures (measured ~6% faster with one thread per CPU).
    args = ["-filter_complex_threads", str(available_cpus())]
    args += [
        *stage.input_args,
        *input_args,
        *source_input(source),
        "-filter_complex",
        ";".join(chains),
    ]
    args += [a for i in range(n) for a in ("-map", f"[v{i}]")]
    if with_audio:
        args += ["-map", audio_in]
    args += ["-force_key_frames", keyframes(rungs[0]), "-sc_threshold", "0", *ENCODER_COLOR_ARGS]
    for i, r in enumerate(rungs):
        args += encoder_args(r, i, preset, crf)
    if with_audio:
        args += ["-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ac", "2", "-ar", "48000"]
    streams = "v:{i},a" if with_audio else "v:{i}"
    slaves = [
        f"[select=\\'{streams.format(i=i)}\\':{options}]{name}"
        for i, r in enumerate(rungs)
        for options, name in outputs_for(r)
    ]
    # The tee muxer needs global headers for MP4; mpegts gets Annex B via its automatic BSF.
    args += [*output_args, "-flags", "+global_header", "-f", "tee", "|".join(slaves)]
    return args + (tap.output_args() if tap else [])


def keyframes(rung: Rung) -> str:
    """`-force_key_frames`' expression: a keyframe every `keyframe_seconds` of output time."""
    return f"expr:gte(t,n_forced*{rung.keyframe_seconds})"


def encoder_args(
    rung: Rung, index: int, preset: str = "veryfast", crf: float | None = None
) -> list[str]:
    """Output stream `index`'s encoder: x264 (`crf` overrides the rung's) or SVT-AV1, each with
    the rung's cap (VBV buffer of two seconds of it)."""
    rate, v = rung.maxrate_kbps, f"v:{index}"
    if rung.codec == AV1:
        # Keyframes come from -force_key_frames (aligned with the H.264 rungs' segments).
        return [
            f"-c:{v}", "libsvtav1", f"-preset:{v}", str(AV1_PRESET),
            f"-crf:{v}", str(int(rung.crf)),
            f"-svtav1-params:{v}", f"mbr={rate}:keyint={rung.keyframe_seconds}s:scd=0",
        ]  # fmt: skip
    chosen = rung.crf if crf is None else crf
    tuned = [f"-x264-params:{v}", rung.x264_params] if rung.x264_params else []
    return [
        f"-c:{v}", "libx264", f"-preset:{v}", preset, *tuned, f"-crf:{v}", f"{chosen:g}",
        f"-profile:{v}", "high",
        f"-maxrate:{v}", f"{rate}k", f"-bufsize:{v}", f"{2 * rate}k",
    ]  # fmt: skip


@dataclass(frozen=True)
class Rendition:
    """A finished rung as measured from its MP4."""

    quality: str
    width: int
    height: int
    name: str
    playlist: str
    size: int
    bitrate: int
    video_codec: str
    audio_codec: str | None
    codec: str = H264  # the rung's codec family ("h264" | "av1"), for the item and the master
    # VMAF of this rendition against the source on sampled windows (quality.VmafScore.to_dict):
    # {"mean", "p5", "frames", "model"}; None when not measured.
    vmaf: dict[str, Any] | None = None

    @property
    def media_glob(self) -> str:
        """Its HLS media files (segments, and the init segment of an fMP4 variant)."""
        return self.playlist.removesuffix(".m3u8") + "_*"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)

    def as_source(self, info: ProbeResult) -> ProbeResult:
        """The probe of this rendition, for reading frames back from it (poster, vision): its
        own size, upright, progressive, 8-bit BT.709 TV range, the video as its first stream.
        Reading it through the source's facts would tone-map or deinterlace it a second time."""
        return replace(
            info,
            width=self.width, height=self.height, coded_width=self.width,
            coded_height=self.height, rotation=0, video_codec=self.video_codec,
            pix_fmt="yuv420p", video_stream=0, audio_track=None,
            color=ColorInfo("bt709", "bt709", "bt709", "tv", 8, "4:2:0"), hdr=None,
            interlaced=False, field_order="progressive", alpha=False,
        )  # fmt: skip


@dataclass(frozen=True)
class TranscodeResult:
    """All renditions plus the HLS master playlist name."""

    renditions: list[Rendition]
    master_playlist: str
    seconds: float
    signals: Signals | None = None  # the analysis, when it rode along (`tap`)
    ladder: dict[str, Any] | None = None  # how the ladder was decided (ladder.LadderDecision)


def transcode(
    work_dir: Path,
    info: ProbeResult,
    *,
    exe: str,
    timeout: float,
    on_progress: Callable[[float], None] | None = None,
    preset: str = "veryfast",
    tap: SignalTap | None = None,
    rungs: Sequence[Rung] | None = None,
) -> TranscodeResult:
    """Encode the ladder from work_dir/source into work_dir; write and return the HLS master.

    `rungs`: the ladder decided for this video (ladder.py), else the fixed one. With `tap`, the
    same run also analyses the picture and sound (see `build_transcode_args`).
    """
    rungs = list(rungs) if rungs else plan_ladder(info.width, info.height)
    result = run_ffmpeg(
        build_transcode_args(info, rungs, preset=preset, tap=tap),
        exe=exe,
        timeout=timeout,
        cwd=work_dir,
        duration=info.duration,
        on_progress=on_progress,
        error_code="TranscodeFailed",
        what="Transcoding",
    )
    renditions = [_measure(work_dir, r) for r in rungs]
    (work_dir / MASTER_PLAYLIST).write_text(master_playlist(renditions), encoding="utf-8")
    signals = tap.read(result.stderr, work_dir) if tap else None
    return TranscodeResult(renditions, MASTER_PLAYLIST, result.seconds, signals)


def _measure(work_dir: Path, rung: Rung) -> Rendition:
    """Re-probe an output: proves it is playable and gives real size/bitrate."""
    path = work_dir / rung.mp4_name
    if not path.is_file() or not (work_dir / rung.playlist_name).is_file():
        raise MediaError("TranscodeFailed", f"The {rung.quality} rendition was not written.")
    return measure(str(path), rung, path.stat().st_size)


def measure(location: str, rung: Rung, size: int) -> Rendition:
    """Re-probe a rung's MP4 where it lies (a path or a URL read with ranged requests)."""
    import av

    try:
        with av.open(location) as c:
            v = c.streams.video[0]
            duration = float(c.duration or 0) / 1_000_000
            bitrate = int(c.bit_rate or (size * 8 / duration if duration else 0))
            audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
            return Rendition(
                quality=rung.quality,
                width=v.codec_context.width,
                height=v.codec_context.height,
                name=rung.mp4_name,
                playlist=rung.playlist_name,
                size=size,
                bitrate=bitrate,
                video_codec=v.codec_context.name,
                audio_codec=audio,
                codec=rung.codec,
            )
    except av.error.FFmpegError as exc:
        raise MediaError("TranscodeFailed", f"The {rung.quality} output is unreadable.") from exc


def _codecs(r: Rendition) -> str:
    # H.264 High profile, level 4.0, as a conservative declaration; players use it only to
    # pre-filter. AV1: Main profile, level 4.0 (seq_level_idx 8: up to 2048x1152 at 30 fps),
    # Main tier, 8-bit: "av01.0.08M.08".
    video = "av01.0.08M.08" if r.codec == AV1 else "avc1.640028"
    return f"{video},mp4a.40.2" if r.audio_codec else video


def master_playlist(
    renditions: list[Rendition], audio_playlist: str | None = None, audio_group: str = "audio"
) -> str:
    """HLS master playlist listing every variant, highest first. With `audio_playlist` the
    variants carry video only and share that one audio rendition (the segmented path encodes the
    audio once for the whole video); else each variant muxes its own audio."""
    fmp4 = any(r.codec == AV1 for r in renditions)  # EXT-X-MAP in its media playlist
    version = 7 if fmp4 else 4 if audio_playlist else 3
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    audio_bps = AUDIO_KBPS * 1000 if audio_playlist else 0
    if audio_playlist:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{audio_group}",NAME="Main",LANGUAGE="und",'
            f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="{audio_playlist}"'
        )
    for r in renditions:
        # BANDWIDTH is the peak; the measured average plus headroom is a fair bound for CRF+VBV
        # (the shared audio adds its own rate to a variant that measured video alone).
        video_bps = max(1, r.bitrate - audio_bps)
        attrs = (
            f"BANDWIDTH={int(video_bps * 1.2) + audio_bps + 1},"
            f"AVERAGE-BANDWIDTH={video_bps + audio_bps},"
            f'RESOLUTION={r.width}x{r.height},CODECS="{_codecs(r)}"'
        )
        if audio_playlist:
            attrs += f',AUDIO="{audio_group}"'
        lines += [f"#EXT-X-STREAM-INF:{attrs}", r.playlist]
    return "\n".join(lines) + "\n"


AUDIO_NAME = "audio.m4a"  # the audio-only download


def extract_audio(source: str | Path, out: Path, *, exe: str, timeout: float) -> int:
    """The audio-only download: the rendition's AAC track copied into an M4A (no re-encode:
    every rendition carries the one AAC encode, see `transcode`). Returns its size in bytes."""
    args = [*source_input(source), "-map", "0:a:0", "-vn", "-sn", "-dn", "-c:a", "copy",
            "-movflags", "+faststart", "-f", "ipod", str(out)]  # fmt: skip
    run_ffmpeg(args, exe=exe, timeout=timeout, error_code="AudioFailed", what="audio")
    return out.stat().st_size
