
# ---- training: run the planned distillation job, upload, mark, power off ----

RUN_DIR="$STRATOS_HOME/run"
RUN_URI="$STRATOS_STORE_URI/run"
ARTIFACT_DIR="$RUN_DIR/artifact"
PREEMPTED=0

finish() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -d "$RUN_DIR" ]; then
    # Keep the checkpoints: a restarted node (a stopped spot VM) resumes from them.
    log "saving the run dir to $RUN_URI"
    store_put_dir "$RUN_DIR" "$RUN_URI" || log "could not save the run dir"
  fi
  if [ "$rc" -ne 0 ] && [ "$PREEMPTED" = 0 ]; then
    log "job failed (exit $rc); writing $MARKER_FAILED"
    tail -n 50 "$STRATOS_LOG" >"$STRATOS_HOME/failed.txt" 2>/dev/null || true
    store_put_file "$STRATOS_HOME/failed.txt" "$MARKER_FAILED" || log "could not upload the failure marker"
  fi
  log "shutting down: $STRATOS_SHUTDOWN_CMD"
  # Word splitting is intended: the command is a program plus its arguments.
  # shellcheck disable=SC2086
  $STRATOS_SHUTDOWN_CMD || true
}

cat >"$STRATOS_HOME/plan.json" <<'STRATOS_PLAN_EOF'
@@{plan_json}
STRATOS_PLAN_EOF

# On AWS, run again at every boot (a stopped spot node that AWS restarts resumes;
# GCP reruns its startup script by itself).
if [ "$STRATOS_CLOUD" = aws ] && [ -d "$STRATOS_PER_BOOT_DIR" ] && [ ! -e "$STRATOS_PER_BOOT_DIR/stratos-train.sh" ]; then
  install -m 700 "$0" "$STRATOS_PER_BOOT_DIR/stratos-train.sh"
fi

if store_exists "$MARKER_OK"; then
  log "artifact already complete at $ARTIFACT_URI; nothing to do"
  # shellcheck disable=SC2086
  $STRATOS_SHUTDOWN_CMD || true
  exit 0
fi

trap finish EXIT
# Preemption (spot) or shutdown: save progress, but this is not a failed job.
trap 'PREEMPTED=1; exit 143' TERM
store_put_file "$STRATOS_HOME/plan.json" "$STRATOS_STORE_URI/plan.json"
if store_exists "$RUN_URI/"; then
  log "resuming from the checkpoints in $RUN_URI"
  store_get_dir "$RUN_URI" "$RUN_DIR"
fi
install_stratos
log "running: stratos distill --config $STRATOS_HOME/plan.json --out $RUN_DIR"
run_interruptible stratos distill --config "$STRATOS_HOME/plan.json" --out "$RUN_DIR" --log-file "$RUN_DIR/job.log" --quiet
[ -f "$ARTIFACT_DIR/manifest.json" ] || die "the job finished without $ARTIFACT_DIR/manifest.json"
log "uploading the artifact to $ARTIFACT_URI"
store_put_dir "$ARTIFACT_DIR" "$ARTIFACT_URI"
if [ -f "$RUN_DIR/report.json" ]; then
  store_put_file "$RUN_DIR/report.json" "$STRATOS_STORE_URI/report.json"
fi
manifest_sha=$(sha256sum "$ARTIFACT_DIR/manifest.json" | cut -d' ' -f1)
plan_sha=$(sha256sum "$STRATOS_HOME/plan.json" | cut -d' ' -f1)
printf '{"manifest_sha256": "%s", "plan_sha256": "%s", "finished_at": "%s"}\n' \
  "$manifest_sha" "$plan_sha" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$STRATOS_HOME/_COMPLETE.json"
# The marker goes last: its presence means the whole artifact is in the bucket.
store_put_file "$STRATOS_HOME/_COMPLETE.json" "$MARKER_OK"
log "done; manifest sha256 $manifest_sha"
