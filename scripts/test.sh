#!/usr/bin/env bash
# The README's test command: setup, then the whole suite (unit, Pulumi mocks,
# real engine, end to end).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh" offline
bash "$STRATOS_ROOT/scripts/setup.sh"
cd "$STRATOS_ROOT"
exec .venv/bin/python -m pytest "$@"
