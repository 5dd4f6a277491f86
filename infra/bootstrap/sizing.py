"""Root-disk size of a cloud node, from the plan's models and data.

Pure arithmetic so it is tested directly. Units: GB (10^9 bytes, how EBS and PD
sizes are billed), rounded up to 10 GB.
"""

from __future__ import annotations

import math

from stratos.planner.plan import Plan
from stratos.zoo.endpoint import teacher_model
from stratos.zoo.registry import get_model

#: The GPU image itself (DLAMI / Deep Learning VM: CUDA, drivers, conda) plus the
#: Stratos venv with torch: measured images are 45-75 GB, so leave room.
IMAGE_GB = 100.0
BF16_BYTES = 2
#: A training checkpoint holds bf16 weights + fp32 master weights + two Adam moments.
CHECKPOINT_BYTES_PER_PARAM = 2 + 4 + 8
CHECKPOINTS_KEPT = 2
#: One synthesised example with its rationale, as JSONL.
EXAMPLE_BYTES = 4096
HEADROOM = 1.25


def _weights_gb(model_id: str) -> float:
    spec = teacher_model(model_id)  # a zoo id, or a teacher endpoint's spec string
    if spec.is_api:  # an API or endpoint teacher has no weights on the node
        return 0.0
    return spec.params * BF16_BYTES / 1e9


def training_disk_gb(plan: Plan) -> int:
    """Image + teacher and student weights + checkpoints + the synthesised data, with headroom."""
    student = get_model(plan.student)
    checkpoints = student.params * CHECKPOINT_BYTES_PER_PARAM * CHECKPOINTS_KEPT / 1e9
    data = (plan.job.n_train + plan.job.n_val + plan.job.n_test) * EXAMPLE_BYTES / 1e9
    need = IMAGE_GB + _weights_gb(plan.teacher) + _weights_gb(plan.student) * 2 + checkpoints + data
    return int(math.ceil(need * HEADROOM / 10.0) * 10)


def serving_disk_gb(plan: Plan) -> int:
    """Image + vLLM + the distilled student (downloaded once), with headroom."""
    need = IMAGE_GB + _weights_gb(plan.student)
    return int(math.ceil(need * HEADROOM / 10.0) * 10)
