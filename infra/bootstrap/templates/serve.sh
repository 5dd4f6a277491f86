
# ---- serving: wait for the training marker, fetch and verify, serve with vLLM behind TLS ----

STRATOS_PORT=@@{port}
STRATOS_UPSTREAM_PORT=@@{upstream_port}
STRATOS_MODEL_NAME=@@{model_name}
STRATOS_TOKEN_REF=@@{token_ref}
STRATOS_TLS_KEY_REF=@@{tls_key_ref}
STRATOS_WAIT_SECONDS="${STRATOS_WAIT_SECONDS:-@@{wait_seconds}}"
STRATOS_VLLM_SPEC=@@{vllm_spec}
STRATOS_SYSTEMD="${STRATOS_SYSTEMD:-1}"
MODEL_DIR="$STRATOS_HOME/model"
TLS_DIR="$STRATOS_HOME/tls"
# The deadline is written once, at the first wait, so a restart or a reboot never resets it.
DEADLINE_FILE="$STRATOS_HOME/wait-deadline"
GAVE_UP="$STRATOS_HOME/GAVE_UP"
# Exit status of a deliberate stop: the unit does not restart on it.
EXIT_GAVE_UP=75

# Stop for good: say why (log, serial console, $GAVE_UP), power off, and never come back to wait.
give_up() {
  log "error: $*; giving up and powering off (the GPU must not bill while nothing can be served)"
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >"$GAVE_UP"
  # shellcheck disable=SC2086
  $STRATOS_SHUTDOWN_CMD || true
  exit "$EXIT_GAVE_UP"
}

# First boot: hand over to a systemd unit so the server survives reboots and
# restarts on failure; the unit runs this same file with STRATOS_IN_UNIT=1.
if [ "$STRATOS_SYSTEMD" = 1 ] && [ -z "${STRATOS_IN_UNIT:-}" ] && command -v systemctl >/dev/null 2>&1; then
  cp "$0" "$STRATOS_HOME/serve.sh"
  cat >/etc/systemd/system/stratos-serve.service <<UNIT
[Unit]
Description=Stratos OpenAI-compatible endpoint (vLLM)
After=network-online.target
Wants=network-online.target

# A crash loop (vLLM failing to start, a broken download) powers the node off after 5 tries.
StartLimitIntervalSec=3600
StartLimitBurst=5
StartLimitAction=poweroff

[Service]
Environment=STRATOS_IN_UNIT=1
ExecStart=/bin/bash $STRATOS_HOME/serve.sh
Restart=on-failure
RestartSec=30
RestartPreventExitStatus=$EXIT_GAVE_UP

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --now stratos-serve.service
  log "started stratos-serve.service"
  exit 0
fi

[ -e "$GAVE_UP" ] && give_up "gave up before: $(cat "$GAVE_UP")"
load_store_env
[ -s "$DEADLINE_FILE" ] || echo $(($(date +%s) + STRATOS_WAIT_SECONDS)) >"$DEADLINE_FILE"
deadline=$(cat "$DEADLINE_FILE")
until store_exists "$MARKER_OK"; do
  if store_exists "$MARKER_FAILED"; then
    give_up "training failed; see $MARKER_FAILED"
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    give_up "no $MARKER_OK within ${STRATOS_WAIT_SECONDS}s of the first boot; check the training node's log"
  fi
  sleep "$STRATOS_POLL_SECONDS"
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

install_stratos  # the TLS gateway (stratos-gateway)
if ! command -v vllm >/dev/null 2>&1; then
  log "installing $STRATOS_VLLM_SPEC"
  pip_install "$STRATOS_HOME/vllm-venv" "$STRATOS_VLLM_SPEC"
fi

# The token and the TLS key come from the secret store at run time; neither is in this file.
@@{token_env}="$(fetch_secret "$STRATOS_TOKEN_REF")"
export @@{token_env}
mkdir -p "$TLS_DIR"
cat >"$TLS_DIR/cert.pem" <<'STRATOS_CERT_EOF'
@@{tls_cert}
STRATOS_CERT_EOF
fetch_secret "$STRATOS_TLS_KEY_REF" >"$TLS_DIR/key.pem"
log "serving $STRATOS_MODEL_NAME on port $STRATOS_PORT (TLS, /v1 only; vLLM on 127.0.0.1:$STRATOS_UPSTREAM_PORT)"
@@{serve_command} &
vllm_pid=$!
stratos-gateway --port "$STRATOS_PORT" --upstream "http://127.0.0.1:$STRATOS_UPSTREAM_PORT" \
  --cert "$TLS_DIR/cert.pem" --key "$TLS_DIR/key.pem" --model-dir "$MODEL_DIR" &
gateway_pid=$!
# Either one ending ends the service (the unit restarts both); the other must not linger.
status=0
wait -n "$vllm_pid" "$gateway_pid" || status=$?
kill "$vllm_pid" "$gateway_pid" 2>/dev/null || true
wait "$vllm_pid" "$gateway_pid" 2>/dev/null || true
log "the endpoint stopped (exit $status)"
exit "$status"
