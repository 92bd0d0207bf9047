"""ffmpeg confined (issue 28): a source that is a playlist, a manifest or a list naming other
files is refused before any demuxer follows what it names, with a clear error; real containers
still open."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from chalicelib.media.errors import MediaError
from chalicelib.media.probe import probe, source_open_options

OUTSIDE = "outside-the-roots.ts"


@pytest.fixture
def outside(tmp_path: Path, ffmpeg: str) -> Path:
    """A real clip in a directory no source may name."""
    target = tmp_path / "secret" / OUTSIDE
    target.parent.mkdir()
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=2",
         "-c:v", "libx264", str(target)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return target


def sources(outside: Path, inbox: Path) -> dict[str, Path]:
    inbox.mkdir()
    files = {
        "hls": (
            "upload.m3u8",
            f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile://{outside}\n#EXT-X-ENDLIST\n",
        ),
        "hls-relative": (
            "upload.mp4",  # the extension lies: the content decides the demuxer
            f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n../secret/{OUTSIDE}\n#EXT-X-ENDLIST\n",
        ),
        "dash": (
            "upload.mpd",
            '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            'mediaPresentationDuration="PT2S"><Period><AdaptationSet><Representation id="1" '
            f'bandwidth="1" mimeType="video/mp2t"><BaseURL>file://{outside}</BaseURL>'
            "</Representation></AdaptationSet></Period></MPD>",
        ),
        "concat": ("upload.txt", f"ffconcat version 1.0\nfile '{outside}'\n"),
    }
    made = {}
    for kind, (name, text) in files.items():
        (inbox / name).write_text(text)
        made[kind] = inbox / name
    return made


@pytest.mark.parametrize("kind", ["hls", "hls-relative", "dash", "concat"])
def test_a_source_naming_other_files_is_refused(kind: str, outside: Path, tmp_path: Path) -> None:
    source = sources(outside, tmp_path / "inbox")[kind]
    with pytest.raises(MediaError) as refused:
        probe(source, max_duration=3600)
    # refused as what it is, never probed as the clip it names (that would be a 2 s video)
    assert refused.value.code in ("UnsupportedContainer", "NotAVideo"), refused.value
    if kind in ("hls", "concat"):  # (FFmpeg does not take an .mp4 name for a playlist at all)
        assert refused.value.code == "UnsupportedContainer"
        assert "playlists (HLS)" in refused.value.message


def test_the_clip_itself_still_opens(outside: Path) -> None:
    assert probe(outside, max_duration=3600).duration == pytest.approx(2.0, abs=0.2)


def test_the_protocols_follow_the_location() -> None:
    assert source_open_options("/data/inbox/a.mp4")["protocol_whitelist"] == "file"
    url = "https://bucket.s3.amazonaws.com/uploads/a.mp4?X-Amz-Signature=x"
    assert source_open_options(url)["protocol_whitelist"] == "http,https,tcp,tls"
    demuxers = source_open_options(url)["format_whitelist"].split(",")
    for refused in ("hls", "dash", "concat", "image2", "tee", "data", "ffmetadata"):
        assert refused not in demuxers


# --- the ffmpeg command lines themselves (issue 28: the probe was the only gate) --------------
@pytest.mark.parametrize("kind", ["hls", "concat"])
def test_ffmpeg_itself_refuses_a_source_naming_other_files(
    kind: str, outside: Path, tmp_path: Path, ffmpeg: str
) -> None:
    """Every command line that opens a source carries the confinement (`source_input`): even
    with the probe bypassed, ffmpeg does not read the clip the playlist or list names. Without
    it, the same command decodes that clip (the control)."""
    from chalicelib.media.probe import source_input

    source = sources(outside, tmp_path / "inbox")[kind]
    forced = ["-f", "concat", "-safe", "0"] if kind == "concat" else []
    decode = ["-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"]
    base = [ffmpeg, "-hide_banner", "-nostdin", *forced]
    confined = subprocess.run(
        [*base, *source_input(source), *decode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert confined.returncode != 0
    assert "Error opening input" in confined.stderr
    control = subprocess.run(
        [*base, "-i", str(source), *decode], capture_output=True, text=True, timeout=60, check=False
    )
    assert control.returncode == 0, control.stderr[-500:]


def test_every_source_command_line_is_confined(tmp_path: Path, outside: Path) -> None:
    """The builders of the command lines that open a source put the whitelists right before
    its `-i`."""
    from chalicelib.media import segments, transcode

    source = str(tmp_path / "source")
    clip = probe(outside, max_duration=3600)
    for args in (
        segments.build_audio_args(source, 10.0),
        segments.build_audio_args("https://b.example/s?X-Amz-Signature=x", 10.0),
        transcode.build_transcode_args(clip, transcode.plan_ladder(clip.width, clip.height)),
    ):
        at = args.index("-i")
        options = dict(zip(args[at - 4 : at : 2], args[at - 3 : at : 2], strict=True))
        assert options["-format_whitelist"] == source_open_options(args[at + 1])["format_whitelist"]
        assert options["-protocol_whitelist"] in ("file", "http,https,tcp,tls")
