"""Local adapter: runs under `{root}/videos/{videoId}/{runId}/`, served by the local API."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

from chalicelib.domain import VIDEO_ID_RE
from chalicelib.media_store.base import RUN_ID_RE, check_names, is_valid_ids, run_prefix


class LocalMediaStore:
    """Runs under `{root}/videos/{videoId}/{runId}/`; URLs served by the local API's media route."""

    urls_self_authenticate = False  # the API signs its /media URLs

    def __init__(self, root: Path, public_base_url: str = "") -> None:
        self.root = Path(root).absolute()
        self.public_base_url = public_base_url.rstrip("/")

    def _video_dir(self, video_id: str) -> Path:
        return self.root / "videos" / video_id

    def _staging(self, video_id: str, run_id: str) -> Path:
        """The run being built: a directory on the media dir's file system, renamed into place
        by `publish` (run ids are unique, so one per run)."""
        check_names(video_id, run_id)
        staging = self.root / ".staging" / f"{video_id}.{run_id}"
        staging.mkdir(parents=True, exist_ok=True)
        return staging

    def copy_in(self, video_id: str, run_id: str, files: Sequence[tuple[str, str]]) -> None:
        """Hard links from local scratch (same file system), else copies."""
        check_names(video_id, run_id, [name for _, name in files])
        staging = self._staging(video_id, run_id)
        for stored, name in files:
            dest = staging / name
            dest.unlink(missing_ok=True)  # a retried assembly links again
            try:
                os.link(stored, dest)
            except OSError:
                shutil.copyfile(stored, dest)

    def write_stream(self, video_id: str, run_id: str, name: str, stream: BinaryIO) -> int:
        check_names(video_id, run_id, [name])
        dest = self._staging(video_id, run_id) / name
        with open(dest, "wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)
        return dest.stat().st_size

    def locate(self, video_id: str, run_id: str, name: str) -> str:
        check_names(video_id, run_id, [name])
        return str(self._staging(video_id, run_id) / name)

    def discard(self, video_id: str, run_id: str) -> None:
        shutil.rmtree(self._staging(video_id, run_id), ignore_errors=True)

    def publish(self, video_id: str, run_id: str, files: Sequence[Path]) -> str:
        """Move into the run's staging dir on the same file system, then one rename makes it
        visible."""
        check_names(video_id, run_id, [f.name for f in files])
        staging = self._staging(video_id, run_id)
        try:
            for f in files:
                # move = rename when the work dir shares the file system, a copy otherwise.
                shutil.move(str(f), str(staging / f.name))
            final = self._video_dir(video_id) / run_id
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return run_prefix(video_id, run_id)

    def url(self, video_id: str, run_id: str, name: str, download: str | None = None) -> str:
        """`{public_base_url}/media/{videoId}/{runId}/{name}` (`?dl=<file name>`: served as an
        attachment, the name sanitized again where it is served)."""
        check_names(video_id, run_id, [name])
        url = f"{self.public_base_url}/media/{video_id}/{run_id}/{name}"
        return f"{url}?{urlencode({'dl': download})}" if download else url

    def resolve(self, video_id: str, run_id: str, name: str) -> Path | None:
        """The file behind `GET /media/{videoId}/{runId}/{name}`, or None (never outside root)."""
        if not is_valid_ids(video_id, run_id, name):
            return None
        path = self._video_dir(video_id) / run_id / name
        if not path.parent.is_dir():
            # A run being built that is playable already (its item's `playback` is what hands
            # out signed URLs of it): its finished files are in its staging directory.
            path = self.root / ".staging" / f"{video_id}.{run_id}" / name
        try:
            if path.is_symlink() or not path.is_file():
                return None
            real = path.resolve(strict=True)
        except OSError:
            return None
        root = self.root.resolve()
        return real if root in real.parents else None

    # --- renders cached in a published run (chalicelib/tasks/render.py) -------------------
    def has_file(self, video_id: str, run_id: str, name: str) -> bool:
        return self.resolve(video_id, run_id, name) is not None

    def source_of(self, video_id: str, run_id: str, name: str) -> str | None:
        """Where ffmpeg reads a published file: its path."""
        path = self.resolve(video_id, run_id, name)
        return None if path is None else str(path)

    def put_file(self, video_id: str, run_id: str, name: str, path: Path) -> None:
        """Add one file to a published run (a render): written beside it, then renamed in, so
        a reader sees the whole file or none. Nothing happens when the run is gone."""
        check_names(video_id, run_id, [name])
        run_dir = self._video_dir(video_id) / run_id
        if not run_dir.is_dir():
            return
        tmp = run_dir / f".{name}.{uuid.uuid4().hex}"
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, run_dir / name)
        except FileNotFoundError:  # the run was deleted meanwhile
            return
        finally:
            tmp.unlink(missing_ok=True)

    def read_text(self, video_id: str, run_id: str, name: str) -> str | None:
        path = self.resolve(video_id, run_id, name)
        return None if path is None else path.read_text(encoding="utf-8")

    def list_runs(self, video_id: str) -> list[str]:
        """Run ids on disk, oldest name first."""
        if not VIDEO_ID_RE.fullmatch(video_id):
            raise ValueError("invalid video id")
        vdir = self._video_dir(video_id)
        if not vdir.is_dir():
            return []
        return sorted(p.name for p in vdir.iterdir() if p.is_dir() and RUN_ID_RE.fullmatch(p.name))

    def delete_other_runs(self, video_id: str, keep_run_id: str) -> list[str]:
        """Each old run is renamed away first, so a half-deleted run is never served."""
        check_names(video_id, keep_run_id)
        deleted = [r for r in self.list_runs(video_id) if r != keep_run_id]
        for run in deleted:
            self._remove(self._video_dir(video_id) / run)
        return deleted

    def delete_video(self, video_id: str) -> None:
        """Remove the video's whole directory."""
        if not VIDEO_ID_RE.fullmatch(video_id):
            raise ValueError("invalid video id")
        vdir = self._video_dir(video_id)
        if vdir.is_dir():
            self._remove(vdir)

    def _remove(self, path: Path) -> None:
        trash_root = self.root / ".trash"
        trash_root.mkdir(parents=True, exist_ok=True)
        trash = trash_root / uuid.uuid4().hex
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)
