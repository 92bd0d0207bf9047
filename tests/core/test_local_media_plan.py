"""chalicelib.api.local_media: what the local server answers for a media file, decided
without a server (over HTTP: test_local_media.py)."""

from __future__ import annotations

import pytest

from chalicelib.api.local_media import etag_of, parse_range, plan_media


@pytest.mark.parametrize(
    ("spec", "size", "expected"),
    [
        ("bytes=0-", 0, "unsatisfiable"),  # nothing in an empty file can be satisfied
        ("bytes=-5", 0, "unsatisfiable"),
        ("bytes=0-4", 5, (0, 5)),
        ("bytes=4-4", 5, (4, 1)),
        ("bytes=5-", 5, "unsatisfiable"),
        ("bytes= 0-4", 5, "ignore"),
        ("bytes=a-b", 5, "ignore"),
    ],
)
def test_parse_range(spec: str, size: int, expected: object) -> None:
    assert parse_range(spec, size) == expected


def test_an_empty_file_is_a_200_of_nothing_and_ranges_on_it_are_416() -> None:
    plain = plan_media("GET", {}, 0, 0.0, 0, "video/mp4")
    assert (plain.status, plain.length) == (200, 0)
    assert plan_media("GET", {"range": "bytes=0-"}, 0, 0.0, 0, "video/mp4").status == 416


def test_head_ignores_range() -> None:
    plan = plan_media("HEAD", {"range": "bytes=0-9"}, 100, 0.0, 0, "video/mp4")
    assert (plan.status, plan.length) == (200, 100)


def test_conditional_requests() -> None:
    etag = etag_of(100, 5)
    stamp = "Thu, 01 Jan 1970 00:00:00 GMT"
    assert plan_media("GET", {"if-none-match": etag}, 100, 0.0, 5, "video/mp4").status == 304
    assert plan_media("GET", {"if-none-match": '"x"'}, 100, 0.0, 5, "video/mp4").status == 200
    assert plan_media("GET", {"if-modified-since": stamp}, 100, 0.0, 5, "video/mp4").status == 304
    garbage = {"if-modified-since": "yesterday"}
    assert plan_media("GET", garbage, 100, 0.0, 5, "video/mp4").status == 200
