"""The functions of the API bundle run the pinned SDK (a layer), not the Lambda runtime's: the
API and the scaler call Lambda MI's Put/GetFunctionScalingConfig."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.infra.conftest import Synthesized


def _layer_dir(synth: Synthesized, logical_id: str) -> Path:
    resource = synth.template["Resources"][logical_id]
    key = resource["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    manifest = json.loads((synth.outdir / "VideoService.assets.json").read_text())
    return synth.outdir / manifest["files"][key]["source"]["path"]


def test_every_zip_function_imports_a_botocore_that_knows_the_scaling_api(
    synth: Synthesized,
) -> None:
    functions = synth.resources("AWS::Lambda::Function")
    zipped = {k: f for k, f in functions.items() if f["Properties"].get("PackageType") != "Image"}
    assert {k.rstrip("0123456789ABCDEF") for k in zipped} == {
        "ApiFunction", "ScalerFunction", "FinalizerFunction", "DispatcherFunction",
    }  # fmt: skip
    layers = {json.dumps(f["Properties"].get("Layers")) for f in zipped.values()}
    assert len(layers) == 1
    (layer,) = json.loads(layers.pop())
    site = _layer_dir(synth, layer["Ref"]) / "python"
    # As Lambda puts it: the layer's python/ first on the path, before the runtime's SDK.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import botocore, boto3, botocore.session;"
        "ops = botocore.session.get_session().get_service_model('lambda').operation_names;"
        "print(botocore.__file__, boto3.__file__, 'PutFunctionScalingConfig' in ops,"
        " 'GetFunctionScalingConfig' in ops)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(site)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0].startswith(str(site)) and out[1].startswith(str(site)), out
    assert out[2:] == ["True", "True"]
