"""What a new execution environment pays before and during its first job: the processor's
modules import no media library until a stage needs it, and silence never loads Whisper.
The CPU figures are `make bench-coldstart`'s business."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from chalicelib.media import subtitles

HEAVY = ("numpy", "cv2", "faster_whisper", "ctranslate2", "rapidocr", "onnxruntime", "av",
         "PIL", "tokenizers", "boto3")  # fmt: skip


def test_an_environment_starts_without_media_libraries() -> None:
    """The worker entry point and everything the processor imports to take a job: none of the
    model or image libraries (each stage imports its own when it runs)."""
    code = (
        "import json, sys\n"
        "from chalicelib.factory import run_processor_in_worker\n"
        "from chalicelib.capacity.local_pool import LocalCapacityPool\n"
        "from chalicelib.tasks.processor import Processor\n"
        "from chalicelib.processing import one_pass, segmented, pipeline, result\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, check=True, capture_output=True, text=True
    )
    assert json.loads(out.stdout) == []


def test_silence_never_loads_a_whisper_model(ffmpeg: str, tmp_path: Path) -> None:
    """Voice activity detection runs first: with no speech the model is never loaded (a model
    that cannot load proves it)."""
    clip = tmp_path / "silence.wav"
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono:d=3", str(clip)],
        check=True, timeout=60,
    )  # fmt: skip
    missing = str(tmp_path / "no-model-here")
    transcript = subtitles.transcribe(clip, missing)
    assert transcript.cues == [] and transcript.language is None
    assert not any(key[0] == missing for key in subtitles._models)
