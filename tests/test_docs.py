"""The README is a front door (short) and its links, like those between the docs, lead somewhere:
every relative link names a file that exists, and an anchor into a Markdown file names one of its
headings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

README_MAX_LINES = 300
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) outside code: inline links only (the docs use no reference-style links)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")


def links(text: str) -> list[str]:
    prose = _CODE.sub("", _FENCE.sub("", text))
    return _LINK.findall(prose)


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _FENCE.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_readme_is_at_most_300_lines_and_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    commands = re.findall(r"^make (\S+)", text, re.M)
    assert commands[:2] == ["run", "test"]


def resolves(doc: Path, target: str) -> bool:
    """Whether a link of `doc` names an existing file (and, into Markdown, a heading of it)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not ours to check
        return True
    path_part, _, anchor = target.partition("#")
    path = (doc.parent / path_part).resolve() if path_part else doc
    if not path.exists():
        return False
    return not anchor or path.suffix != ".md" or anchor in anchors(path.read_text())


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc: Path) -> None:
    assert [t for t in links(doc.read_text()) if not resolves(doc, t)] == []


def test_the_link_checker_finds_what_is_broken(tmp_path: Path) -> None:
    text = "[a](missing.md) `[b](in-code.md)` [c](#nowhere) [d](https://example.com)\n# Here\n"
    assert links(text) == ["missing.md", "#nowhere", "https://example.com"]
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    (tmp_path / "there.md").write_text("## A heading\n")
    assert [t for t in links(text) if not resolves(doc, t)] == ["missing.md", "#nowhere"]
    assert resolves(doc, "there.md#a-heading") and not resolves(doc, "there.md#other")
    assert anchors("## The store (one port, two adapters)\n") == {"the-store-one-port-two-adapters"}
    assert anchors("## Walkthrough (against `make run`)\n") == {"walkthrough-against-make-run"}
