"""The pinned AWS SDK as a Lambda layer for the functions that run the API bundle.

The Lambda runtime's bundled boto3 may predate the operations the code calls: the API and the
scaler call Lambda Managed Instances' Put/GetFunctionScalingConfig (service model 2025-11-30).
A layer's `python/` directory comes before the runtime's own packages on `sys.path`, so the
functions import the SDK pinned in requirements-run.txt, copied from this venv (offline, the
exact files tested here), while the code zip stays only the app.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
from pathlib import Path

# boto3 and what it imports that the runtime's copy would otherwise supply at another version.
DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath")


def stage_sdk_layer(dest: Path | None = None) -> Path:
    """Copy the installed SDK distributions into `<dest>/python/` and return `dest`."""
    out = Path(tempfile.mkdtemp(prefix="video-sdk-layer-")) if dest is None else dest
    target = out / "python"
    target.mkdir(parents=True, exist_ok=True)
    for name in DISTRIBUTIONS:
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or ():
            if "__pycache__" in file.parts or file.suffix == ".pyc" or file.parts[0] == "..":
                continue
            source = Path(str(distribution.locate_file(file)))
            if source.is_file():
                copy = target / file
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, copy)
    return out
