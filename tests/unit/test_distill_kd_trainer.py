"""KDTrainer: the HF Trainer with the KD loss pulls a student toward its teacher."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


def test_kd_trainer_moves_student_toward_teacher(tmp_path):
    from helpers.tiny_model import make_tiny_model_dir
    from transformers import AutoModelForCausalLM

    from stratos.distill.kd_trainer import KDConfig, KDTrainer
    from stratos.distill.losses import kd_divergence_sum

    torch.set_num_threads(2)
    t_dir = make_tiny_model_dir(tmp_path / "t", manifest=False, seed=1)
    s_dir = make_tiny_model_dir(tmp_path / "s", manifest=False, seed=2)
    teacher = AutoModelForCausalLM.from_pretrained(t_dir)
    student = AutoModelForCausalLM.from_pretrained(s_dir)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 200, (16, 24), generator=g)
    labels = ids.clone()
    labels[:, :8] = -100
    data = [{"input_ids": ids[i], "labels": labels[i]} for i in range(16)]

    def divergence() -> float:
        with torch.no_grad():
            return float(kd_divergence_sum(student(ids).logits, teacher(ids).logits, labels))

    before = divergence()
    args = KDConfig(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=8, max_steps=15, learning_rate=5e-3,
        kd_alpha=0.0, kd_temperature=1.0, report_to=[], save_strategy="no", logging_steps=5, use_cpu=True,
    )
    KDTrainer(model=student, args=args, train_dataset=data, teacher_model=teacher).train()
    assert divergence() < 0.7 * before


def test_kd_config_validates():
    from stratos.distill.kd_trainer import KDConfig

    with pytest.raises(ValueError):
        KDConfig(output_dir="/tmp/x", kd_alpha=2.0, report_to=[])
