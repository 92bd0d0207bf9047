"""Builds the CDK app: settings from context, the Chalice bundle, the stack, cdk-nag checks
and the accepted checkov findings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cdk_nag

from video_infra.chalice_bundle import REPO_ROOT, load_chalice_app, stage_api_bundle
from video_infra.checkov_suppressions import skip_with_reasons
from video_infra.nag_suppressions import suppress_with_reasons
from video_infra.sdk_layer import stage_sdk_layer
from video_infra.settings import InfraSettings
from video_infra.stack import VideoServiceStack

DEFINITION_PATH = REPO_ROOT / "workflow" / "definition.asl.json"


def _environment(settings: InfraSettings) -> cdk.Environment | None:
    """Account/region from the CLI (`CDK_DEFAULT_*`); a VPC lookup cannot do without them."""
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = os.environ.get("CDK_DEFAULT_REGION")
    if account and region:
        return cdk.Environment(account=account, region=region)
    if settings.vpc_id:
        raise ValueError(
            "-c vpcId=... needs an account and region (run through the cdk CLI with credentials,"
            " or set CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION)"
        )
    return None  # environment-agnostic: synthesizes offline with no credentials


def build_app(
    context: dict[str, Any] | None = None,
    outdir: str | None = None,
    api_bundle_dir: Path | None = None,
    definition_path: Path = DEFINITION_PATH,
) -> tuple[cdk.App, VideoServiceStack]:
    """Create the app and its one stack (not yet synthesized)."""
    app = cdk.App(context=context, outdir=outdir)
    settings = InfraSettings.from_context(app.node)
    chalice_app = load_chalice_app()
    bundle = stage_api_bundle(api_bundle_dir)
    sdk = stage_sdk_layer(None if api_bundle_dir is None else api_bundle_dir.with_name(
        f"{api_bundle_dir.name}-sdk"))  # fmt: skip
    stack = VideoServiceStack(
        app,
        settings.stack_name,
        settings=settings,
        chalice_app=chalice_app,
        api_bundle_dir=bundle,
        sdk_layer_dir=sdk,
        definition_path=definition_path,
        env=_environment(settings),
        description="Video service on AWS Lambda Managed Instances (Chalice API, ffmpeg processor)",
    )
    skip_with_reasons(stack)  # checkov reads these from the template itself
    if str(app.node.try_get_context("nag") or "true").lower() != "false":
        cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app, verbose=True))
        suppress_with_reasons(stack)
    return app, stack
