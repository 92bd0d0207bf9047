"""Read the committed ASL definition and fill its `${Name}` placeholders.

Kept free of the build-time SDK (no `stepfunctions`/`sagemaker` import): the runtime and the local
engine use this module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DEFINITION_PATH = Path(__file__).with_name("definition.asl.json")

# The one table of the definition's placeholders: function key -> `${Name}` of its ARN. The
# generator writes them, the CLI, the local engine and the CDK stack fill them.
FUNCTION_PLACEHOLDERS: dict[str, str] = {
    "scaler": "ScalerFunctionArn",
    "processor": "ProcessorFunctionArn",
    "finalizer": "FinalizerFunctionArn",
}


def function_substitutions(arns: dict[str, str]) -> dict[str, str]:
    """`{function key: ARN}` -> `{placeholder name: ARN}`; every function must be given."""
    missing = sorted(FUNCTION_PLACEHOLDERS.keys() - arns.keys())
    unknown = sorted(arns.keys() - FUNCTION_PLACEHOLDERS.keys())
    if missing or unknown:
        raise KeyError(f"function ARNs: missing {missing}, unknown {unknown}")
    return {FUNCTION_PLACEHOLDERS[key]: arn for key, arn in arns.items()}


# The same syntax as CloudFormation/CDK `DefinitionSubstitutions`.
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholders(definition: str) -> set[str]:
    """Names of the `${Name}` placeholders in a definition."""
    return set(_PLACEHOLDER.findall(definition))


def substitute(definition: str, substitutions: dict[str, str]) -> str:
    """Fill every placeholder of `definition`; raise KeyError naming any left without a value."""
    missing = sorted(placeholders(definition) - substitutions.keys())
    if missing:
        raise KeyError(f"no substitution for placeholder(s): {', '.join(missing)}")

    def fill(match: re.Match[str]) -> str:
        # json.dumps()[1:-1] escapes quotes/backslashes so a value cannot break the JSON document.
        return json.dumps(substitutions[match.group(1)])[1:-1]

    return _PLACEHOLDER.sub(fill, definition)


def load_definition(substitutions: dict[str, str], path: Path = DEFINITION_PATH) -> str:
    """The committed definition (JSON text) with its placeholders filled from `substitutions`."""
    return substitute(path.read_text(encoding="utf-8"), substitutions)
