"""``DistillConfig``: every knob of the distillation job, resolved once from a Plan.

Why a separate config object: the trainer reads only this, the checkpoint
stores it (a checkpoint describes itself), and tests build tiny ones directly.
Defaults carry their units and the reason for them; ``for_plan`` maps the
planner's decision (teacher, student, mode, job sizes, profile) onto them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stratos.distill.student import ScratchArch


class DistillConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str = "mahjong"
    teacher: str = Field("smollm2-135m-instruct", description="teacher spec (see stratos.synth.teachers)")
    student: str = Field("scratch-llama-3m", description="zoo id: 'scratch-*' builds from config, else a HF model + LoRA")
    mode: Literal["auto", "alignment", "injection"] = Field("auto", description="'auto' probes the teacher")
    logit_kd: bool = Field(False, description="add token-level KD (needs a shared tokenizer)")
    seed: int = 0

    # data
    n_train: int = Field(50000, gt=0)
    n_val: int = Field(200, gt=0)
    n_test: int = Field(500, gt=0)
    probe_size: int = Field(50, gt=0)
    probe_threshold: float = Field(0.5, ge=0, le=1)
    samples_per_question: int = Field(4, ge=1, description="alignment: teacher samples tried per question")
    rationale_budget: int = Field(16, ge=0, description="injection: questions the teacher is asked to explain")
    knowledge_examples: int = Field(20, ge=0, description="copies of the task's rules put in the training data")
    target_style: Literal["short", "full", "answer"] = Field("short", description="completion format")
    decision_weight: float = Field(
        4.0,
        ge=1.0,
        description="loss weight of the token after each of the task's decision markers (Mahjong: ':'); "
        "1 = plain SFT. 4 lifted the 2-core benchmark from 87.0% to 89.6% at equal steps",
    )
    teacher_max_new_tokens: int = Field(64, gt=0)
    teacher_eval: bool = Field(True, description="score the teacher zero-shot on the test split")
    teacher_eval_size: int = Field(
        100, gt=0, description="test questions the teacher answers (a 135M teacher on 2 CPU cores needs ~3 s each)"
    )

    # student shape
    scratch: ScratchArch = Field(default_factory=ScratchArch)
    lora_r: int = 16
    lora_alpha: int = 32

    # optimisation (fp32 AdamW; cosine decay after a linear warm-up)
    lr: float = Field(
        1e-3, gt=0, description="peak LR; 1e-3 suits a 3M from-scratch model (2e-3 and 4e-3 learned slower here), ~2e-4 LoRA"
    )
    min_lr_ratio: float = Field(0.05, ge=0, le=1)
    warmup_steps: int = Field(30, ge=0)
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seq_len: int = Field(
        256, gt=8, description="packed block length, tokens; CPU attention cost per token grows with it"
    )
    batch_blocks: int = Field(8, gt=0, description="global batch, in packed blocks; small batches = more updates in a short CPU budget")
    micro_blocks: int = Field(8, gt=0, description="blocks per forward/backward (grad accumulation)")
    max_steps: int = Field(50_000, gt=0, description="step cap; the time cap (max_train_minutes) normally binds first")
    max_train_minutes: float = Field(16.0, gt=0, description="wall-clock cap; the step budget is fitted to it")
    eval_every: int = Field(1000, gt=0, description="steps between validation passes (one costs ~100 decodes, ~3 s; the job runs ~8.7k steps)")
    eval_samples: int = Field(100, ge=0, description="val questions decoded for accuracy each pass")
    ckpt_every: int = Field(100, gt=0)
    patience: int = Field(4, ge=0, description="validation passes without improvement before stopping; 0: never")
    threads: int = Field(2, gt=0, description="torch intra-op threads per process")
    compile: bool | None = Field(
        None,
        description="compile the training steps with torch.compile (inductor). None = on for from-scratch students "
        "(1.5x the steps/s of eager on the 2-core box, ~20 s of compiling once), off for LoRA students (SmolLM2-135M: "
        "117 s of compiling, no faster steps on CPU). Falls back to eager if compiling fails",
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="matmul precision: bf16 autocast (fp32 master weights) where the hardware has bf16 units; "
        "'auto' picks it on CUDA and on CPUs with AVX512-BF16/AMX (2x the tokens/s of fp32 on the 2-core box)",
    )

    # logit KD
    kd_alpha: float = Field(0.5, ge=0, le=1, description="weight of cross-entropy vs the KD term")
    kd_temperature: float = Field(2.0, gt=0)
    kd_divergence: Literal["forward_kl", "jsd"] = "forward_kl"

    eval_max_new_tokens: int = Field(384, gt=0, description="cap on decoded tokens; the job uses the longest training completion + 8")

    @model_validator(mode="after")
    def _check(self) -> DistillConfig:
        if self.batch_blocks % self.micro_blocks and self.micro_blocks < self.batch_blocks:
            raise ValueError("batch_blocks must be a multiple of micro_blocks")
        return self

    @property
    def is_scratch(self) -> bool:
        return self.student.startswith("scratch")

    @property
    def compiles(self) -> bool:
        return self.is_scratch if self.compile is None else self.compile

    @classmethod
    def for_plan(cls, plan: object, **overrides: object) -> DistillConfig:
        """Map a planner ``Plan`` onto a config; ``profile='fast'`` shrinks everything for tests."""
        job = plan.job  # type: ignore[attr-defined]
        values: dict[str, object] = dict(
            task=plan.task,  # type: ignore[attr-defined]
            teacher=plan.teacher,  # type: ignore[attr-defined]
            student=plan.student,  # type: ignore[attr-defined]
            mode="auto",
            logit_kd=plan.logit_kd,  # type: ignore[attr-defined]
            seed=job.seed,
            n_train=job.n_train,
            n_val=job.n_val,
            n_test=job.n_test,
            probe_size=job.probe_size,
            probe_threshold=job.probe_threshold,
            rationale_budget=job.rationale_budget,
            max_train_minutes=job.max_train_minutes,
        )
        if job.profile == "fast":
            values.update(FAST_PROFILE)
        if not str(values["student"]).startswith("scratch"):
            values.setdefault("lr", 2e-4)
            values["lr"] = 2e-4
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


FAST_PROFILE: dict[str, object] = dict(
    scratch=ScratchArch(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=2, intermediate_size=64),
    seq_len=256,
    batch_blocks=2,
    micro_blocks=2,
    max_steps=12,
    warmup_steps=2,
    eval_every=6,
    eval_samples=8,
    ckpt_every=4,
    knowledge_examples=2,
    teacher_max_new_tokens=16,
    eval_max_new_tokens=48,
    samples_per_question=2,
    compile=False,  # compiling costs more than a 12-step run trains
)
