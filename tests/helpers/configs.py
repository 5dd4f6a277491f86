"""A job config without a plan, for tests of the trainer and the job's parts.

``DistillConfig`` normally comes from a Plan (``DistillConfig.for_plan``); tests that
drive the trainer directly name the plan's decisions here once.
"""

from __future__ import annotations

from typing import Any

from stratos.distill.config import DistillConfig

#: The plan decisions a test config stands in for: the rule teacher, the 3M scratch student.
DECISIONS: dict[str, Any] = {"task": "mahjong", "teacher": "rules", "student": "scratch-llama-3m", "mode": "injection"}


def job_config(**knobs: Any) -> DistillConfig:
    """A DistillConfig with ``knobs`` over the defaults (and over ``DECISIONS``)."""
    return DistillConfig(**{**DECISIONS, **knobs})


#: A whole job in well under a minute (`stratos distill --config` on it as JSON): a one-layer
#: student, a few hundred examples, the rule teacher, injection forced.
TINY: dict[str, Any] = {
    **DECISIONS,
    "n_train": 240, "n_val": 20, "n_test": 24, "probe_size": 8,
    "max_steps": 40, "warmup_steps": 4, "eval_every": 20, "eval_samples": 4, "ckpt_every": 5,
    "seq_len": 256, "batch_blocks": 2, "micro_blocks": 2, "threads": 1,
    "scratch": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "num_kv_heads": 2,
                "intermediate_size": 64, "max_positions": 512},
    "rationale_budget": 4, "knowledge_examples": 2, "eval_max_new_tokens": 200,
    "patience": 0,
}
