
# ---- spot interruptions: the cloud's notice becomes a SIGTERM to the job ----
# AWS gives a spot node 2 minutes (spot/instance-action in the metadata service, IMDSv2);
# GCP 30 s (instance/preempted turns TRUE, then an ACPI shutdown). The job checkpoints at
# its next step boundary on SIGTERM and exits 143; the EXIT trap then uploads the run dir.

STRATOS_IMDS_URL="${STRATOS_IMDS_URL:-http://169.254.169.254}"
STRATOS_GCE_METADATA_URL="${STRATOS_GCE_METADATA_URL:-http://metadata.google.internal}"
STRATOS_NOTICE_POLL_SECONDS="${STRATOS_NOTICE_POLL_SECONDS:-5}"
INTERRUPTED="$STRATOS_HOME/interrupted"

# True once the cloud has announced that it reclaims this node.
interruption_notice() {
  local token
  case "$STRATOS_CLOUD" in
    aws)
      token=$(curl -sf -m 2 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" "$STRATOS_IMDS_URL/latest/api/token") || return 1
      curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" "$STRATOS_IMDS_URL/latest/meta-data/spot/instance-action" >/dev/null ;;
    gcp)
      [ "$(curl -sf -m 2 -H 'Metadata-Flavor: Google' "$STRATOS_GCE_METADATA_URL/computeMetadata/v1/instance/preempted")" = TRUE ] ;;
    *) return 1 ;;
  esac
}

# Run the job ("$@") with a watcher beside it. A notice, or a SIGTERM to this script (a
# shutdown), sends the job SIGTERM; we wait until the job has exited (its checkpoint is
# written) before anything else runs, and return its status.
run_interruptible() {
  rm -f "$INTERRUPTED"
  "$@" &
  local job=$! rc=0 watcher
  (
    while kill -0 "$job" 2>/dev/null; do
      if interruption_notice; then
        log "interruption notice: the job checkpoints at its next step and stops"
        touch "$INTERRUPTED"
        kill -TERM "$job"
        exit 0
      fi
      sleep "$STRATOS_NOTICE_POLL_SECONDS"
    done
  ) &
  watcher=$!
  trap 'touch "$INTERRUPTED"; kill -TERM "$job" 2>/dev/null || true' TERM
  while :; do
    rc=0
    wait "$job" || rc=$?
    kill -0 "$job" 2>/dev/null || break
  done
  trap 'PREEMPTED=1; exit 143' TERM
  kill "$watcher" 2>/dev/null || true
  if [ -e "$INTERRUPTED" ]; then
    PREEMPTED=1
    # AWS stops a reclaimed persistent spot node itself and starts it again when capacity
    # returns; a stop of our own would count as the user's and disable that restart.
    [ "$STRATOS_CLOUD" = aws ] && STRATOS_SHUTDOWN_CMD=true
  fi
  return "$rc"
}
