# shellcheck shell=bash
# Environment shared by every Stratos entry point (sourced, not run).
#
#   source scripts/env.sh            online (default): your own `pulumi login` and secrets
#                                    provider, Pulumi plugin downloads, the Hugging Face Hub,
#                                    SkyPilot's own price catalog
#   source scripts/env.sh offline    the offline/local profile: Pulumi state in the checkout
#                                    (.state/, file backend), local passphrase secrets, no plugin
#                                    downloads or update checks, Hugging Face offline, the catalog
#                                    snapshot beside the checkout. scripts/test.sh and
#                                    scripts/run-local.sh use it.
#
# STRATOS_PROFILE=offline|online does the same for callers that cannot pass an argument.
# Variables you set yourself are kept in both profiles.
STRATOS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export STRATOS_ROOT
# A sourcing script's own arguments reach us as "$@": only these two words choose a profile.
if [ "${1:-}" = offline ] || [ "${1:-}" = online ]; then
  STRATOS_PROFILE="$1"
fi
export STRATOS_PROFILE="${STRATOS_PROFILE:-online}"
export PATH="$STRATOS_ROOT/.venv/bin:$STRATOS_ROOT/.tools/pulumi/bin:$PATH"
export VIRTUAL_ENV="$STRATOS_ROOT/.venv"
export STRATOS_CACHE="${STRATOS_CACHE:-$STRATOS_ROOT/.cache}"
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="${PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK:-true}"
# No usage reports from SkyPilot or the Hub client in either profile.
export SKYPILOT_DISABLE_USAGE_COLLECTION=1
export HF_HUB_DISABLE_TELEMETRY=1

case "$STRATOS_PROFILE" in
  online) ;;
  offline)
    # Pulumi: local file backend, passphrase secrets, no update checks or plugin downloads.
    export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$STRATOS_ROOT/.state}"
    # The default passphrase is public (it is right here), so it is for the `local` stack only:
    # the program refuses a cloud stack whose secrets it would encrypt (infra/config.py).
    # For aws/gcp stacks export your own PULUMI_CONFIG_PASSPHRASE before sourcing this file,
    # or give the stack a KMS secrets provider (docs/cloud.md, "State and secrets").
    if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
      export PULUMI_CONFIG_PASSPHRASE=stratos-local-dev
    fi
    export PULUMI_SKIP_UPDATE_CHECK=1
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=1
    # Hugging Face: models come from local dirs and the offline GGUF packages only.
    export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
    export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
    # Prices: the SkyPilot catalog snapshot beside the checkout, when there is one.
    if [ -z "${STRATOS_CATALOG_DIR:-}" ] && [ -d "$STRATOS_ROOT/../shared/catalog/v8" ]; then
      STRATOS_CATALOG_DIR="$(cd "$STRATOS_ROOT/../shared/catalog" && pwd)"
      export STRATOS_CATALOG_DIR
    fi
    ;;
  *)
    echo "scripts/env.sh: unknown profile '$STRATOS_PROFILE'; use 'online' or 'offline'" >&2
    # shellcheck disable=SC2317  # `exit` only when the file is run instead of sourced
    return 2 2>/dev/null || exit 2
    ;;
esac
