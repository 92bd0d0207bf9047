"""Guards on the layout: configuration read in one place and documented (the README's table),
the map in docs/architecture.md true."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_only_settings_read_the_environment() -> None:
    readers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "chalicelib").rglob("*.py")
        if re.search(r"os\.environ|os\.getenv", path.read_text())
    ]
    assert readers == ["chalicelib/config.py"]


def test_every_setting_is_in_the_readme_table() -> None:
    names = set(re.findall(r'"(VIDEO_[A-Z0-9_]+)"', (ROOT / "chalicelib/config.py").read_text()))
    assert len(names) >= 20
    table = "\n".join(
        line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")
    )
    assert sorted(n for n in names if f"`{n}`" not in table) == []


def test_the_architecture_map_names_every_chalicelib_module() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    start = doc.index("chalicelib/\n")
    layout = doc[start : doc.index("```", start)]
    missing = []
    for path in sorted((ROOT / "chalicelib").rglob("*.py")):
        if path.name in ("__init__.py", "base.py"):  # base.py: the port the map names
            continue
        rel = path.relative_to(ROOT / "chalicelib")
        folder = f"{rel.parts[0]}/" if len(rel.parts) > 1 else None
        if (folder and folder not in layout) or path.stem not in layout:
            missing.append(str(rel))
    assert missing == []
