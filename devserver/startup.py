"""Local server start-up: what a restart must clean up (called by `devserver/__main__.py`).

In AWS nothing outlives an invocation; locally the server process owns the workflow engine
and the capacity pool, so when it stops, whatever was in flight is lost with it.
"""

from __future__ import annotations

import logging
import shutil

from chalicelib.config import Settings
from chalicelib.domain import ACTIVE, VideoStatus, utc_now
from chalicelib.errors import TransitionRejected
from chalicelib.store.base import VideoStore
from chalicelib.tasks.scaler import POOL

log = logging.getLogger(__name__)


def recover(store: VideoStore, settings: Settings) -> int:
    """Mark interrupted work failed, remove dead runs' scratch, clear the pool's leases.
    Returns how many videos were marked failed."""
    count = recover_interrupted(store)
    remove_leftovers(settings)
    store.reset_leases(POOL)  # the local pool starts with no environments
    return count


def recover_interrupted(store: VideoStore) -> int:
    """Work that was queued or running when the server stopped is lost with the old process:
    mark it failed with a reason (the user may process it again)."""
    count = 0
    for status in sorted(ACTIVE):
        while True:
            page = store.list(status, 100, None)
            if not page.items:
                break
            for item in page.items:
                try:
                    store.transition(
                        item["id"],
                        {status},
                        VideoStatus.FAILED.value,
                        set_fields={
                            "error": {
                                "code": "Interrupted",
                                "message": f"the local server restarted while this video was "
                                f"{status}; process it again",
                            },
                            "failedAt": utc_now(),
                        },
                        remove_fields=("progress",),
                    )
                    count += 1
                except TransitionRejected:
                    pass
    if count:
        log.warning("marked %d interrupted videos failed", count)
    return count


def remove_leftovers(settings: Settings) -> None:
    """Scratch space of runs that died with the previous server process (private work dirs,
    half-published staging dirs, renamed-away old runs)."""
    for scratch in (
        settings.tmp_dir or settings.data_dir / "work",
        settings.data_dir / "work" / "scratch",  # segmented runs (LocalScratchStore)
        settings.media_dir / ".staging",
        settings.media_dir / ".trash",
    ):
        if scratch.is_dir():
            for entry in scratch.iterdir():
                shutil.rmtree(entry, ignore_errors=True)
