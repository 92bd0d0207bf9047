"""Wiring: the one place that builds the object graph from configuration (local or AWS).

It only wires. Everything is built on first use, so the API's cold path imports only what a
request needs (no media libraries, no local engine, no boto3 client it does not call), and any
collaborator may be handed in through the constructor instead (tests do that).
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings
from chalicelib.secret_store import (
    ADMIN_TOKEN_FILE,  # noqa: F401 - devserver prints it
    SecretsManagerReader,
    SecretStore,
)
from chalicelib.store.base import VideoStore

if TYPE_CHECKING:
    from chalicelib.api.auth import Authenticator, SecretHasher, TokenService
    from chalicelib.api.cursor import CursorCodec
    from chalicelib.api.images import ImageService
    from chalicelib.api.local_media import LocalMediaFiles
    from chalicelib.api.media_text import MediaTextService
    from chalicelib.api.render import MediaRenderer
    from chalicelib.api.service import VideoService
    from chalicelib.api.signing import UrlSigner
    from chalicelib.api.upload_store import UploadStore
    from chalicelib.api.uploads import Uploads
    from chalicelib.api.webhooks import WebhookService
    from chalicelib.capacity.base import CapacityController
    from chalicelib.capacity.local_pool import LocalCapacityPool
    from chalicelib.events.dispatcher import Dispatcher
    from chalicelib.media_store.base import MediaStore
    from chalicelib.media_store.scratch import ScratchStore
    from chalicelib.orchestrator.base import Orchestrator
    from chalicelib.tasks.finalizer import Finalizer
    from chalicelib.tasks.processor import Processor
    from chalicelib.tasks.render import RenderTask
    from chalicelib.tasks.scaler import Scaler


def boto3_client(service: str, settings: Settings) -> Any:
    """A boto3 client for the configured region (`AWS_ENDPOINT_URL` points it at an emulator)."""
    import boto3
    from botocore.config import Config

    # SigV4 everywhere: presigned S3 URLs may then live up to 7 days (SigV2 ones may not).
    config = Config(signature_version="s3v4") if service == "s3" else None
    return boto3.client(  # type: ignore[call-overload]
        service, region_name=settings.region or None, config=config
    )


def secret_store(settings: Settings) -> SecretStore:
    """The secrets of `settings`, Secrets Manager read through a client made on first use."""
    return SecretStore(
        settings, SecretsManagerReader(lambda: boto3_client("secretsmanager", settings))
    )


def cursor_secret(settings: Settings) -> bytes:
    """The HMAC key of `nextToken` for `settings` (a fresh read: the container caches its own)."""
    return secret_store(settings).cursor_key()


class Container:
    """One process's services (the API's, or a local worker's: see `run_processor_in_worker`).
    Keyword arguments replace the collaborator that would otherwise be built from `settings`."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: VideoStore | None = None,
        media_store: MediaStore | None = None,
        orchestrator: Orchestrator | None = None,
        capacity: CapacityController | None = None,
        pool: LocalCapacityPool | None = None,
        s3: Any = None,
        cursors: CursorCodec | None = None,
    ) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._store = store
        self._media_store = media_store
        self._orchestrator = orchestrator
        self._capacity = capacity
        self._pool = pool
        self._s3 = s3
        self._cursors = cursors
        self._lambda: Any = None

    # --- ports -----------------------------------------------------------------------------
    @property
    def store(self) -> VideoStore:
        with self._lock:
            if self._store is None:
                if self.settings.is_local:
                    from chalicelib.store.sqlite import SqliteVideoStore

                    self._store = SqliteVideoStore(self.settings.db_path)
                else:
                    from chalicelib.store.dynamodb import DynamoVideoStore

                    self._store = DynamoVideoStore(
                        boto3_client("dynamodb", self.settings), self.settings.table_name
                    )
            return self._store

    def media_store(self) -> MediaStore:
        with self._lock:
            if self._media_store is None:
                if self.settings.media_is_local:
                    from chalicelib.media_store.local import LocalMediaStore

                    self._media_store = LocalMediaStore(
                        self.settings.media_dir, self.settings.public_base_url
                    )
                else:
                    from chalicelib.media_store.s3 import S3MediaStore

                    # One URL lifetime for every signed link (VIDEO_SIGNED_URL_SECONDS, 1 h).
                    self._media_store = S3MediaStore(
                        self.settings.bucket,
                        self.s3_client(),
                        presign_seconds=self.settings.signed_url_seconds,
                    )
            return self._media_store

    def scratch_store(self) -> ScratchStore:
        """Scratch of segmented runs: a directory under the data dir's `work/` locally (emptied
        at local start-up), the `work/` prefix of the media bucket otherwise."""
        if self.settings.media_is_local:
            from chalicelib.media_store.scratch import LocalScratchStore

            return LocalScratchStore(self.settings.data_dir / "work" / "scratch")
        from chalicelib.media_store.scratch import S3ScratchStore

        return S3ScratchStore(self.settings.bucket, self.s3_client())

    def s3_client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                self._s3 = boto3_client("s3", self.settings)
            return self._s3

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
                        boto3_client("stepfunctions", self.settings),
                        self.settings.state_machine_arn,
                    )
            return self._orchestrator

    @property
    def capacity(self) -> CapacityController:
        with self._lock:
            if self._capacity is None:
                if self.settings.is_local:
                    self._capacity = self.pool
                else:
                    from chalicelib.capacity.lambda_api import LambdaCapacity

                    self._capacity = LambdaCapacity(
                        boto3_client("lambda", self.settings), self.settings.processor_function
                    )
            return self._capacity

    @property
    def pool(self) -> LocalCapacityPool:
        with self._lock:
            if self._pool is None:
                from chalicelib.capacity.local_pool import (
                    LocalCapacityPool,
                    default_env_threads,
                )

                self._pool = LocalCapacityPool(
                    run_processor_in_worker,
                    (self.settings,),
                    concurrency=self.settings.local_env_concurrency,
                    invocation_timeout=self.settings.processor_timeout_seconds,
                    threads=default_env_threads(
                        self.settings.local_env_threads, self.settings.scale_max
                    ),
                    idle_seconds=self.settings.pool_idle_seconds,
                )
            return self._pool

    # --- the API ---------------------------------------------------------------------------
    @functools.cached_property
    def secrets(self) -> SecretStore:
        """The admin token, cursor key and signing key: settings, Secrets Manager or local files."""
        return secret_store(self.settings)

    @functools.cached_property
    def admin_token(self) -> str:
        """The operator's admin token (local: made once into `$VIDEO_DATA_DIR/admin-token`)."""
        return self.secrets.admin_token()

    @functools.cached_property
    def signer(self) -> UrlSigner:
        from chalicelib.api.signing import UrlSigner

        return UrlSigner(self.secrets.signing_key(), self.settings.signed_url_seconds)

    @functools.cached_property
    def auth(self) -> Authenticator:
        from chalicelib.api.auth import Authenticator, LoginThrottle, RateLimiter

        limiter = RateLimiter(self.settings.rate_limit_per_second, self.settings.rate_limit_burst)
        throttle = LoginThrottle(
            self.store,
            per_token=self.settings.login_failures_per_token,
            per_client=self.settings.login_failures_per_client,
            window_seconds=self.settings.login_failure_window_seconds,
        )
        return Authenticator(
            self.store,
            lambda: self.admin_token,
            self.token_hasher,
            throttle=throttle,
            limiter=limiter,
        )

    @functools.cached_property
    def token_hasher(self) -> SecretHasher:
        """Token secrets' HMAC key: derived from the URL-signing key (one secret fewer to
        provision; `mac` keeps the two uses apart). Rotating that key invalidates every token."""
        from chalicelib.api.auth import SecretHasher

        return SecretHasher(self.signer.mac("access-token-hash", "v1").encode())

    @functools.cached_property
    def tokens(self) -> TokenService:
        from chalicelib.api.auth import TokenService

        return TokenService(self.store, self.token_hasher)

    @functools.cached_property
    def webhooks(self) -> WebhookService:
        from chalicelib.api.webhooks import WebhookService

        return WebhookService(
            self.store,
            allow_private=self.settings.webhook_allow_private,
            require_https=not self.settings.is_local,
        )

    @functools.cached_property
    def dispatcher(self) -> Dispatcher:
        from chalicelib.events.dispatcher import Dispatcher, eventbridge_publisher

        publish = None
        if self.settings.event_bus:
            events = boto3_client("events", self.settings)
            publish = eventbridge_publisher(events, self.settings.event_bus)
        return Dispatcher(
            self.store,
            self.store,
            self.renderer.item,
            allow_private=self.settings.webhook_allow_private,
            require_https=not self.settings.is_local,
            publish=publish,
        )

    @functools.cached_property
    def renderer(self) -> MediaRenderer:
        from chalicelib.api.render import MediaRenderer

        return MediaRenderer(
            self.media_store,
            self.signer,
            self.settings.public_base_url,
            self.settings.source_roots if self.settings.media_is_local else (),
        )

    @functools.cached_property
    def videos(self) -> VideoService:
        from chalicelib.api.cursor import CursorCodec
        from chalicelib.api.service import VideoService

        cursors = self._cursors or CursorCodec(
            self.secrets.cursor_key(), self.settings.cursor_ttl_seconds
        )
        return VideoService(
            self.store,
            self.settings,
            cursors,
            self.orchestrator,
            self.renderer,
            self.media_store,
            source_exists=self.source_exists if self._uses_s3 else None,
        )

    @functools.cached_property
    def images(self) -> ImageService:
        """Thumbnails and animated previews: rendered where ffmpeg lives (the renderer
        function in AWS, the local render executor otherwise), cached in the run."""
        from chalicelib.api.images import ImageService

        render: Any
        if self.settings.renderer_function:
            from chalicelib.tasks.render import LambdaRenderInvoker

            render = LambdaRenderInvoker(self._lambda_client, self.settings.renderer_function)
        else:
            from chalicelib.tasks.render import LocalRenderExecutor

            render = LocalRenderExecutor(
                self.render_task,
                self.settings.render_concurrency,
                self.settings.render_wait_seconds,
            )
        return ImageService(
            self.store,
            self.renderer,
            lambda v, r, n: self.media_store().has_file(v, r, n),  # type: ignore[attr-defined]
            render,
        )

    def _lambda_client(self) -> Any:
        with self._lock:
            if self._lambda is None:
                self._lambda = boto3_client("lambda", self.settings)
            return self._lambda

    @functools.cached_property
    def media_text(self) -> MediaTextService:
        """Transcripts and clips (issue 26): chalicelib/api/media_text.py."""
        from chalicelib.api.media_text import MediaTextService

        return MediaTextService(
            self.store, self.settings, self.renderer, self.signer, self.media_store,
            self.videos.process,
        )  # fmt: skip

    @property
    def _uses_s3(self) -> bool:
        return not self.settings.media_is_local

    def source_exists(self, bucket: str, key: str) -> bool:
        """Whether an s3:// source exists (HeadObject); DependencyError when S3 fails."""
        from chalicelib.sources import s3_object_exists

        return s3_object_exists(self.s3_client(), bucket, key)

    @functools.cached_property
    def uploads(self) -> Uploads:
        from chalicelib.api.uploads import UploadLimits, Uploads

        limits = UploadLimits.from_settings(self.settings)
        return Uploads(self.upload_store(), self.signer, limits)

    def upload_store(self) -> UploadStore:
        """Where uploads go: the local inbox (`{first source root}/uploads/`) or the bucket."""
        if self.settings.media_is_local:
            from chalicelib.api.upload_store_local import LocalUploadStore

            return LocalUploadStore(self.settings.source_roots[0] / "uploads", self.signer)
        from chalicelib.api.upload_store_s3 import S3UploadStore

        return S3UploadStore(self.settings.bucket, self.s3_client)

    def local_media(self) -> LocalMediaFiles | None:
        """The processed files on local disk, for a server that streams them itself (`make
        run`'s /media fast path and its Chalice route); None when media are in S3."""
        if not self.settings.media_is_local:
            return None
        from chalicelib.media_store.local import LocalMediaStore

        store = self.media_store()
        return store if isinstance(store, LocalMediaStore) else None

    def capacity_view(self) -> dict[str, Any]:
        """`GET /capacity`: the scaler's view, plus the local pool's environments."""
        view = self.scaler.view()
        if self.settings.is_local:
            snap = self.pool.snapshot()
            view["environments"] = snap["environments"]
            view["inFlight"] = snap["inFlight"]
        return view

    # --- the Lambda functions' logic -------------------------------------------------------
    @functools.cached_property
    def finalizer(self) -> Finalizer:
        from chalicelib.tasks.finalizer import Finalizer

        return Finalizer(
            self.store,
            self.store,
            capacity_seconds=self.pool.environment_seconds if self.settings.is_local else None,
            min_environments=self.settings.scale_min,
        )

    @functools.cached_property
    def processor(self) -> Processor:
        from chalicelib.tasks.processor import Processor

        return Processor(
            self.store,
            self.settings,
            self.media_store,
            s3_client=self.s3_client if self._uses_s3 else None,
            scratch=self.scratch_store,
        )

    @functools.cached_property
    def render_task(self) -> RenderTask:
        """The renderer function's logic (also the local render executor's)."""
        from chalicelib.tasks.render import RenderTask

        return RenderTask(self.settings, self.media_store)  # type: ignore[arg-type]

    @functools.cached_property
    def scaler(self) -> Scaler:
        from chalicelib.tasks.scaler import Scaler

        return Scaler(self.store, self.capacity, self.settings)

    def close(self) -> None:
        with self._lock:
            orch, self._orchestrator = self._orchestrator, None
            pool, self._pool = self._pool, None
            store, self._store = self._store, None
        close = getattr(orch, "close", None)
        if close:
            close()
        if pool:
            pool.close()
        store_close = getattr(store, "close", None)
        if store_close:
            store_close()


_container: Container | None = None
_container_lock = threading.Lock()


def container() -> Container:
    """The process's container, built from the environment on first use."""
    global _container
    with _container_lock:
        if _container is None:
            _container = Container(Settings.from_env())
        return _container


def use_container(new: Container | None) -> None:
    """Replace the process's container (closing the old one); None: rebuild from the
    environment on next use. Tests use it to hand in collaborators."""
    global _container
    with _container_lock:
        old, _container = _container, new
    if old is not None and old is not new:
        old.close()


def reset_container() -> None:
    """Close and forget the process's container (tests, and settings changes)."""
    use_container(None)


_worker: Container | None = None


def run_processor_in_worker(settings: Settings, event: dict[str, Any]) -> Any:
    """Entry point of a local execution environment (a spawned worker process)."""
    global _worker
    if _worker is None or _worker.settings != settings:
        _worker = Container(settings)
    return _worker.processor.handle(event)
