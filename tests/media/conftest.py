"""Media fixtures, generated at test time with ffmpeg's lavfi sources into a session temp dir.

Only two small committed files exist (tests/media/fixtures/, see its README): a synthetic speech
clip and a public-domain face photo; every video is built from them or from lavfi here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.config import Settings
from chalicelib.media.ffmpeg import ffmpeg_exe

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    # Also registered in pyproject.toml; repeated so this folder runs on its own too.
    config.addinivalue_line("markers", "slow: media tests that run real ffmpeg / models")


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return ffmpeg_exe()


@pytest.fixture(scope="session")
def make_media(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make_media(name, *ffmpeg_args) -> path; cached per session by name."""
    root = tmp_path_factory.mktemp("media-fixtures")
    made: dict[str, Path] = {}

    def make(name: str, *args: str) -> Path:
        if name not in made:
            out = root / name
            subprocess.run(
                [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args, str(out)],
                check=True,
                timeout=120,
            )
            made[name] = out
        return made[name]

    return make


# Tagged BT.709 like any current camera or encoder output (ffmpeg converts lavfi's RGB with the
# BT.709 matrix to match): untagged sources have tests of their own.
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_range", "tv"]  # fmt: skip
AAC = ["-c:a", "aac", "-b:a", "96k"]


@pytest.fixture(scope="session")
def scenes_clip(make_media: Callable[..., Path]) -> Path:
    """1280x720 25 fps, 5 s: testsrc2 [0,2) | black [2,3) | mandelbrot [3,5).

    Audio: 440 Hz sine [0,2) | digital silence [2,3) | 660 Hz sine [3,5). Known cuts at 2 and 3.
    The mandelbrot starts 1 s into its zoom: around its first second, one frame's texture trips
    the Haar face cascade (confidence 0.36-0.73 at 4.0-4.04 s), and vision looks at 4.0 s.
    """
    v = "s=1280x720:r=25"
    return make_media(
        "scenes.mp4",
        "-f", "lavfi", "-i", f"testsrc2={v}:d=2",
        "-f", "lavfi", "-i", f"color=c=black:{v}:d=1",
        "-f", "lavfi", "-i", f"mandelbrot={v},trim=start=1:duration=2,setpts=PTS-STARTPTS",
        "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=2",
        "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono,atrim=duration=1",
        "-f", "lavfi", "-i", "sine=f=660:sample_rate=48000:d=2",
        "-filter_complex", "[0:v][3:a][1:v][4:a][2:v][5:a]concat=n=3:v=1:a=1[v][a]",
        "-map", "[v]", "-map", "[a]", *X264, *AAC,
    )  # fmt: skip


@pytest.fixture(scope="session")
def small_clip(make_media: Callable[..., Path]) -> Path:
    """640x360, 2 s, testsrc2 + sine: below 480p only after scaling tests pick 360p."""
    return make_media(
        "small.mp4",
        "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=2",
        "-f", "lavfi", "-i", "sine=f=440:d=2", "-shortest", *X264, *AAC,
    )  # fmt: skip


@pytest.fixture(scope="session")
def tiny_clip(make_media: Callable[..., Path]) -> Path:
    """320x180, 2 s, with sine audio: cheap input for error-path and store tests."""
    return make_media(
        "tiny.mp4",
        "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
        "-f", "lavfi", "-i", "sine=f=440:d=2", "-shortest", *X264, *AAC,
    )  # fmt: skip


@pytest.fixture(scope="session")
def portrait_clip(make_media: Callable[..., Path]) -> Path:
    """720x1280 portrait, 2 s, no audio."""
    return make_media("portrait.mp4", "-f", "lavfi", "-i", "testsrc2=s=720x1280:r=25:d=2", *X264)


@pytest.fixture(scope="session")
def rotated_clip(make_media: Callable[..., Path], small_clip: Path) -> Path:
    """The 640x360 clip with a 90-degree display matrix: shown as 360x640."""
    return make_media("rotated.mp4", "-display_rotation", "90", "-i", str(small_clip), "-c", "copy")


@pytest.fixture(scope="session")
def no_audio_clip(make_media: Callable[..., Path]) -> Path:
    """320x240, 2 s, video only."""
    return make_media("noaudio.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2", *X264)


@pytest.fixture(scope="session")
def black_start_clip(make_media: Callable[..., Path]) -> Path:
    """320x180, 4 s: black for the first 1.6 s (covers the 10/20/30% poster points)."""
    return make_media(
        "blackstart.mp4",
        "-f", "lavfi", "-i", "color=c=black:s=320x180:r=25:d=1.6",
        "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2.4",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", *X264,
    )  # fmt: skip


@pytest.fixture(scope="session")
def speech_clip(make_media: Callable[..., Path]) -> Path:
    """320x180 video over the committed espeak-ng sentence (6.5 s)."""
    return make_media(
        "speech.mp4",
        "-f", "lavfi", "-i", "color=c=darkblue:s=320x180:r=25",
        "-i", str(FIXTURES / "speech_en.opus"), "-shortest", *X264, *AAC,
    )  # fmt: skip


@pytest.fixture(scope="session")
def vision_clip(make_media: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """640x360, 3 s: the astronaut's face [0,1.5) then a white card reading HELLO WORLD."""
    import cv2
    import numpy as np

    card_dir = tmp_path_factory.mktemp("cards")
    face = cv2.imread(str(FIXTURES / "face_astronaut.jpg"))
    assert face is not None
    canvas = np.zeros((360, 640, 3), np.uint8)
    canvas[20:340, 160:480] = face
    cv2.imwrite(str(card_dir / "face.png"), canvas)
    card = np.full((360, 640, 3), 255, np.uint8)
    cv2.putText(card, "HELLO WORLD", (60, 200), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (0, 0, 0), 5)
    cv2.imwrite(str(card_dir / "text.png"), card)
    return make_media(
        "vision.mp4",
        "-loop", "1", "-framerate", "25", "-t", "1.5", "-i", str(card_dir / "face.png"),
        "-loop", "1", "-framerate", "25", "-t", "1.5", "-i", str(card_dir / "text.png"),
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", *X264,
    )  # fmt: skip


@pytest.fixture
def media_settings(tmp_path: Path) -> Settings:
    """Local settings on a fresh data dir whose inbox is the only source root. The fixed ladder:
    these tests assert renditions, keyframes and sizes of the fixed ladder on tiny synthetic clips,
    where the per-title probe's choice (which rungs, which CRFs) is not what they test; per-title
    (the product's default) runs on both paths in test_paths.py and test_encoding.py, and
    everywhere the app's settings come from the environment (tests/e2e, tests/console)."""
    data = tmp_path / "data"
    inbox = data / "inbox"
    inbox.mkdir(parents=True)
    return Settings(
        backend="local",
        data_dir=data,
        source_roots=(inbox,),
        public_base_url="http://127.0.0.1:8000",
        video_ladder="fixed",
    )


def into_inbox(settings: Settings, clip: Path, name: str | None = None) -> str:
    """Copy a clip into the settings' inbox and return its file:// URL."""
    import shutil

    dest = settings.source_roots[0] / (name or clip.name)
    shutil.copyfile(clip, dest)
    return dest.as_uri()
