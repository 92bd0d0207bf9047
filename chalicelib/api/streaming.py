"""Playlists and the storyboard index, served with signed references.

An HLS playlist and the storyboard's WebVTT name their segments and sprite by relative file
name. Behind presigned S3 URLs a relative name carries no signature, so the API serves these
small text documents itself (`GET /videos/{id}/stream/{name}`) and rewrites every file
reference into a URL the client may fetch. Variant playlists stay relative: they resolve to
the same route.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from chalicelib.media_store.base import NAME_RE

_DOCUMENT_RE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_-]{0,100}\.m3u8|storyboard\.vtt)$")
# An fMP4 variant's initialisation segment: `#EXT-X-MAP:URI="hls_av1_1080p_init.mp4"`.
_MAP_URI_RE = re.compile(r'^(#EXT-X-MAP:(?:.*,)?URI=")([^"]+)(".*)$')


def is_stream_document(name: str) -> bool:
    """True for the documents the stream route serves (HLS playlists, the storyboard index)."""
    return bool(_DOCUMENT_RE.match(name))


def rewrite_references(text: str, url_for: Callable[[str], str]) -> str:
    """Replace each line that names a published file (`seg_001.ts`, `hls_720p.m3u8`,
    `sprite.jpg#xywh=...`) with `url_for(name)`, keeping any fragment; tags, cue timings and
    other lines are left alone."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        name, sep, fragment = stripped.partition("#")
        mapped = _MAP_URI_RE.match(stripped)
        if name and NAME_RE.fullmatch(name):
            out.append(url_for(name) + sep + fragment)
        elif mapped and NAME_RE.fullmatch(mapped.group(2)):
            out.append(mapped.group(1) + url_for(mapped.group(2)) + mapped.group(3))
        else:
            out.append(line)
    return "\n".join(out) + "\n"
