"""What a cloud run stores, and what storing and moving it costs.

Pure arithmetic, tested directly; the Pulumi program sizes the nodes' disks with the
same functions the planner prices, so the estimate describes what is created. Units:
GB (10^9 bytes, how EBS, PD, S3 and GCS bill), USD.

Assumptions (list prices, us-east-1 / us-central1, 2026):

* a node's root disk is billed from boot until ``pulumi destroy``, stopped or not:
  the training nodes power off after the job but keep their disks for the rest of
  the stack's life (the serving horizon); the serving node's disk for the horizon;
* the bucket holds the artifact and the synthesised data for the stack's life;
* a plan that trains on one cloud and serves on the other moves the artifact once
  over the internet, billed as the training cloud's egress.
"""

from __future__ import annotations

import math

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
HOURS_PER_MONTH = 730.0
#: Root disks: gp3 on AWS, pd-balanced on GCP (USD per GB-month).
DISK_USD_PER_GB_MONTH = {"aws": 0.08, "gcp": 0.10}
#: S3 Standard / GCS Standard (regional), USD per GB-month.
BUCKET_USD_PER_GB_MONTH = {"aws": 0.023, "gcp": 0.020}
#: Internet egress from the training cloud, first tier (USD per GB).
EGRESS_USD_PER_GB = {"aws": 0.09, "gcp": 0.12}


def _weights_gb(model_id: str) -> float:
    spec = teacher_model(model_id)  # a zoo id, or a teacher endpoint's spec string
    if spec.is_api:  # an API or endpoint teacher has no weights on the node
        return 0.0
    return spec.params * BF16_BYTES / 1e9


def _round_up(gb: float) -> int:
    return int(math.ceil(gb * HEADROOM / 10.0) * 10)


def data_gb(n_examples: int) -> float:
    return n_examples * EXAMPLE_BYTES / 1e9


def training_disk_gb(teacher: str, student: str, n_examples: int) -> int:
    """Image + teacher and student weights + checkpoints + the synthesised data, with headroom, in 10 GB steps."""
    checkpoints = get_model(student).params * CHECKPOINT_BYTES_PER_PARAM * CHECKPOINTS_KEPT / 1e9
    need = IMAGE_GB + _weights_gb(teacher) + _weights_gb(student) * 2 + checkpoints + data_gb(n_examples)
    return _round_up(need)


def serving_disk_gb(student: str) -> int:
    """Image + vLLM + the distilled student (downloaded once), with headroom, in 10 GB steps."""
    return _round_up(IMAGE_GB + _weights_gb(student))


def artifact_gb(student: str) -> float:
    """The exported student: bf16 safetensors (the tokenizer and card are noise)."""
    return _weights_gb(student)


def disk_usd(cloud: str, gb: float, hours: float) -> float:
    """A disk of ``gb`` kept ``hours`` on ``cloud`` (0 for clouds we do not deploy to)."""
    return DISK_USD_PER_GB_MONTH.get(cloud, 0.0) * gb * max(hours, 0.0) / HOURS_PER_MONTH


def bucket_usd(cloud: str, gb: float, hours: float) -> float:
    return BUCKET_USD_PER_GB_MONTH.get(cloud, 0.0) * gb * max(hours, 0.0) / HOURS_PER_MONTH


def egress_usd(train_cloud: str, serve_cloud: str, gb: float) -> float:
    """Moving ``gb`` from the training cloud's bucket to a serving node on another cloud."""
    return EGRESS_USD_PER_GB.get(train_cloud, 0.0) * gb if train_cloud != serve_cloud else 0.0
