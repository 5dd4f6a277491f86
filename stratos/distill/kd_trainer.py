"""Logit KD inside the Hugging Face ``Trainer``: a config and a thin trainer subclass.

Like TRL's GKD pair: ``KDConfig`` extends ``TrainingArguments`` with only the
KD fields; ``KDTrainer`` overrides only ``compute_loss`` and delegates the
maths to ``stratos.distill.losses.distillation_loss``. Use it when you want the
HF ecosystem (callbacks, integrations); the Stratos job's own loop
(``train.py``) calls the same loss function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from stratos.distill.losses import distillation_loss


@dataclass
class KDConfig(TrainingArguments):
    kd_alpha: float = field(default=0.5, metadata={"help": "weight of cross-entropy; 1 - kd_alpha weighs the KD term"})
    kd_temperature: float = field(default=2.0, metadata={"help": "softmax temperature for both distributions"})
    kd_divergence: str = field(default="forward_kl", metadata={"help": "'forward_kl' or 'jsd'"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.kd_alpha <= 1.0:
            raise ValueError(f"kd_alpha must be in [0, 1], got {self.kd_alpha}")
        if self.kd_temperature <= 0:
            raise ValueError(f"kd_temperature must be > 0, got {self.kd_temperature}")
        if self.kd_divergence not in ("forward_kl", "jsd"):
            raise ValueError(f"kd_divergence must be 'forward_kl' or 'jsd', got {self.kd_divergence!r}")


class KDTrainer(Trainer):
    """``Trainer`` whose loss mixes CE on ``labels`` with KD against a frozen ``teacher_model``."""

    def __init__(self, *args: Any, teacher_model: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teacher_model = teacher_model
        if teacher_model is not None:
            teacher_model.eval()
            for p in teacher_model.parameters():
                p.requires_grad_(False)

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, **kwargs: Any):  # noqa: ANN201
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        teacher_logits = None
        if self.teacher_model is not None:
            with torch.no_grad():
                teacher_logits = self.teacher_model(**inputs).logits
        args: KDConfig = self.args  # type: ignore[assignment]
        loss = distillation_loss(
            outputs.logits, labels, teacher_logits,
            alpha=getattr(args, "kd_alpha", 1.0), temperature=getattr(args, "kd_temperature", 1.0),
            divergence=getattr(args, "kd_divergence", "forward_kl"),
        )
        return (loss, outputs) if return_outputs else loss
