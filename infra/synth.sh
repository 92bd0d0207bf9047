#!/usr/bin/env bash
# Synthesize the CDK app offline into infra/cdk.out; print synth time and resources by type.
# Installs nothing (the Makefile's install targets do). Extra arguments go to the script,
# e.g. `infra/synth.sh --validate` for CDK's own CloudFormation validation as well.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../.venv/bin/python}"
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
cd "$here"
exec "$python" -m video_infra.synth_report "$@"
