"""Settings read once from the environment: the only module that reads `os.environ` for the
app (every variable is listed in the README's configuration table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    return int(raw) if raw else default


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    return float(raw) if raw else default


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {raw!r}")


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _codecs(raw: str) -> tuple[str, ...]:
    """VIDEO_CODECS: a comma list of h264 and av1; H.264 is always encoded (every player)."""
    names = {p.strip().lower() for p in raw.split(",") if p.strip()}
    unknown = sorted(names - {"h264", "av1"})
    if unknown:
        raise ValueError(f"VIDEO_CODECS: unknown codec {unknown[0]!r} (h264, av1)")
    return ("h264", "av1") if "av1" in names else ("h264",)


@dataclass(frozen=True)
class Settings:
    backend: str = "local"  # "local" (embedded) or "aws"
    data_dir: Path = Path(".data")
    source_roots: tuple[Path, ...] = ()
    # AWS mode
    table_name: str = ""
    bucket: str = ""
    state_machine_arn: str = ""
    processor_function: str = ""
    region: str = ""
    # scaling of the processor's capacity while work is in flight / at rest
    scale_min: int = 2
    scale_max: int = 5
    idle_min: int = 0
    idle_max: int = 0
    lease_ttl_seconds: int = 3 * 3600
    capacity_max_polls: int = 120  # x 5 s Wait = 10 min for instances to launch
    processor_timeout_seconds: float = 900.0
    # local engine
    local_wait_seconds: float = 0.2
    local_env_concurrency: int = 1
    # CPUs each local environment may use (its processes are pinned to them); 0: the machine's
    # CPUs divided among the most environments the scaler asks for, at least one, so k busy
    # environments never oversubscribe k cores
    local_env_threads: int = 0
    # a local environment scaled down stays up idle this long, and the next batch takes it back
    # warm (imports done, models loaded), as Lambda MI keeps capacity until it scales in; 0 stops
    # it at once
    pool_idle_seconds: float = 300.0
    # segmented processing: a video longer than about this is cut into segments encoded in
    # parallel invocations (multiples of the 4 s HLS segment); 0 never segments
    segment_seconds: int = 60
    # playable while processing: videos at least this long are segmented (even when one segment
    # long) and their finished segments published as they come; 0: today's (playable at the end)
    playable_seconds: int = 30
    # the first segment's length (growing, doubling, to segment_seconds) when playable_seconds > 0
    first_segment_seconds: int = 4
    # Secrets: each either plain (local dev, the emulator) or, in AWS, the ARN of the Secrets
    # Manager secret holding it (read once per process: chalicelib/secret_store.py)
    cursor_secret: str = ""  # HMAC key of pagination cursors
    cursor_secret_arn: str = ""
    admin_token: str = ""
    admin_token_secret_arn: str = ""
    signing_secret: str = ""  # key of signed media/stream URLs (never the cursor key)
    signing_secret_arn: str = ""
    signed_url_seconds: int = 3600
    # failed logins per token id / per client within a window, then 429 until it ends
    login_failures_per_token: int = 10
    login_failures_per_client: int = 50
    login_failure_window_seconds: float = 60.0
    rate_limit_per_second: float = 20.0
    rate_limit_burst: int = 40
    workspace_max_active: int = 50
    # events
    webhook_allow_private: bool = False  # loopback/private webhook targets (local default: on)
    sse_wait_seconds: float = 25.0  # how long GET /videos/{id}/events waits for a change
    event_bus: str = ""  # AWS: every event is also put on this EventBridge bus
    # cost: what one processor environment-hour costs (instance + Lambda MI management fee)
    price_per_env_hour: float = 0.0938
    cursor_ttl_seconds: int = 24 * 3600
    # media
    ffmpeg: str = ""
    whisper_model: str = ""
    max_source_bytes: int = 5 * 1024**3
    max_duration_seconds: float = 3 * 3600.0
    x264_preset: str = "veryfast"
    # the ladder: "per-title" (probe encodes scored with VMAF choose each rung's CRF and cap and
    # drop rungs that add nothing; media/ladder.py) or "fixed" (CRF 23, fixed caps)
    video_ladder: str = "per-title"
    vmaf_target: float = 95.0  # per-title: the VMAF a rung never spends past
    video_codecs: tuple[str, ...] = ("h264",)  # + "av1": SVT-AV1 renditions of the top rungs
    ffmpeg_timeout_seconds: float = 0.0  # 0: estimated per run from the media's duration
    tmp_dir: Path | None = None  # processing scratch; None: beside the media dir locally, else /tmp
    # The origin of every absolute URL the API writes (upload targets, media, the OpenAPI
    # `servers`): VIDEO_PUBLIC_URL (`make run` defaults it to its bind address). Never taken
    # from a request's Host; X-Forwarded-Host/-Proto count only from VIDEO_TRUSTED_PROXIES.
    public_base_url: str = ""
    trusted_proxies: tuple[str, ...] = ()  # CIDRs of proxies whose X-Forwarded-* count
    # event streams (`GET /videos/{id}/events` waiting for a change) open at once per token
    max_streams_per_token: int = 10
    # local uploads (make run): the largest file (single PUT or multipart), the upload slots a
    # workspace may have open, and when an abandoned slot is removed
    local_max_upload_bytes: int = 512 * 1024**2
    upload_slots_per_workspace: int = 20
    upload_abandoned_seconds: float = 25 * 3600.0
    # images on demand (chalicelib/tasks/render.py): AWS: the renderer function; locally: ffmpeg
    # renders at once in the server's process tree, and how long a request waits for a slot
    renderer_function: str = ""
    render_concurrency: int = 2
    render_wait_seconds: float = 5.0
    render_timeout_seconds: float = 30.0
    # bytes a workspace may have in unfinished uploads at once (0: 2 GiB where uploads land on
    # this server's disk, 100 GiB in S3)
    upload_bytes_per_workspace: int = 0
    # issue 26: `en` adds English subtitles (Whisper's translate task) to speech in another
    # language; empty: no translation
    subtitle_translate: str = ""

    @property
    def db_path(self) -> Path:
        return self.data_dir / "videos.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def is_local(self) -> bool:
        return self.backend == "local"

    @property
    def media_is_local(self) -> bool:
        """Media, uploads and scratch on local disk (the local backend without a bucket);
        otherwise in the S3 bucket `bucket`. Every local/S3 choice of the factory asks this."""
        return self.is_local and not self.bucket

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        backend = env.get("VIDEO_BACKEND", "local").strip() or "local"
        if backend not in ("local", "aws"):
            raise ValueError(f"VIDEO_BACKEND must be 'local' or 'aws', not {backend!r}")
        data_dir = Path(env.get("VIDEO_DATA_DIR", ".data")).expanduser().absolute()
        roots_raw = env.get("VIDEO_SOURCE_ROOTS", "").strip()
        roots = (
            tuple(Path(p).expanduser().absolute() for p in roots_raw.split(":") if p)
            if roots_raw
            else (data_dir / "inbox",)
        )
        return cls(
            backend=backend,
            data_dir=data_dir,
            source_roots=roots,
            table_name=env.get("VIDEO_TABLE", ""),
            bucket=env.get("VIDEO_BUCKET", ""),
            state_machine_arn=env.get("VIDEO_STATE_MACHINE_ARN", ""),
            processor_function=env.get("VIDEO_PROCESSOR_FUNCTION", ""),
            region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "")),
            scale_min=_int(env, "VIDEO_SCALE_MIN", 2),
            scale_max=_int(env, "VIDEO_SCALE_MAX", 5),
            lease_ttl_seconds=_int(env, "VIDEO_LEASE_TTL_SECONDS", 3 * 3600),
            capacity_max_polls=_int(env, "VIDEO_CAPACITY_MAX_POLLS", 120),
            processor_timeout_seconds=_float(env, "VIDEO_PROCESSOR_TIMEOUT_SECONDS", 900.0),
            local_wait_seconds=_float(env, "VIDEO_LOCAL_WAIT_SECONDS", 0.2),
            local_env_concurrency=_int(env, "VIDEO_LOCAL_ENV_CONCURRENCY", 1),
            local_env_threads=_int(env, "VIDEO_LOCAL_ENV_THREADS", 0),
            pool_idle_seconds=_float(env, "VIDEO_POOL_IDLE_SECONDS", 300.0),
            segment_seconds=_int(env, "VIDEO_SEGMENT_SECONDS", 60),
            playable_seconds=_int(env, "VIDEO_PLAYABLE_SECONDS", 30),
            first_segment_seconds=_int(env, "VIDEO_FIRST_SEGMENT_SECONDS", 4),
            cursor_secret=env.get("VIDEO_CURSOR_SECRET", ""),
            cursor_secret_arn=env.get("VIDEO_CURSOR_SECRET_ARN", "").strip(),
            admin_token=env.get("VIDEO_ADMIN_TOKEN", "").strip(),
            admin_token_secret_arn=env.get("VIDEO_ADMIN_TOKEN_SECRET_ARN", "").strip(),
            signing_secret=env.get("VIDEO_SIGNING_SECRET", ""),
            signing_secret_arn=env.get("VIDEO_SIGNING_SECRET_ARN", "").strip(),
            signed_url_seconds=_int(env, "VIDEO_SIGNED_URL_SECONDS", 3600),
            login_failures_per_token=_int(env, "VIDEO_LOGIN_FAILURES_PER_TOKEN", 10),
            login_failures_per_client=_int(env, "VIDEO_LOGIN_FAILURES_PER_CLIENT", 50),
            login_failure_window_seconds=_float(env, "VIDEO_LOGIN_FAILURE_WINDOW_SECONDS", 60.0),
            rate_limit_per_second=_float(env, "VIDEO_RATE_LIMIT_PER_SECOND", 20.0),
            rate_limit_burst=_int(env, "VIDEO_RATE_LIMIT_BURST", 40),
            workspace_max_active=_int(env, "VIDEO_WORKSPACE_MAX_ACTIVE", 50),
            webhook_allow_private=_bool(env, "VIDEO_WEBHOOK_ALLOW_PRIVATE", backend == "local"),
            sse_wait_seconds=_float(env, "VIDEO_SSE_WAIT_SECONDS", 25.0),
            event_bus=env.get("VIDEO_EVENT_BUS", "").strip(),
            price_per_env_hour=_float(env, "VIDEO_PRICE_PER_ENV_HOUR", 0.0938),
            ffmpeg=env.get("VIDEO_FFMPEG", ""),
            whisper_model=env.get("VIDEO_WHISPER_MODEL", ""),
            max_source_bytes=_int(env, "VIDEO_MAX_SOURCE_BYTES", 5 * 1024**3),
            max_duration_seconds=_float(env, "VIDEO_MAX_DURATION_SECONDS", 3 * 3600.0),
            x264_preset=env.get("VIDEO_X264_PRESET", "").strip() or "veryfast",
            video_ladder=_choice(env, "VIDEO_LADDER", ("per-title", "fixed")),
            vmaf_target=_float(env, "VIDEO_VMAF_TARGET", 95.0),
            video_codecs=_codecs(env.get("VIDEO_CODECS", "")),
            ffmpeg_timeout_seconds=_float(env, "VIDEO_FFMPEG_TIMEOUT_SECONDS", 0.0),
            tmp_dir=Path(tmp).expanduser().absolute()
            if (tmp := env.get("VIDEO_TMP_DIR", "").strip())
            else None,
            public_base_url=env.get("VIDEO_PUBLIC_URL", "").strip().rstrip("/"),
            trusted_proxies=tuple(
                p.strip() for p in env.get("VIDEO_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
            max_streams_per_token=_int(env, "VIDEO_MAX_STREAMS_PER_TOKEN", 10),
            local_max_upload_bytes=_int(env, "VIDEO_LOCAL_MAX_UPLOAD_BYTES", 512 * 1024**2),
            upload_slots_per_workspace=_int(env, "VIDEO_UPLOAD_SLOTS_PER_WORKSPACE", 20),
            upload_abandoned_seconds=_float(env, "VIDEO_UPLOAD_ABANDONED_SECONDS", 25 * 3600.0),
            renderer_function=env.get("VIDEO_RENDERER_FUNCTION", "").strip(),
            render_concurrency=_int(env, "VIDEO_RENDER_CONCURRENCY", 2),
            render_wait_seconds=_float(env, "VIDEO_RENDER_WAIT_SECONDS", 5.0),
            render_timeout_seconds=_float(env, "VIDEO_RENDER_TIMEOUT_SECONDS", 30.0),
            upload_bytes_per_workspace=_int(env, "VIDEO_UPLOAD_BYTES_PER_WORKSPACE", 0),
            subtitle_translate=_translate_target(env),
        )


def _translate_target(env: dict[str, str]) -> str:
    """VIDEO_SUBTITLE_TRANSLATE: empty or `en` (Whisper translates into English only)."""
    value = env.get("VIDEO_SUBTITLE_TRANSLATE", "").strip().lower()
    if value not in ("", "en"):
        raise ValueError(f"VIDEO_SUBTITLE_TRANSLATE must be empty or 'en', not {value!r}")
    return value
