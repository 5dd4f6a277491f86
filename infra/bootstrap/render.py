"""Render the node bootstrap scripts (``templates/*.sh``) from a plan.

Why templates and not Python-built strings: the scripts are real shell files a
user can read, shellcheck and run by hand; rendering only fills ``@@{name}``
slots with shell-quoted values, so nothing from the plan is ever interpreted by
the shell (the plan itself is the run's plan.json in the store, which the node fetches).

The same training script runs on AWS and GCP; only the storage and secret
commands differ, chosen by ``cloud``. The tests run the rendered scripts in a
sandbox with ``STRATOS_STORE_KIND=dir`` (a folder standing in for the bucket).
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.bootstrap.compact import compact
from stratos.planner.plan import Plan
from stratos.serve.vllm import UPSTREAM_PORT, VLLM_SPEC, VllmServe
from stratos.zoo.endpoint import teacher_model

TEMPLATES = Path(__file__).with_name("templates")
#: Object name of the Stratos source archive Pulumi uploads next to the artifact.
SOURCE_ARCHIVE = "stratos-src.zip"
#: The archive's folder of task files; a node runs the job inside its unpacked copy.
TASK_DIR = "task"
#: pip requirement the training node installs; ``@STRATOS_HOME@`` is filled in on the node.
INSTALL_SPEC = f"stratos[train] @ file://@STRATOS_HOME@/{SOURCE_ARCHIVE}"
#: What the serving node installs besides vLLM: the TLS gateway (``stratos-gateway``).
SERVE_INSTALL_SPEC = f"stratos[serve] @ file://@STRATOS_HOME@/{SOURCE_ARCHIVE}"
MODEL_DIR_SLOT = "@MODEL_DIR@"
#: Loopback port of a hub teacher's vLLM server on the training node during synthesis.
TEACHER_PORT = 8100
#: torchrun's (static) rendezvous port on node 0 (NCCL picks its own ports between the nodes).
RDZV_PORT = 29500
#: Synthesis prompts are short; a teacher's full context would only shrink vLLM's KV cache.
TEACHER_MAX_MODEL_LEN = 4096
_PORT_SENTINEL = 65535
#: URI scheme -> the store commands the script uses (gs:// through gcloud, s3:// through aws).
STORE_KIND = {"s3": "s3", "gs": "gs"}
#: AWS caps user-data at 16 KiB; GCP metadata values at 256 KiB.
USER_DATA_LIMIT = {"aws": 16 * 1024, "gcp": 256 * 1024}


class _Slots(string.Template):
    delimiter = "@@"


@dataclass(frozen=True)
class NodeScript:
    """Where a node's job lives: the run's bucket prefix and, for serving, the endpoint."""

    cloud: str
    region: str
    store_uri: str  # s3://bucket/runs/<stack> or gs://...
    port: int = 8000
    token_ref: str = ""  # SSM parameter name / Secret Manager secret id
    model_name: str = "stratos-student"
    secret_region: str = ""  # where the token secret lives (the serving region); default ``region``
    store_env_ref: str = ""  # secret with KEY=VALUE lines for a store on another cloud
    job_id: str = ""  # the run's id (torchrun's rendezvous id)
    node_rank: int = 0  # training: 0 = the head (synthesis, upload, markers)
    head: str = ""  # training nodes 1..N-1: node 0's private address
    secret_refs: tuple[tuple[str, str], ...] = ()  # (env var, secret ref) the training job reads
    tls_cert: str = ""  # PEM certificate (chain) the serving node's gateway presents (public)
    tls_key_ref: str = ""  # secret holding that certificate's private key


def teacher_hub_id(plan: Plan) -> str:
    """The hub id a GPU training node serves in vLLM for synthesis; "" when the job runs the
    teacher itself (an API, a PyPI GGUF, rules) or the node has no GPU."""
    spec = teacher_model(plan.teacher)  # a zoo id or an endpoint (which the job reaches itself)
    if plan.train.accelerator_count < 1 or not spec.source.startswith("hub:"):
        return ""
    return spec.source.split(":", 1)[1]


def teacher_command(plan: Plan, hub_id: str) -> tuple[str, str]:
    """vLLM on loopback, tensor parallel over the node's GPUs (flags from ``stratos.serve.vllm``),
    and the environment variable it reads its key from."""
    vllm = VllmServe(
        model_dir=hub_id,
        served_model_name=hub_id,
        host="127.0.0.1",
        port=_PORT_SENTINEL,
        tensor_parallel_size=max(plan.train.accelerator_count, 1),
        max_model_len=TEACHER_MAX_MODEL_LEN,
    )
    line = vllm.render().replace(f"--port {_PORT_SENTINEL}", '--port "$STRATOS_TEACHER_PORT"')
    return line, vllm.token_env


def source_archive(task_files: Sequence[str] = (), task_root: Path | None = None) -> dict[str, Path]:
    """The files of this checkout that make an installable Stratos (pip accepts the zip), by
    their path in the archive, plus the task's own files (its dataset, knowledge text or
    ``taskModule``) under ``task/`` at their project-relative paths: the node unpacks that
    folder and runs the job inside it, so the plan's relative paths resolve there as here.
    Bytecode is left out: it changes whenever Python runs, and an archive that changes on its
    own would make every ``pulumi up`` re-upload it."""
    root = Path(__file__).resolve().parents[2]
    files = {name: root / name for name in ("pyproject.toml", "README.md")}
    for path in sorted((root / "stratos").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[path.relative_to(root).as_posix()] = path
    base = task_root or root  # the project root the task's paths are relative to
    for name in task_files:
        files[f"{TASK_DIR}/{_shippable(name, base)}"] = base / name
    return files


def enter_task_dir() -> str:
    """The node's line that unpacks ``task/`` from the source archive and enters it (only for plans with task files)."""
    code = (
        "import sys,zipfile;z=zipfile.ZipFile(sys.argv[1]);"
        f"z.extractall(sys.argv[2],[n for n in z.namelist() if n.startswith('{TASK_DIR}/')])"
    )
    archive = '"$STRATOS_HOME/$STRATOS_SOURCE_ARCHIVE"'
    return (
        f'[ -f {archive} ] || store_get_file "$STRATOS_STORE_URI/$STRATOS_SOURCE_ARCHIVE" {archive}; '
        f'python3 -c "{code}" {archive} "$STRATOS_HOME" || die "cannot unpack the task files of the source archive"; '
        f'cd "$STRATOS_HOME/{TASK_DIR}" || die "no task files in the source archive"'
    )


def _shippable(name: str, root: Path) -> str:
    """``name`` as a project-relative path a node can hold; ``ConfigError`` for one it cannot."""
    from stratos.exceptions import ConfigError

    path = Path(name)
    if path.is_absolute() or ".." in path.parts:
        raise ConfigError(
            f"task file {name!r} must be a path inside the project (relative, no '..') to ship to a cloud node; "
            "move it under the project folder and name it relative to Pulumi.yaml"
        )
    if not (root / path).is_file():
        raise ConfigError(f"task file {name!r}: no such file in {root} (relative paths start at the project root)")
    return path.as_posix()


def _render(node: NodeScript, role: str, body: str, extra: dict[str, str]) -> str:
    if node.cloud not in USER_DATA_LIMIT:
        raise ValueError(f"no bootstrap for cloud {node.cloud!r}; expected one of {sorted(USER_DATA_LIMIT)}")
    scheme = node.store_uri.split("://", 1)[0]
    if scheme not in STORE_KIND:
        raise ValueError(f"store {node.store_uri!r} is neither s3:// nor gs://")
    parts = ("header.sh", "common.sh", *(("preempt.sh",) if role == "train" else ()), body)
    text = "".join((TEMPLATES / f).read_text() for f in parts)
    q = shlex.quote
    slots = {
        "role": q(role),
        "cloud": q(node.cloud),
        "region": q(node.region),
        "secret_region": q(node.secret_region or node.region),
        "store_uri": q(node.store_uri.rstrip("/")),
        "store_kind": STORE_KIND[scheme],
        "store_env_ref": q(node.store_env_ref),
        "install_spec": q(INSTALL_SPEC),
        "source_archive": q(SOURCE_ARCHIVE),
        **extra,
    }
    script = compact(_Slots(text).substitute(slots))
    limit = USER_DATA_LIMIT[node.cloud]
    if len(script.encode()) > limit:
        raise ValueError(f"{role} bootstrap is {len(script.encode())} bytes, over {node.cloud}'s {limit}-byte limit")
    return script


def render_training(plan: Plan, node: NodeScript) -> str:
    """Training node ``node.node_rank`` of ``plan.train_nodes``: fetch the run's ``plan.json``
    (Pulumi writes it; the prefix is named by its hash, so a new plan is a new script), install Stratos; on node 0
    synthesise (a hub teacher in vLLM, stopped afterwards); run the job under torchrun over
    the node's GPUs (and the rendezvous of all nodes); node 0 uploads the artifact, its
    ``report.json`` and ``_COMPLETE.json`` (or ``_FAILED.txt``); power off."""
    if not 0 <= node.node_rank < plan.train_nodes or bool(node.head) != (node.node_rank > 0):
        raise ValueError(f"node rank {node.node_rank} of {plan.train_nodes} needs head={node.head!r} set iff rank > 0")
    hub = teacher_hub_id(plan)
    command, token_env = teacher_command(plan, hub or "none")
    q = shlex.quote
    return _render(node, "train", "train.sh", {
        "nodes": str(plan.train_nodes),
        "node_rank": str(node.node_rank),
        "nproc": str(max(plan.train.accelerator_count, 1)),
        "head": q(node.head),
        "rdzv_port": str(RDZV_PORT),
        "job_id": q(node.job_id or "stratos"),
        "teacher_hub": q(hub),
        "teacher_port": str(TEACHER_PORT),
        "teacher_command": command,
        "teacher_token_env": token_env,
        "vllm_spec": q(VLLM_SPEC),
        "secret_refs": q("".join(f"{env}={ref}\n" for env, ref in node.secret_refs)),
        "wait_seconds": str(plan.job_timeout_s(on_node=True)),
        "enter_task_dir": enter_task_dir() if plan.task_ref and plan.task_ref.files() else ":",
    })


def upstream_port(node: NodeScript) -> int:
    """vLLM's loopback port: the usual one unless the endpoint itself took it."""
    return UPSTREAM_PORT if node.port != UPSTREAM_PORT else UPSTREAM_PORT + 1


def serve_command(plan: Plan, node: NodeScript) -> tuple[str, str]:
    """vLLM's OpenAI-compatible server on the downloaded artifact, as rendered by
    ``stratos.serve.vllm`` (the serving code owns the flags), and the name of the
    environment variable it reads the token from."""
    vllm = VllmServe(
        model_dir=MODEL_DIR_SLOT,
        served_model_name=node.model_name,
        port=upstream_port(node),
        tensor_parallel_size=max(plan.serve.accelerator_count, 1),
    )
    # The model dir is a shell variable on the node (STRATOS_HOME may be overridden).
    return vllm.render().replace(MODEL_DIR_SLOT, '"$MODEL_DIR"'), vllm.token_env


def render_serving(plan: Plan, node: NodeScript) -> str:
    """The serving node's script: wait for the training marker (until a deadline, then
    power off), fetch and verify the artifact, fetch the endpoint token and the TLS key
    from the secret store, run vLLM on 127.0.0.1 (command line from
    :mod:`stratos.serve.vllm`) behind the TLS gateway on ``node.port``."""
    if not node.token_ref:
        raise ValueError("serving bootstrap needs token_ref (the secret holding the endpoint token)")
    if not node.tls_key_ref or "-----BEGIN CERTIFICATE-----" not in node.tls_cert:
        raise ValueError("serving bootstrap needs tls_cert (PEM) and tls_key_ref (the secret holding its key)")
    if "STRATOS_CERT_EOF" in node.tls_cert:
        raise ValueError("tls_cert would end the heredoc")
    command, token_env = serve_command(plan, node)
    wait_s = plan.job_timeout_s(on_node=True)
    return _render(
        node,
        "serve",
        "serve.sh",
        {
            "port": str(int(node.port)),
            "upstream_port": str(upstream_port(node)),
            "model_name": shlex.quote(node.model_name),
            "token_ref": shlex.quote(node.token_ref),
            "tls_key_ref": shlex.quote(node.tls_key_ref),
            "tls_cert": node.tls_cert.strip(),
            "install_spec": shlex.quote(SERVE_INSTALL_SPEC),
            "wait_seconds": str(wait_s),
            "vllm_spec": shlex.quote(VLLM_SPEC),
            "serve_command": command,
            "token_env": token_env,
        },
    )
