"""Media references -> URLs a client can open, rendered when an item is read.

The processor stores `media://{videoId}/{runId}/{name}` references (`MediaRef`); this is the one
place that turns them into URLs: presigned S3 URLs in AWS (signed per read, so they never expire
inside the database), signed `GET /media/...` URLs on the local server, and for HLS playlists
and the storyboard index signed `GET /videos/{id}/stream/{name}` URLs (that route signs the
references inside the documents it serves). Players need no header to follow any of them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalicelib.api.signing import UrlSigner
from chalicelib.api.streaming import is_stream_document
from chalicelib.domain import Item
from chalicelib.media_store.base import MediaRef, MediaStore, attachment_name
from chalicelib.sources import public_source_url

# The API's origin as the current request names it (Host / X-Forwarded-Proto); set per request
# by the route wrapper, used when no public base URL is configured.
REQUEST_BASE_URL: contextvars.ContextVar[str] = contextvars.ContextVar("base_url", default="")
_INTERNAL = frozenset({"eventSequence"})


def stream_path(video_id: str, name: str) -> str:
    return f"/videos/{video_id}/stream/{name}"


class MediaRenderer:
    def __init__(
        self,
        media_store: Callable[[], MediaStore],
        signer: UrlSigner,
        public_base_url: str = "",
        source_roots: Sequence[Path] = (),
    ) -> None:
        self._source_roots = tuple(source_roots)  # to show older local uploads as upload://
        self._media_store = media_store  # built on first use: most items carry no references
        self._signer = signer
        self._public_base_url = public_base_url.rstrip("/")

    def base_url(self) -> str:
        """The API's public origin: configured, else taken from the current request."""
        return self._public_base_url or REQUEST_BASE_URL.get()

    def stream_url(self, video_id: str, name: str, *, relative: bool = False) -> str:
        """A signed URL of the stream route (relative: the bare name, for playlists)."""
        path = stream_path(video_id, name)
        head = name if relative else f"{self.base_url()}{path}"
        return self._signer.sign(head, path)

    def file_url(self, video_id: str, run_id: str, name: str, download: str | None = None) -> str:
        """A published file's URL: presigned S3, or the local media route signed
        (`download`: served as an attachment of that file name)."""
        store = self._media_store()
        url = store.url(video_id, run_id, name, download)
        if store.urls_self_authenticate:
            return url  # presigned by S3 already
        return self._signer.sign(url, urlsplit(url).path)

    def url(self, ref: MediaRef) -> str:
        if is_stream_document(ref.name):  # served by the API, with its references signed
            return self.stream_url(ref.video_id, ref.name)
        return self.file_url(ref.video_id, ref.run_id, ref.name)

    def item(self, item: Item) -> Item:
        """A copy of `item` as the API shows it: media references rendered into URLs, the
        store's bookkeeping (the event sequence) left out."""
        item = {k: v for k, v in item.items() if k not in _INTERNAL}
        if isinstance(item.get("sourceUrl"), str):  # never a server path (older local uploads)
            item["sourceUrl"] = public_source_url(item["sourceUrl"], self._source_roots)
        if "outputPrefix" not in item and "playback" not in item:
            return item

        def walk(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            if isinstance(value, list):
                return [walk(v) for v in value]
            if isinstance(value, str):
                ref = MediaRef.parse(value)
                return value if ref is None else self.url(ref)
            return value

        downloads = item.get("downloads")
        rendered: Item = walk(item)
        if isinstance(downloads, list):
            rendered["downloads"] = [self._download(item, d) for d in downloads]
        if rendered.get("status") == "completed" and rendered.get("runId"):
            rendered["images"] = self.images(str(rendered["id"]))
        return rendered

    def _download(self, item: Item, entry: Any) -> Any:
        """A download's URL, served as an attachment named `<title>-<quality>.<ext>`."""
        ref = MediaRef.parse(str(entry.get("url", ""))) if isinstance(entry, dict) else None
        if ref is None:
            return entry
        ext = ref.name.rsplit(".", 1)[-1]
        name = attachment_name(str(item.get("title") or "video"), str(entry.get("quality")), ext)
        return {**entry, "url": self.file_url(ref.video_id, ref.run_id, ref.name, name)}

    def images(self, video_id: str) -> dict[str, str]:
        """The video's image URLs with its image signature: one for every time, size and
        format of `GET /videos/{id}/thumbnail.*` and `animated.*` (chalicelib/api/images.py)."""
        signature = self._signer.query(f"/videos/{video_id}/images")
        base = f"{self.base_url()}/videos/{video_id}"
        return {
            "thumbnailUrl": f"{base}/thumbnail.jpg?{signature}",
            "animatedUrl": f"{base}/animated.webp?{signature}",
            "signature": signature,
        }
