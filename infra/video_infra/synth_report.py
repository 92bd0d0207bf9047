"""Offline synthesis into infra/cdk.out with a short report: time and resources by type.

Run by `infra/synth.sh` (and so `make synth`). Installs nothing; needs no AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

INFRA_DIR = Path(__file__).resolve().parents[1]


def resource_counts(template: dict[str, object]) -> Counter[str]:
    """Count a CloudFormation template's resources by type."""
    resources = template.get("Resources", {})
    assert isinstance(resources, dict)
    return Counter(str(r["Type"]) for r in resources.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outdir", default=str(INFRA_DIR / "cdk.out"))
    parser.add_argument(
        "--validate",
        action="store_true",
        help="also run CDK's built-in CloudFormation validation (~14 s; cfn-lint runs in tests)",
    )
    args = parser.parse_args(argv)
    if not args.validate:
        os.environ["CDK_VALIDATION"] = "false"
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

    started = time.perf_counter()
    from video_infra.assembly import build_app

    app, stack = build_app(context=_cdk_json_context(), outdir=args.outdir)
    assembly = app.synth()
    elapsed = time.perf_counter() - started

    template_path = Path(assembly.directory) / stack.template_file
    template = json.loads(template_path.read_text())
    counts = resource_counts(template)
    print(f"synthesized {stack.stack_name} into {assembly.directory} in {elapsed:.1f} s")
    print(f"{sum(counts.values())} resources:")
    for kind, n in sorted(counts.items()):
        print(f"  {n:3d}  {kind}")
    return 0


def _cdk_json_context() -> dict[str, object]:
    """The same context `npx cdk synth` would pass (cdk.json), so both paths agree."""
    cdk_json = json.loads((INFRA_DIR / "cdk.json").read_text())
    context = dict(cdk_json.get("context", {}))
    local = INFRA_DIR / "cdk.context.json"
    if local.is_file():
        context.update(json.loads(local.read_text()))
    return context


if __name__ == "__main__":
    # video_infra, and the repo root for the Chalice app and workflow/ (as cdk_app.py does)
    sys.path[:0] = [str(INFRA_DIR), str(INFRA_DIR.parent)]
    sys.exit(main())
