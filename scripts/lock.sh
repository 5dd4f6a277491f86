#!/usr/bin/env bash
# Re-resolve pyproject.toml's dependencies and rewrite requirements.lock.
# Run after changing dependencies; commit the new lock.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STRATOS_ROOT"
tmp="$(mktemp -d)"
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q -e ".[all]"
"$tmp/venv/bin/pip" check
{ echo "# Exact versions of every package in .venv (pip freeze), checked together: \`pip check\` clean."
  echo "# Markers (scripts/lock_markers.py) skip what a platform does not need, e.g. CUDA wheels off Linux."
  echo "# Regenerate after changing pyproject.toml: bash scripts/lock.sh"
  "$tmp/venv/bin/pip" freeze --all --exclude-editable | grep -v -i -E "^(pip|stratos)=="; } > requirements.lock
"$tmp/venv/bin/python" scripts/lock_markers.py requirements.lock
rm -rf "$tmp"
echo "requirements.lock updated"
