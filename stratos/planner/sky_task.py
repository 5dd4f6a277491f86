"""``stratos plan --emit-sky task.yaml``: the chosen training offering as a SkyPilot task.

For users who launch with SkyPilot instead of Pulumi: ``sky launch task.yaml`` rents what the
plan priced (cloud, region, instance type, ``NAME:COUNT`` accelerators, spot, nodes) and runs
the same job as Stratos' own node script: synthesis on node 0, then ``torchrun`` over every GPU
of every node. The run dir sits on a bucket that SkyPilot mounts on all nodes, so the other
nodes read node 0's data and a preempted spot job resumes from its checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from stratos.planner.plan import Plan

REMOTE_PLAN = "~/stratos/plan.json"
RUN_DIR = "/stratos-run"
RDZV_PORT = 29500

_RUN = f"""\
set -euo pipefail
RUN={RUN_DIR}/run
if [ "$SKYPILOT_NODE_RANK" = 0 ]; then
  stratos distill --config {REMOTE_PLAN} --out "$RUN" --until synth
else
  until [ -f "$RUN/synth.json" ]; do sleep 10; done
fi
HEAD=$(echo "$SKYPILOT_NODE_IPS" | head -n1)
python -m torch.distributed.run --nnodes "$SKYPILOT_NUM_NODES" --node_rank "$SKYPILOT_NODE_RANK" \\
  --nproc_per_node "$SKYPILOT_NUM_GPUS_PER_NODE" --rdzv_backend static --rdzv_id "$SKYPILOT_TASK_ID" \\
  --rdzv_endpoint "$HEAD:{RDZV_PORT}" -m stratos.distill --config {REMOTE_PLAN} --out "$RUN"
"""


def _resources(plan: Plan) -> dict:
    t = plan.train
    res: dict = {"cloud": t.cloud, "region": t.region, "instance_type": t.instance_type, "use_spot": t.spot}
    if t.accelerator:
        res["accelerators"] = f"{t.accelerator}:{t.accelerator_count}"
    if t.cloud == "gcp" and t.zone:  # AWS catalog zones are zone IDs (use1-az1), which SkyPilot does not take
        res["zone"] = t.zone
    return res


def sky_task(plan: Plan, plan_path: Path, checkout: Path | None) -> dict:
    """The SkyPilot task mapping (``sky.Task.from_yaml`` format) for ``plan`` saved at ``plan_path``.

    From a checkout, SkyPilot syncs it as the workdir and installs it; otherwise the node
    installs the released package."""
    task = {"name": f"stratos-{plan.task}"}
    if checkout is not None:
        task["workdir"] = str(checkout)
    return task | {
        "num_nodes": plan.train_nodes,
        "resources": _resources(plan),
        "file_mounts": {
            REMOTE_PLAN: str(plan_path),
            RUN_DIR: {"name": f"stratos-{plan.task}-{plan.job.seed}-run", "mode": "MOUNT"},
        },
        "setup": "pip install -e '.[train]'" if checkout is not None else "pip install 'stratos[train]'",
        "run": _RUN,
    }


def write_sky_task(plan: Plan, path: Path) -> Path:
    """Write ``plan.json`` beside ``path`` and the task YAML at ``path``; returns the plan's path."""
    root = Path(__file__).resolve().parents[2]
    checkout = root if (root / "pyproject.toml").is_file() else None
    plan_path = path.with_name(path.stem + ".plan.json")
    plan_path.write_text(plan.model_dump_json(indent=2))
    path.write_text(yaml.safe_dump(sky_task(plan, plan_path.resolve(), checkout), sort_keys=False))
    return plan_path
