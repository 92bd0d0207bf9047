"""The one place that builds the object graph from configuration (local or AWS).

Everything is built on first use, so the API's cold path imports only what a request
needs: no media libraries, no local engine, no boto3 client it does not call.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import logging
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings
from chalicelib.cursor import CursorCodec
from chalicelib.domain import ACTIVE, VideoStatus, utc_now
from chalicelib.errors import TransitionRejected
from chalicelib.store.base import Item, VideoStore
from chalicelib.streaming import is_stream_document

if TYPE_CHECKING:
    from chalicelib.capacity.base import CapacityController
    from chalicelib.capacity.local_pool import LocalCapacityPool
    from chalicelib.finalizer import Finalizer
    from chalicelib.orchestrator.base import Orchestrator
    from chalicelib.processor import Processor
    from chalicelib.scaler import Scaler
    from chalicelib.uploads import Uploads
    from chalicelib.videos import VideoService

log = logging.getLogger(__name__)


def _boto3_client(service: str, settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    # SigV4 everywhere: presigned S3 URLs may then live up to 7 days (SigV2 ones may not).
    config = Config(signature_version="s3v4") if service == "s3" else None
    return boto3.client(  # type: ignore[call-overload]
        service, region_name=settings.region or None, config=config
    )


def build_store(settings: Settings) -> VideoStore:
    if settings.is_local:
        from chalicelib.store.sqlite import SqliteVideoStore

        return SqliteVideoStore(settings.db_path)
    from chalicelib.store.dynamodb import DynamoVideoStore

    return DynamoVideoStore(_boto3_client("dynamodb", settings), settings.table_name)


def _cursor_secret(settings: Settings) -> bytes:
    if settings.cursor_secret:
        return settings.cursor_secret.encode()
    if settings.is_local:  # one random key per data dir, kept across restarts
        path = settings.data_dir / "cursor.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.replace(path)
        return path.read_text().strip().encode()
    # Without a configured secret a token is still tamper-evident, though not secret-keyed.
    return hashlib.sha256(f"cursor:{settings.table_name}".encode()).digest()


MEDIA_REF = "media://"
# Set per request by the API from its Host header, so rendered URLs point back at it.
REQUEST_BASE_URL: contextvars.ContextVar[str] = contextvars.ContextVar("base_url", default="")


class ReferenceUrls:
    """The media store as the processor sees it: `url()` gives a stable reference
    (`media://{videoId}/{runId}/{name}`) that the API renders into a real URL when read."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def url(self, video_id: str, run_id: str, name: str) -> str:
        return f"{MEDIA_REF}{video_id}/{run_id}/{name}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class Container:
    """Holds one process's services. `role` is "api" (serves requests, owns the local
    engine and pool) or "worker" (a local processor environment)."""

    def __init__(self, settings: Settings, role: str = "api") -> None:
        self.settings = settings
        self.role = role
        self._lock = threading.RLock()
        self.store: VideoStore = build_store(settings)
        self._orchestrator: Orchestrator | None = None
        self._pool: LocalCapacityPool | None = None
        self._media_store: Any = None
        self._s3: Any = None
        if settings.is_local and role == "api":
            recover_interrupted(self.store)
            _remove_leftovers(settings)
            from chalicelib.scaler import POOL

            self.store.reset_leases(POOL)  # the local pool starts with no environments

    @functools.cached_property
    def videos(self) -> VideoService:
        from chalicelib.videos import VideoService

        return VideoService(
            self.store,
            self.settings,
            CursorCodec(_cursor_secret(self.settings), self.settings.cursor_ttl_seconds),
            self.orchestrator,
            self.render,
            self.media_store,
        )

    def render(self, item: Item) -> Item:
        """Turn stored media references into URLs a client can open (presigned in AWS, so
        they are signed at read time and never expire inside the database)."""
        if "outputPrefix" not in item:
            return item
        store = self.media_store()

        def walk(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            if isinstance(value, list):
                return [walk(v) for v in value]
            if isinstance(value, str) and value.startswith(MEDIA_REF):
                video_id, run_id, name = value[len(MEDIA_REF) :].split("/", 2)
                if is_stream_document(name):  # served by the API, references signed inside
                    return f"{self.base_url()}/videos/{video_id}/stream/{name}"
                return store.url(video_id, run_id, name)
            return value

        rendered: Item = walk(item)
        return rendered

    def base_url(self) -> str:
        """The API's public origin: configured, else taken from the current request."""
        return self.settings.public_base_url.rstrip("/") or REQUEST_BASE_URL.get()

    def media_store(self) -> Any:
        with self._lock:
            if self._media_store is None:
                from chalicelib import mediastore

                if self.settings.is_local and not self.settings.bucket:
                    self._media_store = mediastore.LocalMediaStore(
                        self.settings.media_dir, self.settings.public_base_url
                    )
                else:
                    self._media_store = mediastore.S3MediaStore(
                        self.settings.bucket, self.s3_client()
                    )
            return self._media_store

    def s3_client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                self._s3 = _boto3_client("s3", self.settings)
            return self._s3

    @functools.cached_property
    def uploads(self) -> Uploads:
        from chalicelib.uploads import Uploads

        return Uploads(self.settings, self.s3_client)

    @functools.cached_property
    def finalizer(self) -> Finalizer:
        from chalicelib.finalizer import Finalizer

        return Finalizer(self.store)

    @functools.cached_property
    def processor(self) -> Processor:
        from chalicelib.processor import Processor

        return Processor(
            self.store,
            self.settings,
            lambda: ReferenceUrls(self.media_store()),
            s3_client=self.s3_client
            if not self.settings.is_local or self.settings.bucket
            else None,
        )

    @functools.cached_property
    def capacity(self) -> CapacityController:
        if self.settings.is_local:
            return self.pool
        from chalicelib.capacity.lambda_api import LambdaCapacity

        return LambdaCapacity(
            _boto3_client("lambda", self.settings), self.settings.processor_function
        )

    def capacity_view(self) -> dict[str, Any]:
        import time

        from chalicelib.scaler import POOL

        state = self.capacity.get_scaling()
        view: dict[str, Any] = {
            "requested": {"min": state.requested_min, "max": state.requested_max},
            "applied": None
            if state.applied_min is None
            else {"min": state.applied_min, "max": state.applied_max},
            "leases": self.store.live_leases(POOL, time.time()),
        }
        if self.settings.is_local:
            snap = self.pool.snapshot()
            view["environments"] = snap["environments"]
            view["inFlight"] = snap["inFlight"]
        return view

    @functools.cached_property
    def scaler(self) -> Scaler:
        from chalicelib.scaler import Scaler

        return Scaler(self.store, self.capacity, self.settings)

    @property
    def pool(self) -> LocalCapacityPool:
        with self._lock:
            if self._pool is None:
                from chalicelib.capacity.local_pool import LocalCapacityPool

                self._pool = LocalCapacityPool(
                    run_processor_in_worker,
                    (self.settings,),
                    concurrency=self.settings.local_env_concurrency,
                    invocation_timeout=self.settings.processor_timeout_seconds,
                )
            return self._pool

    def orchestrator(self) -> Orchestrator:
        with self._lock:
            if self._orchestrator is None:
                if self.settings.is_local:
                    from chalicelib.orchestrator.local import LocalOrchestrator

                    self._orchestrator = LocalOrchestrator(
                        self.pool,
                        self.scaler.handle,
                        self.finalizer.handle,
                        wait_seconds=self.settings.local_wait_seconds,
                    )
                else:
                    from chalicelib.orchestrator.sfn import StepFunctionsOrchestrator

                    self._orchestrator = StepFunctionsOrchestrator(
                        _boto3_client("stepfunctions", self.settings),
                        self.settings.state_machine_arn,
                    )
            return self._orchestrator

    def close(self) -> None:
        with self._lock:
            orch, self._orchestrator = self._orchestrator, None
            pool, self._pool = self._pool, None
        close = getattr(orch, "close", None)
        if close:
            close()
        if pool:
            pool.close()
        store_close = getattr(self.store, "close", None)
        if store_close:
            store_close()


def recover_interrupted(store: VideoStore) -> int:
    """Local start-up: work that was queued or running when the server stopped is lost with
    the old process, so mark it failed with a reason (the user may process it again)."""
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
                    )
                    count += 1
                except TransitionRejected:
                    pass
    if count:
        log.warning("marked %d interrupted videos failed", count)
    return count


def _remove_leftovers(settings: Settings) -> None:
    """Local start-up: scratch space of runs that died with the previous server process
    (private work dirs, half-published staging dirs, renamed-away old runs)."""
    import shutil

    for scratch in (
        settings.data_dir / "work",
        settings.media_dir / ".staging",
        settings.media_dir / ".trash",
    ):
        if scratch.is_dir():
            for entry in scratch.iterdir():
                shutil.rmtree(entry, ignore_errors=True)


_container: Container | None = None
_container_lock = threading.Lock()


def container() -> Container:
    """The process's container, built from the environment on first use."""
    global _container
    with _container_lock:
        if _container is None:
            _container = Container(Settings.from_env())
        return _container


def reset_container() -> None:
    """Close and forget the process's container (tests, and settings changes)."""
    global _container
    with _container_lock:
        old, _container = _container, None
    if old is not None:
        old.close()


_worker: Container | None = None


def run_processor_in_worker(settings: Settings, event: dict[str, Any]) -> Any:
    """Entry point of a local execution environment (a spawned worker process)."""
    global _worker
    if _worker is None or _worker.settings != settings:
        _worker = Container(settings, role="worker")
    return _worker.processor.handle(event)


def project_root() -> Path:
    return Path(__file__).resolve().parents[1]
