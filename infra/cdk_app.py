"""CDK entry point (`cdk.json` runs it): synthesizes the video service stack."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
HERE = Path(__file__).resolve().parent
# video_infra, and the repo root for the Chalice app and workflow/ (its placeholder table)
sys.path[:0] = [str(HERE), str(HERE.parent)]

from video_infra.assembly import build_app  # noqa: E402 - needs sys.path above

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
