"""The web console's files: `GET /` (the page) and `GET /console/{name}` (its static assets).

Everything is served from `chalicelib/console/static/`, which Chalice packages with the app, so
the same lambdalith serves the console locally and behind the HTTP API. Nothing is built or
fetched at run time: the third-party browser code (hls.js, see VENDOR.md there) is committed.

Every response carries the console's security headers: a Content-Security-Policy with no
inline script or style, `nosniff` and `no-referrer` (the signed media URLs must not leak through
a Referer). The media origins in the CSP are `'self'` plus the configured public base URL
locally, and `https:` in AWS, where media are presigned S3 URLs on the bucket's own host.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from chalice import Response

from chalicelib.config import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
ASSET_PREFIX = "/console/"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
# A single PUT to a presigned S3 URL takes at most 5 GiB.
S3_MAX_PUT_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str
    etag: str


def _asset(body: str, content_type: str) -> Asset:
    digest = hashlib.sha256(body.encode()).hexdigest()[:32]
    return Asset(body=body, content_type=content_type, etag=f'"{digest}"')


@functools.lru_cache(maxsize=32)
def static_asset(name: str) -> Asset | None:
    """A file of the static folder by its bare name (no paths, no dot files), or None."""
    if not _NAME_RE.fullmatch(name) or name == INDEX:
        return None
    content_type = CONTENT_TYPES.get(Path(name).suffix)
    path = STATIC_DIR / name
    if content_type is None or not path.is_file():
        return None
    return _asset(path.read_text(encoding="utf-8"), content_type)


def max_upload_bytes(settings: Settings) -> int:
    """The largest file the console lets a person pick: the upload target's own limit."""
    if settings.media_is_local:
        from chalicelib.api.uploads import LOCAL_MAX_UPLOAD_BYTES

        return min(LOCAL_MAX_UPLOAD_BYTES, settings.max_source_bytes)
    return min(S3_MAX_PUT_BYTES, settings.max_source_bytes)


@functools.lru_cache(maxsize=8)
def _index(max_upload: int, events_wait: float) -> Asset:
    template = (STATIC_DIR / INDEX).read_text(encoding="utf-8")
    page = template.replace("{{maxUploadBytes}}", str(int(max_upload)))
    page = page.replace("{{eventsWaitSeconds}}", f"{events_wait:g}")
    return _asset(page, CONTENT_TYPES[".html"])


def index_page(settings: Settings) -> Asset:
    """The page, with the upload limit and the events route's longest wait (how long a
    response may stay silent before the page takes it for a buffering proxy) in `<meta>`s:
    the page has no inline script."""
    return _index(max_upload_bytes(settings), settings.sse_wait_seconds)


def media_origins(settings: Settings) -> tuple[str, ...]:
    """Where media, playlists and uploads may come from besides the page's own origin."""
    if not settings.is_local or settings.bucket:
        return ("https:",)  # presigned S3 URLs: the bucket's host, per region and style
    parts = urlsplit(settings.public_base_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return (f"{parts.scheme}://{parts.netloc}",)
    return ()


def security_headers(settings: Settings) -> dict[str, str]:
    media = " ".join(("'self'", *media_origins(settings)))
    policy = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media}",
            f"media-src {media} blob:",
            f"connect-src {media}",
            "worker-src blob:",  # hls.js runs its transmuxer in a worker made from a blob
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",  # revalidate with the ETag: a deploy shows at once
    }


def not_modified(asset: Asset, if_none_match: str | None) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return asset.etag in tags or "*" in tags


def respond(asset: Asset, settings: Settings, if_none_match: str | None = None) -> Response:
    """The asset with its security headers and ETag (304 when the client has it already)."""
    headers: dict[str, str | list[str]] = {**security_headers(settings), "ETag": asset.etag}
    if not_modified(asset, if_none_match):
        return Response(body="", status_code=304, headers=headers)
    headers["Content-Type"] = asset.content_type
    return Response(body=asset.body, status_code=200, headers=headers)
