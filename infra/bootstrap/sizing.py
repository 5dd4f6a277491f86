"""Root-disk size of a cloud node, from the plan's models and data.

The arithmetic lives in :mod:`stratos.planner.storage`, which the planner also uses
to price the disks, so the estimate describes the disks the program creates.
"""

from __future__ import annotations

from stratos.planner import storage
from stratos.planner.plan import Plan

IMAGE_GB = storage.IMAGE_GB


def training_disk_gb(plan: Plan) -> int:
    """Image + teacher and student weights + checkpoints + the synthesised data, with headroom."""
    job = plan.job
    return storage.training_disk_gb(plan.teacher, plan.student, job.n_train + job.n_val + job.n_test)


def serving_disk_gb(plan: Plan) -> int:
    """Image + vLLM + the distilled student (downloaded once), with headroom."""
    return storage.serving_disk_gb(plan.student)
