"""The synthesized template as the rehearsal reads it: the five functions, their roles' policies
and environments, with every intrinsic resolved to the names and ARNs of the resources created
on the emulator.

Anything the rehearsal cannot resolve (a function missing, an intrinsic it does not know, a
reference to a resource it did not create, a role without a policy) is a RehearsalFailure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"  # moto's default account: the ARNs moto answers with carry it
REGION = "us-east-1"

# The functions the rehearsal runs: key -> (logical-ID prefix, handler attribute of app.py).
FUNCTIONS: dict[str, tuple[str, str]] = {
    "api": ("ApiFunction", "app"),
    "scaler": ("ScalerFunction", "scaler"),
    "processor": ("ProcessorFunction", "processor"),
    "finalizer": ("FinalizerFunction", "finalizer"),
    "dispatcher": ("DispatcherFunction", "dispatcher"),
    "renderer": ("RendererFunction", "renderer"),
}


class RehearsalFailure(Exception):
    """The rehearsal found something that would not work in AWS (or could not check it)."""


@dataclass
class Names:
    """What each logical ID resolves to: `Ref` and `Fn::GetAtt` attributes, pseudo parameters
    and template parameters."""

    stack_name: str
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)

    def set(self, logical_id: str, **attrs: str) -> None:
        self.attributes.setdefault(logical_id, {}).update(attrs)

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.get_att(name, "Ref")

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[logical_id][attribute]
        except KeyError:
            what = "Ref" if attribute == "Ref" else f"Fn::GetAtt {attribute}"
            raise RehearsalFailure(
                f"unresolvable intrinsic: {what} of {logical_id} (not created by the rehearsal)"
            ) from None


def resolve(value: Any, names: Names) -> Any:
    """`value` with every intrinsic function replaced by its resolved string."""
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return names.ref(arg)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return names.get_att(logical_id, attribute)
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(resolve(p, names)) for p in parts)
        if key == "Fn::Sub":
            return _sub(arg, names)
        if key.startswith("Fn::") or key == "Condition":
            raise RehearsalFailure(f"unresolvable intrinsic: {key} {json.dumps(arg)[:200]}")
    return {k: resolve(v, names) for k, v in value.items()}


def _sub(arg: Any, names: Names) -> str:
    text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
    out, rest = [], text
    while "${" in rest:
        before, _, after = rest.partition("${")
        name, _, rest = after.partition("}")
        out.append(before)
        if name in variables:
            out.append(str(resolve(variables[name], names)))
        elif "." in name:
            out.append(names.get_att(*name.split(".", 1)))
        else:
            out.append(names.ref(name))
    return "".join(out) + rest


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the template, unresolved: its logical ID, properties and role."""

    key: str
    logical_id: str
    handler: str
    properties: Mapping[str, Any]
    role_logical_id: str


class Template:
    def __init__(self, document: Mapping[str, Any], outdir: Path | None = None) -> None:
        self.document = document
        self.resources: Mapping[str, Mapping[str, Any]] = document["Resources"]
        self.outdir = outdir  # the cloud assembly (cdk.out) holding the assets

    @classmethod
    def load(cls, path: Path) -> Template:
        return cls(json.loads(path.read_text()), path.parent)

    def layer_dirs(self, spec: FunctionSpec) -> list[Path]:
        """The staged directories of a function's layers (in order), from the assembly's
        asset manifest: what Lambda unpacks under /opt."""
        dirs = []
        for layer in spec.properties.get("Layers", []):
            logical_id = layer.get("Ref") if isinstance(layer, dict) else None
            resource = self.resources.get(logical_id or "")
            if resource is None or resource["Type"] != "AWS::Lambda::LayerVersion":
                raise RehearsalFailure(
                    f"{spec.key}: layer {layer!r} is not a layer of the template"
                )
            key = str(resource["Properties"]["Content"]["S3Key"]).removesuffix(".zip")
            manifests = list(self.outdir.glob("*.assets.json")) if self.outdir else []
            files = {k: v for m in manifests for k, v in json.loads(m.read_text())["files"].items()}
            if key not in files:
                raise RehearsalFailure(
                    f"{spec.key}: layer {logical_id}'s asset is not in the assembly"
                )
            assert self.outdir is not None  # manifests were found in it
            dirs.append(self.outdir / files[key]["source"]["path"])
        return dirs

    def of_type(self, kind: str) -> dict[str, Mapping[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == kind}

    def one(self, kind: str, prefix: str) -> tuple[str, Mapping[str, Any]]:
        found = [(k, v) for k, v in self.of_type(kind).items() if k.startswith(prefix)]
        if len(found) != 1:
            raise RehearsalFailure(
                f"the template has {len(found)} {kind} named {prefix}*, the rehearsal needs one"
            )
        return found[0]

    def function(self, key: str) -> FunctionSpec:
        prefix, handler = FUNCTIONS[key]
        logical_id, resource = self.one("AWS::Lambda::Function", prefix)
        role = resource["Properties"].get("Role", {})
        if not (isinstance(role, dict) and "Fn::GetAtt" in role):
            raise RehearsalFailure(f"{key}: its Role is not a role of this template ({role!r})")
        return FunctionSpec(key, logical_id, handler, resource["Properties"], role["Fn::GetAtt"][0])

    def role_policies(self, role_logical_id: str) -> list[Mapping[str, Any]]:
        """The policy documents attached to a role: its inline `Policies` and every
        AWS::IAM::Policy naming it. A managed policy ARN cannot be read offline: failure."""
        role = self.resources.get(role_logical_id)
        if role is None or role["Type"] != "AWS::IAM::Role":
            raise RehearsalFailure(f"role {role_logical_id} is not in the template")
        if role["Properties"].get("ManagedPolicyArns"):
            raise RehearsalFailure(
                f"role {role_logical_id} has managed policies the rehearsal cannot read"
            )
        documents = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_logical_id} in policy["Properties"].get("Roles", []):
                documents.append(policy["Properties"]["PolicyDocument"])
        if not documents:
            raise RehearsalFailure(f"role {role_logical_id} has no policy")
        return documents

    def state_machine(self) -> tuple[str, Mapping[str, Any]]:
        return self.one("AWS::StepFunctions::StateMachine", "VideoProcessing")

    def routes(self) -> list[tuple[str, str]]:
        """(method, path) of every HTTP API route (`RouteKey` "GET /videos/{video_id}")."""
        keys = [
            r["Properties"]["RouteKey"] for r in self.of_type("AWS::ApiGatewayV2::Route").values()
        ]
        return [(method, path) for method, path in (key.split(" ", 1) for key in keys)]
