"""`make run` (`python -m devserver`, or `python devserver` from anywhere): serve the app
locally on the embedded backends.

The API goes through chalice local's gateway (routing, middleware, the route wrapper), with a
JSON 404 for unknown routes and no `Accept` header meaning anything (RFC 9110). The server
around it is `devserver/server.py`: concurrent connections with keep-alive and timeouts, media
streamed from disk with ranges, uploads streamed to disk. Each request sees only its own data
(`chalicelib/api/isolation.py`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

if not __package__:  # run as `python devserver`: import from the repository, not from in here
    sys.path[0] = str(Path(__file__).resolve().parents[1])


def main(argv: list[str] | None = None) -> int:
    from chalicelib.api.uploads import LOCAL_MAX_UPLOAD_BYTES

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds a connection may stay silent (idle keep-alive, half-sent request, "
        "stalled body or download) before it is closed",
    )
    parser.add_argument("--max-connections", type=int, default=512)
    parser.add_argument(
        "--api-concurrency",
        type=int,
        default=4,
        help="requests handled by the app at once; more wait their turn (media and uploads "
        "are streamed outside this limit)",
    )
    parser.add_argument(
        "--max-upload-bytes",
        type=int,
        default=None,
        help="largest local upload, single or multipart "
        f"(default: VIDEO_LOCAL_MAX_UPLOAD_BYTES, {LOCAL_MAX_UPLOAD_BYTES})",
    )
    parser.add_argument(
        "--events-poll",
        type=float,
        default=1.0,
        help="seconds between looks at a video while an event stream waits for a change "
        "(the wait itself holds no API slot)",
    )
    parser.add_argument(
        "--max-streams-per-token",
        type=int,
        default=0,
        help="event streams one token may have waiting at once, 429 beyond "
        "(default: VIDEO_MAX_STREAMS_PER_TOKEN, 10)",
    )
    parser.add_argument("--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)
    os.environ.setdefault("VIDEO_BACKEND", "local")
    if not os.environ.get("VIDEO_PUBLIC_URL"):
        # links in responses name this server as bound, never a request's Host
        os.environ["VIDEO_PUBLIC_URL"] = f"http://{args.host}:{args.port}"
    from app import routes
    from chalicelib.factory import ADMIN_TOKEN_FILE, container
    from devserver.server import make_server
    from devserver.startup import recover

    c = container()
    settings = c.settings
    if settings.is_local:  # what was in flight died with the last server (not so in AWS mode)
        recover(c.store, settings)
    (settings.source_roots[0]).mkdir(parents=True, exist_ok=True)
    server = make_server(
        routes,
        args.host,
        args.port,
        # Media from a local directory are served from disk; with an S3 media store the URLs
        # are presigned and /media stays Chalice's (a 404).
        media=c.local_media(),
        uploads=c.uploads,
        signer=c.signer,
        read_timeout=args.timeout,
        max_connections=args.max_connections,
        api_concurrency=args.api_concurrency,
        max_upload_bytes=args.max_upload_bytes or c.uploads.limits.max_bytes,
        events_wait=settings.sse_wait_seconds,
        events_poll=args.events_poll,
        max_streams_per_token=args.max_streams_per_token or settings.max_streams_per_token,
        trusted_proxies=settings.trusted_proxies,
        quiet=args.quiet,
    )
    c.admin_token  # noqa: B018 - generated now (when not configured), so it can be read
    where = (
        "VIDEO_ADMIN_TOKEN" if settings.admin_token else str(settings.data_dir / ADMIN_TOKEN_FILE)
    )
    print(
        f"video-service on http://{args.host}:{args.port} (backend {settings.backend}, "
        f"data {settings.data_dir}, sources {':'.join(map(str, settings.source_roots))})\n"
        f"admin token: {where}  (TOKEN=$(cat {where}) for the README walkthrough)",
        flush=True,
    )
    stop = threading.Event()  # the webhook dispatcher: reads the outbox while the server runs
    threading.Thread(target=c.dispatcher.run, args=(stop,), name="webhooks", daemon=True).start()
    # Abandoned upload slots (parts never completed, slots never filled) go after
    # VIDEO_UPLOAD_ABANDONED_SECONDS (25 h by default); checked a few times per period.
    every = min(3600.0, max(1.0, c.uploads.limits.abandoned_seconds / 4))
    sweeper = threading.Thread(
        target=_sweep_uploads, args=(c.uploads, stop, every), name="sweep", daemon=True
    )
    sweeper.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
    return 0


def _sweep_uploads(uploads: Any, stop: threading.Event, every: float) -> None:
    while True:
        try:
            uploads.sweep_local()
        except Exception:  # retried next round; a failed sweep must not stop the server
            logging.getLogger(__name__).exception("upload sweep failed")
        if stop.wait(every):
            return


if __name__ == "__main__":
    raise SystemExit(main())
