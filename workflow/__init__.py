"""The video-processing state machine: the ASL definition, generated in Python, and its tooling.

`workflow.definition` builds it with the Step Functions Data Science SDK (build time only, heavy);
`workflow/definition.asl.json` is the committed output; `workflow.substitute` (light, no SDK) reads
it and fills the `${...FunctionArn}` placeholders. `python -m workflow --help` lists the CLI.
"""
