
# ---- serving: wait for the training marker, fetch and verify, serve with vLLM ----

STRATOS_PORT=@@{port}
STRATOS_MODEL_NAME=@@{model_name}
STRATOS_TOKEN_REF=@@{token_ref}
STRATOS_WAIT_SECONDS="${STRATOS_WAIT_SECONDS:-@@{wait_seconds}}"
STRATOS_VLLM_SPEC=@@{vllm_spec}
STRATOS_SYSTEMD="${STRATOS_SYSTEMD:-1}"
MODEL_DIR="$STRATOS_HOME/model"

# First boot: hand over to a systemd unit so the server survives reboots and
# restarts on failure; the unit runs this same file with STRATOS_IN_UNIT=1.
if [ "$STRATOS_SYSTEMD" = 1 ] && [ -z "${STRATOS_IN_UNIT:-}" ] && command -v systemctl >/dev/null 2>&1; then
  cp "$0" "$STRATOS_HOME/serve.sh"
  cat >/etc/systemd/system/stratos-serve.service <<UNIT
[Unit]
Description=Stratos OpenAI-compatible endpoint (vLLM)
After=network-online.target
Wants=network-online.target

[Service]
Environment=STRATOS_IN_UNIT=1
ExecStart=/bin/bash $STRATOS_HOME/serve.sh
Restart=on-failure
RestartSec=30

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --now stratos-serve.service
  log "started stratos-serve.service"
  exit 0
fi

load_store_env
waited=0
until store_exists "$MARKER_OK"; do
  if store_exists "$MARKER_FAILED"; then
    die "training failed; see $MARKER_FAILED"
  fi
  if [ "$waited" -ge "$STRATOS_WAIT_SECONDS" ]; then
    die "no $MARKER_OK after ${waited}s; check the training node's log"
  fi
  sleep "$STRATOS_POLL_SECONDS"
  waited=$((waited + STRATOS_POLL_SECONDS))
done

log "artifact complete; downloading $ARTIFACT_URI"
store_get_file "$MARKER_OK" "$STRATOS_HOME/_COMPLETE.json"
store_get_dir "$ARTIFACT_URI" "$MODEL_DIR"
# Refuse a truncated or corrupted download: the marker names the manifest's hash
# and the manifest names every file's hash.
python3 - "$MODEL_DIR" "$STRATOS_HOME/_COMPLETE.json" <<'PY'
import hashlib, json, pathlib, sys
root, marker = pathlib.Path(sys.argv[1]), json.loads(pathlib.Path(sys.argv[2]).read_text())
sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()
if sha(root / "manifest.json") != marker["manifest_sha256"]:
    sys.exit("manifest.json does not match the training marker")
bad = [n for n, h in json.loads((root / "manifest.json").read_text())["files"].items()
       if not (root / n).is_file() or sha(root / n) != h]
if bad:
    sys.exit(f"artifact files missing or corrupted: {bad}")
PY

if ! command -v vllm >/dev/null 2>&1; then
  log "installing $STRATOS_VLLM_SPEC"
  pip_install "$STRATOS_HOME/vllm-venv" "$STRATOS_VLLM_SPEC"
fi

umask 077
# The token comes from the secret store at run time; it is never in this file.
@@{token_env}="$(fetch_secret "$STRATOS_TOKEN_REF")"
export @@{token_env}
log "serving $STRATOS_MODEL_NAME on port $STRATOS_PORT"
@@{serve_command}
