#!/bin/bash
# Stratos @@{role} node bootstrap, rendered from the plan by infra/bootstrap/render.py.
# Runs as cloud-init user-data (AWS) or the startup script (GCP). Every STRATOS_*
# setting can be overridden from the environment, which is how the tests run this
# file in a sandbox: STRATOS_STORE_KIND=dir points the bucket at a local folder.
# shellcheck disable=SC2329  # common.sh's helpers serve both roles; each role uses some of them
set -euo pipefail

STRATOS_ROLE=@@{role}
STRATOS_CLOUD=@@{cloud}
STRATOS_REGION=@@{region}
STRATOS_SECRET_REGION=@@{secret_region}
STRATOS_STORE_URI=@@{store_uri}
STRATOS_STORE_KIND="${STRATOS_STORE_KIND:-@@{store_kind}}"
STRATOS_STORE_ROOT="${STRATOS_STORE_ROOT:-}"
STRATOS_HOME="${STRATOS_HOME:-/opt/stratos}"
STRATOS_LOG="${STRATOS_LOG:-/var/log/stratos-@@{role}.log}"
STRATOS_SHUTDOWN_CMD="${STRATOS_SHUTDOWN_CMD:-shutdown -h now}"
STRATOS_POLL_SECONDS="${STRATOS_POLL_SECONDS:-60}"
STRATOS_SECRETS_DIR="${STRATOS_SECRETS_DIR:-}"
# cloud-init runs user-data on the first boot only; scripts here run on every boot.
STRATOS_PER_BOOT_DIR="${STRATOS_PER_BOOT_DIR:-/var/lib/cloud/scripts/per-boot}"
STRATOS_INSTALL_SPEC=@@{install_spec}
STRATOS_SOURCE_ARCHIVE=@@{source_archive}
# A secret with KEY=VALUE lines (read-only keys to a store on another cloud), or empty.
STRATOS_STORE_ENV_REF=@@{store_env_ref}

S3_ARGS=(--region "$STRATOS_REGION")
MARKER_OK="$STRATOS_STORE_URI/_COMPLETE.json"
MARKER_FAILED="$STRATOS_STORE_URI/_FAILED.txt"
ARTIFACT_URI="$STRATOS_STORE_URI/artifact"

# Everything this script writes is private: the log may hold a secret's name, a URL with
# a signature, a stack trace with a request; set before the first file is created.
umask 077
mkdir -p "$STRATOS_HOME" "$(dirname "$STRATOS_LOG")"
touch "$STRATOS_LOG" && chmod 600 "$STRATOS_LOG"
exec > >(tee -a "$STRATOS_LOG") 2>&1
