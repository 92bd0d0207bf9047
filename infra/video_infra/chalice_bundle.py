"""What the CDK app needs from the Chalice app: its route table, its functions, its code bundle.

The bundle is what `chalice package` would zip for the API function: `app.py`, `chalicelib/` and
Chalice's runtime module (`chalice/app.py`, `chalice/__init__.py`), staged into a clean directory so
no tests, caches or media libraries can leak into the asset.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
_SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class Route:
    """One API route: an HTTP method on a Chalice path (`{param}` kept as is)."""

    method: str
    path: str


@dataclass(frozen=True)
class LambdaEntry:
    """A `@app.lambda_function`: its name and handler string (`app.<function>`)."""

    name: str
    handler: str


@dataclass(frozen=True)
class ChaliceApp:
    """The parts of the Chalice app that the infrastructure mirrors."""

    app_name: str
    routes: tuple[Route, ...]
    lambda_functions: tuple[LambdaEntry, ...]

    def handler_for(self, name: str) -> str:
        for entry in self.lambda_functions:
            if entry.name == name:
                return entry.handler
        raise KeyError(f"the Chalice app has no lambda_function named {name!r}")


def load_chalice_app(repo_root: Path = REPO_ROOT) -> ChaliceApp:
    """Import the Chalice app (`<repo_root>/app.py`) and read its route table and functions."""
    root = str(repo_root)
    if root not in sys.path:
        sys.path.insert(0, root)
    module = importlib.import_module("app")
    chalice_app: Any = module.app
    routes = tuple(
        sorted(
            (
                Route(method=method.upper(), path=path)
                for path, methods in chalice_app.routes.items()
                for method in methods
            ),
            key=lambda r: (r.path, r.method),
        )
    )
    functions = tuple(
        LambdaEntry(name=fn.name, handler=fn.handler_string)
        for fn in chalice_app.pure_lambda_functions
    )
    return ChaliceApp(app_name=chalice_app.app_name, routes=routes, lambda_functions=functions)


def _copy_tree(src: Path, dest: Path) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in _SKIP_DIRS for part in rel.parts) or path.suffix in _SKIP_SUFFIXES:
            continue
        target = dest / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def stage_api_bundle(dest: Path | None = None, repo_root: Path = REPO_ROOT) -> Path:
    """Copy the API function's code into a clean directory and return it.

    The layout is the one `chalice package` zips: `app.py`, `chalicelib/`, `chalice/`.
    """
    import chalice
    import chalice.app

    out = Path(tempfile.mkdtemp(prefix="video-api-bundle-")) if dest is None else dest
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo_root / "app.py", out / "app.py")
    _copy_tree(repo_root / "chalicelib", out / "chalicelib")
    (out / "chalice").mkdir(exist_ok=True)
    shutil.copyfile(inspect.getfile(chalice.app), out / "chalice" / "app.py")
    shutil.copyfile(inspect.getfile(chalice), out / "chalice" / "__init__.py")
    return out
