"""Media references -> URLs a client can open, rendered when an item is read.

The processor stores `media://{videoId}/{runId}/{name}` references (`MediaRef`); this is the one
place that turns them into URLs: presigned S3 URLs in AWS (signed per read, so they never expire
inside the database), `GET /media/...` on the local server, and for HLS playlists and the
storyboard index `GET /videos/{id}/stream/{name}`, which signs the references inside them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from chalicelib.api.streaming import is_stream_document
from chalicelib.media_store.base import MediaRef, MediaStore
from chalicelib.store.base import Item

# The API's origin as the current request names it (Host / X-Forwarded-Proto); set per request
# by the route wrapper, used when no public base URL is configured.
REQUEST_BASE_URL: contextvars.ContextVar[str] = contextvars.ContextVar("base_url", default="")


class MediaRenderer:
    def __init__(self, media_store: Callable[[], MediaStore], public_base_url: str = "") -> None:
        self._media_store = media_store  # built on first use: most items carry no references
        self._public_base_url = public_base_url.rstrip("/")

    def base_url(self) -> str:
        """The API's public origin: configured, else taken from the current request."""
        return self._public_base_url or REQUEST_BASE_URL.get()

    def url(self, ref: MediaRef) -> str:
        if is_stream_document(ref.name):  # served by the API, with its references signed
            return f"{self.base_url()}/videos/{ref.video_id}/stream/{ref.name}"
        return self._media_store().url(ref.video_id, ref.run_id, ref.name)

    def item(self, item: Item) -> Item:
        """A copy of `item` with every media reference rendered into a URL."""
        if "outputPrefix" not in item:
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

        rendered: Item = walk(item)
        return rendered
