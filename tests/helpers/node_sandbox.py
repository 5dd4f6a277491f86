"""A sandbox that runs the rendered node scripts for real on this machine.

A folder stands in for the bucket (``STRATOS_STORE_KIND=dir``) unless a test points
the scripts at an S3 server; the shutdown command touches a file instead of powering
off; the secret store is a folder of files. Stand-ins, each recording what it was
asked, replace only what needs a GPU node:

* ``stratos`` (bash): the job's ``--until synth`` step - data, probe, synthesis and,
  with ``--teacher-url``, one real chat request to the teacher server;
* ``python3`` (bash): records a ``-m torch.distributed.run`` launch and runs the
  trainer stand-in once (``STUB_TORCHRUN=1``, fast), or hands everything to the real
  interpreter (the two-node test runs the real torchrun over gloo);
* a ``stratos.distill`` stand-in package (first on ``PYTHONPATH``): what torchrun
  runs; joins the process group when there are several ranks, all-reduces, and on
  rank 0 writes the artifact, its manifest and ``report.json``;
* ``vllm`` (Python): an OpenAI-compatible stand-in that checks the bearer key and
  records its argv (``VLLM_STAND_IN=serve`` makes it exec ``stratos serve`` on a tiny
  model instead: the real server code).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

NODE_ID = "i-0sandbox0000000"
TOKEN = "tok-3f9a-very-secret"

STRATOS_STUB = r"""#!/bin/bash
# Stand-in for `stratos distill ... --until synth`: records its arguments and what the
# run dir held, writes the data the training step reads, asks the teacher once.
set -euo pipefail
rank="${STRATOS_NODE_RANK_SEEN:-0}"
echo "$@" >"$SANDBOX/stratos-args"
[ "$1" = distill ] || exit 64
shift
out="" url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --teacher-url) url="$2"; shift 2 ;;
    --config) cp "$2" "$SANDBOX/plan-seen.json"; shift 2 ;;
    *) shift ;;
  esac
done
mkdir -p "$out/data"
ls "$out" >"$SANDBOX/run-dir-at-start"
printf 'step 50' >"$out/checkpoint.txt"
env | grep -E '^(STRATOS_TEACHER_API_KEY|HF_TOKEN)=' | sort >"$SANDBOX/job-env" || true
[ "${STUB_FAIL:-0}" = 1 ] && { echo "CUDA out of memory" >&2; exit 3; }
[ "${STUB_PREEMPT:-0}" = 1 ] && { kill -TERM "$PPID"; exit 1; }
if [ -n "$url" ]; then
  base="${url%%#*}" model="${url#*#}"
  curl -sf -H "Authorization: Bearer $STRATOS_TEACHER_API_KEY" -H 'Content-Type: application/json' \
    -d "{\"model\": \"$model\", \"max_tokens\": 4, \"messages\": [{\"role\": \"user\", \"content\": \"1112345678999m\"}]}" \
    "$base/chat/completions" >"$SANDBOX/teacher-answer.json"
fi
printf '{"question": "q", "answer": "a"}\n' >"$out/data/train_synth.jsonl"
printf '{"mode": "injection"}' >"$out/synth.json"
printf '{"time": 1, "phase": "synth", "progress": 1.0}\n' >>"$out/job.log"
"""

TRAINER_STUB = r'''"""Stand-in for ``python -m stratos.distill`` under torchrun (see tests/helpers/node_sandbox.py)."""
import hashlib, json, os, socket, sys, time
from pathlib import Path

args = sys.argv[1:]
out = Path(args[args.index("--out") + 1])
log = Path(args[args.index("--log-file") + 1])
sandbox = Path(os.environ["SANDBOX"])
rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
node = os.environ.get("STRATOS_NODE_ID", "?")
port = int(os.environ.get("STRATOS_TEACHER_PORT") or 0)
teacher_up = False
if port:
    with socket.socket() as s:
        teacher_up = s.connect_ex(("127.0.0.1", port)) == 0
total = rank + 1
if world > 1:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    t = torch.tensor([rank + 1.0])
    dist.all_reduce(t)
    total = int(t.item())
    dist.destroy_process_group()
record = {"rank": rank, "world": world, "local_rank": int(os.environ.get("LOCAL_RANK", "0")), "sum": total,
          "data": (out / "data" / "train_synth.jsonl").is_file(), "teacher_up": teacher_up, "node": node}
(sandbox / f"trainer-{node}-{rank}.json").write_text(json.dumps(record))
if rank == 0:
    for i in range(int(os.environ.get("STUB_STEPS", "1"))):
        with open(log, "a") as f:
            f.write(json.dumps({"time": time.time(), "phase": "train", "progress": (i + 1) / 10, "loss": 2.0 - i / 10}) + "\n")
        time.sleep(float(os.environ.get("STUB_STEP_SECONDS", "0")))
    if os.environ.get("STUB_TRAIN_FAIL") == "1":
        sys.exit("RuntimeError: NCCL error: unhandled system error")
    art = out / "artifact"
    art.mkdir(parents=True, exist_ok=True)
    (art / "model.safetensors").write_text("weights")
    (art / "config.json").write_text("{}")
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in art.iterdir() if p.name != "manifest.json"}
    (art / "manifest.json").write_text(json.dumps({"format": "stratos-artifact/1", "files": files}))
    accuracy = float(os.environ.get("STUB_ACCURACY", "0.81"))
    (out / "report.json").write_text(json.dumps({"metrics": {"student_accuracy": accuracy, "samples": [1, 2]}}))
'''

PYTHON_SHIM = """#!/bin/bash
# python3 for the node scripts: a torchrun launch is recorded and, with STUB_TORCHRUN=1,
# replaced by one run of the trainer stand-in; everything else is the real interpreter.
if [ "${1:-}" = -m ] && [ "${2:-}" = torch.distributed.run ]; then
  echo "${@:3}" >"$SANDBOX/torchrun-args-${STRATOS_NODE_ID:-x}"
  if [ "${STUB_TORCHRUN:-0}" = 1 ]; then
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -m ]; do shift; done
    shift 2
    exec "%(python)s" -m stratos.distill "$@"
  fi
fi
exec "%(python)s" "$@"
"""

FAKE_VLLM = r'''#!%(python)s
"""Stand-in for `vllm serve`: OpenAI-compatible /v1/models and /v1/chat/completions behind
the key in $VLLM_API_KEY (never argv), or (VLLM_STAND_IN=serve) `stratos serve` on a tiny model."""
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

argv = sys.argv[1:]
Path(os.environ["SANDBOX"], "vllm-args").write_text(" ".join(argv))
opt = lambda k: argv[argv.index(k) + 1]
key, host, port, name = os.environ["VLLM_API_KEY"], opt("--host"), int(opt("--port")), opt("--served-model-name")
if os.environ.get("VLLM_STAND_IN") == "serve":
    os.environ["STRATOS_API_TOKEN"] = key
    os.environ.pop("PYTHONPATH", None)  # the real stratos, not the trainer stand-in
    os.execv(sys.executable, [sys.executable, "-m", "stratos.cli", "serve", "--model", os.environ["TINY_MODEL"],
                              "--host", host, "--port", str(port), "--model-name", name, "--no-verify"])


class H(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self):
        return self.headers.get("Authorization") == f"Bearer {key}"

    def do_GET(self):
        self._send(200 if self._authorised() else 401, {"data": [{"id": name}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._authorised():
            return self._send(401, {"error": "bad key"})
        self._send(200, {"model": name, "choices": [{"message": {"role": "assistant", "content": "3m 6m"}}]})

    def log_message(self, *a):
        pass


ThreadingHTTPServer((host, port), H).serve_forever()
'''


def _exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def make_sandbox(root: Path) -> Path:
    """``root`` with ``bin/`` (stand-ins), ``py/`` (the trainer package), ``bucket/`` and ``secrets/``."""
    for d in ("bin", "bucket", "secrets", "py/stratos/distill"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "secrets" / "token").write_text(TOKEN)
    py = {"python": sys.executable}
    _exe(root / "bin" / "stratos", STRATOS_STUB)
    _exe(root / "bin" / "python3", PYTHON_SHIM % py)
    _exe(root / "bin" / "vllm", FAKE_VLLM % py)
    (root / "py" / "stratos" / "__init__.py").write_text("")
    (root / "py" / "stratos" / "distill" / "__init__.py").write_text("")
    (root / "py" / "stratos" / "distill" / "__main__.py").write_text(TRAINER_STUB)
    return root


def put_plan(sandbox: Path, store_uri: str, plan) -> Path:
    """The run's plan.json where Pulumi writes it (the dir standing in for the bucket)."""
    run = run_dir(sandbox, store_uri)
    run.mkdir(parents=True, exist_ok=True)
    (run / "plan.json").write_text(plan.model_dump_json())
    return run


def run_dir(sandbox: Path, uri: str) -> Path:
    return sandbox / "bucket" / uri.split("://", 1)[1]


def node_env(sandbox: Path, node: str, **env: str) -> dict[str, str]:
    """The environment a rendered script runs in; ``env`` overrides."""
    return {
        "PATH": f"{sandbox / 'bin'}:{os.environ['PATH']}",
        "PYTHONPATH": str(sandbox / "py"),
        "SANDBOX": str(sandbox),
        "STRATOS_STORE_KIND": "dir",
        "STRATOS_STORE_ROOT": str(sandbox / "bucket"),
        "STRATOS_HOME": str(sandbox / f"home-{node}"),
        "STRATOS_LOG": str(sandbox / f"{node}.log"),
        "STRATOS_SHUTDOWN_CMD": f"touch {sandbox / f'{node}-powered-off'}",
        "STRATOS_SECRETS_DIR": str(sandbox / "secrets"),
        "STRATOS_POLL_SECONDS": "1",
        "STRATOS_PROGRESS_SECONDS": "1",
        "STRATOS_SYSTEMD": "0",
        "STRATOS_PER_BOOT_DIR": str(sandbox / "per-boot"),
        "STRATOS_NODE_ID": NODE_ID,
        "STRATOS_NODE_IP": "127.0.0.1",
        "STUB_TORCHRUN": "1",
        **env,
    }


def start_node(sandbox: Path, script: str, node: str, **env: str) -> subprocess.Popen:
    path = sandbox / f"{node}.sh"
    path.write_text(script)
    # cwd: the sandbox, so `python -m stratos.distill` finds the stand-in, not a checkout in cwd.
    return subprocess.Popen(["bash", str(path)], env=node_env(sandbox, node, **env), cwd=sandbox,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def stop_node(proc: subprocess.Popen) -> None:
    """Kill a node's whole process group (its torchrun, teacher server, progress loop)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_node(sandbox: Path, script: str, node: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    proc = start_node(sandbox, script, node, **env)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop_node(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def trainer_records(sandbox: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sandbox.glob("trainer-*.json"))]
