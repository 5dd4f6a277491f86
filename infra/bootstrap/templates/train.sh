
# ---- training: synthesise (hub teacher in vLLM), train under torchrun, upload, mark, power off ----

STRATOS_NODES=@@{nodes}
STRATOS_NODE_RANK=@@{node_rank}
STRATOS_NPROC=@@{nproc}
# Private address of node 0 (the rendezvous host); empty on node 0 itself.
STRATOS_HEAD=@@{head}
STRATOS_RDZV_PORT="${STRATOS_RDZV_PORT:-@@{rdzv_port}}"
STRATOS_JOB_ID=@@{job_id}
# Hub id of a teacher served by vLLM on this node during synthesis, or empty.
STRATOS_TEACHER_HUB=@@{teacher_hub}
STRATOS_TEACHER_PORT="${STRATOS_TEACHER_PORT:-@@{teacher_port}}"
STRATOS_TEACHER_READY_SECONDS="${STRATOS_TEACHER_READY_SECONDS:-3600}"
STRATOS_VLLM_SPEC=@@{vllm_spec}
# "ENV=secret-ref" lines: what the job reads from its environment.
STRATOS_SECRET_REFS=@@{secret_refs}
STRATOS_PROGRESS_SECONDS="${STRATOS_PROGRESS_SECONDS:-30}"
STRATOS_WAIT_SECONDS="${STRATOS_WAIT_SECONDS:-@@{wait_seconds}}"

RUN_DIR="$STRATOS_HOME/run"
RUN_URI="$STRATOS_STORE_URI/run"
ARTIFACT_DIR="$RUN_DIR/artifact"
PREEMPTED=0
TEACHER_PID=""
PROGRESS_PID=""
NODE_ID=""
JOB=(--config "$STRATOS_HOME/plan.json" --out "$RUN_DIR" --log-file "$RUN_DIR/job.log" --quiet)

finish() {
  local rc=$?
  stop_teacher
  [ -z "$PROGRESS_PID" ] || kill "$PROGRESS_PID" 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ "$STRATOS_NODE_RANK" = 0 ] && [ -d "$RUN_DIR" ]; then
    # Keep the checkpoints: a restarted node (a stopped spot VM) resumes from them.
    log "saving the run dir to $RUN_URI"
    store_put_dir "$RUN_DIR" "$RUN_URI" || log "could not save the run dir"
  fi
  if [ "$rc" -ne 0 ] && [ "$PREEMPTED" = 0 ] && [ "$STRATOS_NODE_RANK" = 0 ]; then
    log "job failed (exit $rc); writing $MARKER_FAILED"
    { printf 'node %s failed (exit %s)\n' "${NODE_ID:-unknown}" "$rc"
      tail -n 50 "$STRATOS_LOG" 2>/dev/null; } >"$STRATOS_HOME/failed.txt"
    store_put_file "$STRATOS_HOME/failed.txt" "$MARKER_FAILED" || log "could not upload the failure marker"
  fi
  log "shutting down: $STRATOS_SHUTDOWN_CMD"
  # Word splitting is intended: the command is a program plus its arguments.
  # shellcheck disable=SC2086
  $STRATOS_SHUTDOWN_CMD || true
}

# The job's latest progress event, uploaded every STRATOS_PROGRESS_SECONDS for `pulumi up` to show.
upload_progress() {
  while sleep "$STRATOS_PROGRESS_SECONDS"; do
    [ -s "$RUN_DIR/job.log" ] || continue
    tail -n 1 "$RUN_DIR/job.log" >"$STRATOS_HOME/progress.json"
    store_put_file "$STRATOS_HOME/progress.json" "$STRATOS_STORE_URI/progress.json" || true
  done
}

# A hub teacher runs in vLLM's OpenAI-compatible server on this node's GPUs (loopback only,
# behind a key made here); the job reaches it through the OpenAI-compatible teacher client.
start_teacher() {
  local waited=0
  if ! command -v vllm >/dev/null 2>&1; then
    log "installing $STRATOS_VLLM_SPEC for the teacher"
    pip_install "$STRATOS_HOME/vllm-venv" "$STRATOS_VLLM_SPEC"
  fi
  STRATOS_TEACHER_API_KEY=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  export STRATOS_TEACHER_API_KEY
  log "starting the teacher $STRATOS_TEACHER_HUB in vLLM on 127.0.0.1:$STRATOS_TEACHER_PORT"
  (
    @@{teacher_token_env}="$STRATOS_TEACHER_API_KEY"
    export @@{teacher_token_env}
    @@{teacher_command}
  ) >"$STRATOS_HOME/teacher.log" 2>&1 &
  TEACHER_PID=$!
  until curl -sf -o /dev/null -H "Authorization: Bearer $STRATOS_TEACHER_API_KEY" \
      "http://127.0.0.1:$STRATOS_TEACHER_PORT/v1/models"; do
    kill -0 "$TEACHER_PID" 2>/dev/null || die "the teacher server exited: $(tail -n 20 "$STRATOS_HOME/teacher.log")"
    [ "$waited" -lt "$STRATOS_TEACHER_READY_SECONDS" ] || die "the teacher server was not ready after ${waited}s"
    sleep 2
    waited=$((waited + 2))
  done
}

# Training needs the GPUs' memory: the teacher server goes before torchrun starts.
stop_teacher() {
  [ -n "$TEACHER_PID" ] || return 0
  log "stopping the teacher server (pid $TEACHER_PID)"
  kill "$TEACHER_PID" 2>/dev/null || true
  wait "$TEACHER_PID" 2>/dev/null || true
  TEACHER_PID=""
}

# Node 0: data, probe, synthesis and the teacher's evaluation, in one process.
synthesise() {
  local teacher=()
  # A node resumed after synthesis needs no teacher: the job skips what is on disk.
  if [ -n "$STRATOS_TEACHER_HUB" ] && ! { [ -f "$RUN_DIR/synth.json" ] && [ -f "$RUN_DIR/eval_teacher.json" ]; }; then
    start_teacher
    teacher=(--teacher-url "http://127.0.0.1:$STRATOS_TEACHER_PORT/v1#$STRATOS_TEACHER_HUB")
  fi
  log "running: stratos distill --until synth ${JOB[*]}"
  run_interruptible stratos distill "${JOB[@]}" --until synth "${teacher[@]}"
  stop_teacher
  if [ "$STRATOS_NODES" -gt 1 ]; then
    log "sharing the synthesised data with the other nodes through $RUN_URI"
    store_put_dir "$RUN_DIR" "$RUN_URI"
  fi
}

# Nodes 1..N-1: wait for node 0's data, then join the rendezvous.
fetch_data() {
  local waited=0
  until store_exists "$RUN_URI/synth.json"; do
    [ "$waited" -lt "$STRATOS_WAIT_SECONDS" ] || die "no data from node 0 after ${waited}s"
    sleep "$STRATOS_POLL_SECONDS"
    waited=$((waited + STRATOS_POLL_SECONDS))
  done
  store_get_dir "$RUN_URI" "$RUN_DIR"
}

# The job over every GPU of every node: torchrun (the interpreter that has Stratos runs it).
train() {
  local rdzv=(--standalone)
  if [ "$STRATOS_NODES" -gt 1 ]; then
    # The static rendezvous keeps --node_rank (c10d would rank nodes by arrival), so global
    # rank 0 - which evaluates and exports - is on node 0, next to the data and the markers.
    rdzv=(--nnodes "$STRATOS_NODES" --node_rank "$STRATOS_NODE_RANK" --rdzv_backend static
          --rdzv_id "$STRATOS_JOB_ID" --rdzv_endpoint "${STRATOS_HEAD:-$(node_ip)}:$STRATOS_RDZV_PORT"
          --rdzv_conf "timeout=$STRATOS_WAIT_SECONDS")
  fi
  log "running: torchrun ${rdzv[*]} --nproc_per_node $STRATOS_NPROC -m stratos.distill"
  run_interruptible python3 -m torch.distributed.run "${rdzv[@]}" --nproc_per_node "$STRATOS_NPROC" -m stratos.distill "${JOB[@]}"
}

upload_result() {
  [ -f "$ARTIFACT_DIR/manifest.json" ] || die "the job finished without $ARTIFACT_DIR/manifest.json"
  log "uploading the artifact to $ARTIFACT_URI"
  store_put_dir "$ARTIFACT_DIR" "$ARTIFACT_URI"
  if [ -f "$RUN_DIR/report.json" ]; then
    store_put_file "$RUN_DIR/report.json" "$STRATOS_STORE_URI/report.json"
  fi
  local manifest_sha plan_sha
  manifest_sha=$(sha256sum "$ARTIFACT_DIR/manifest.json" | cut -d' ' -f1)
  plan_sha=$(sha256sum "$STRATOS_HOME/plan.json" | cut -d' ' -f1)
  printf '{"manifest_sha256": "%s", "plan_sha256": "%s", "node": "%s", "finished_at": "%s"}\n' \
    "$manifest_sha" "$plan_sha" "$NODE_ID" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$STRATOS_HOME/_COMPLETE.json"
  # The marker goes last: its presence means the whole artifact is in the bucket.
  store_put_file "$STRATOS_HOME/_COMPLETE.json" "$MARKER_OK"
  log "done; manifest sha256 $manifest_sha"
}

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
NODE_ID=$(node_id) || die "cannot read this node's id from the metadata server"
load_node_secrets "$STRATOS_SECRET_REFS"
# The plan Pulumi wrote next to the run (the prefix is named by the plan's hash).
store_get_file "$STRATOS_STORE_URI/plan.json" "$STRATOS_HOME/plan.json"
if [ "$STRATOS_NODE_RANK" = 0 ] && store_exists "$MARKER_FAILED"; then
  # A failure marker here is a replaced node's: this node is the new attempt.
  store_rm "$MARKER_FAILED"
fi
if store_exists "$RUN_URI/"; then
  log "resuming from $RUN_URI"
  store_get_dir "$RUN_URI" "$RUN_DIR"
fi
install_stratos
# The task's own files (dataset, knowledge, taskModule) ride in the source archive under task/:
# unpacked, and the job run inside them, so the plan's relative paths resolve here too.
@@{enter_task_dir}
if [ "$STRATOS_NODE_RANK" = 0 ]; then
  upload_progress &
  PROGRESS_PID=$!
  synthesise
else
  fetch_data
fi
train
if [ "$STRATOS_NODE_RANK" = 0 ]; then
  upload_result
fi
