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
        if name and NAME_RE.fullmatch(name):
            out.append(url_for(name) + sep + fragment)
        elif stripped.startswith("#EXT") and 'URI="' in stripped:
            # a tag naming a file (`#EXT-X-MEDIA:...,URI="hls_audio.m3u8"`: the audio
            # rendition of a segmented run) is signed too, or players get 403 for it
            out.append(_URI_RE.sub(lambda m: _signed_uri(m, url_for), line))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


_URI_RE = re.compile(r'URI="([^"]*)"')


def _signed_uri(match: re.Match[str], url_for: Callable[[str], str]) -> str:
    name = match.group(1)
    return f'URI="{url_for(name)}"' if NAME_RE.fullmatch(name) else match.group(0)
