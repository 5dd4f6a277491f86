# Environment shared by every Stratos entry point (sourced, not run).
# Keeps all state inside the checkout so nothing reaches the network or $HOME.
STRATOS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export STRATOS_ROOT
export PATH="$STRATOS_ROOT/.venv/bin:$STRATOS_ROOT/.tools/pulumi/bin:$PATH"
export VIRTUAL_ENV="$STRATOS_ROOT/.venv"
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
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="${PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK:-true}"
# SkyPilot: never phone home.
export SKYPILOT_DISABLE_USAGE_COLLECTION=1
# Hugging Face: offline by default here; users online can unset these.
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export HF_HUB_DISABLE_TELEMETRY=1
export STRATOS_CACHE="${STRATOS_CACHE:-$STRATOS_ROOT/.cache}"
# The shared SkyPilot catalog snapshot beside the checkout, when there is one.
if [ -z "${STRATOS_CATALOG_DIR:-}" ] && [ -d "$STRATOS_ROOT/../shared/catalog/v8" ]; then
  export STRATOS_CATALOG_DIR="$(cd "$STRATOS_ROOT/../shared/catalog" && pwd)"
fi
