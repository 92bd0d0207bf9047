"""The definition's placeholders and their filling: `chalicelib.orchestrator.definition`, where the
runtime (the local engine) finds them without this build-time package; re-exported for `workflow/`'s
own modules, the CLI and the CDK stack."""

from chalicelib.orchestrator.definition import (
    DEFINITION_PATH,
    FUNCTION_PLACEHOLDERS,
    function_substitutions,
    load_definition,
    placeholders,
    substitute,
)

__all__ = [
    "DEFINITION_PATH",
    "FUNCTION_PLACEHOLDERS",
    "function_substitutions",
    "load_definition",
    "placeholders",
    "substitute",
]
