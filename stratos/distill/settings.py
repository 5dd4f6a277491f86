"""``JobSettings``: every knob of the distillation job, defined once.

Why one model: the planner prices the job from these settings (``Plan.job``), the
request overrides them (its ``job:`` key is ``JobOverrides``, the all-optional view
derived below) and the job runs them (``DistillConfig`` is the plan's decisions plus
these settings). A knob is added here, with its default, unit and reason, and
nowhere else; ``FAST_PROFILE`` is the one fast profile (what CI runs).

This module imports only pydantic: the request (``stratos.spec``), the plan and the
GPU node's job all read it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model, model_validator

from stratos.strict import StrictModel

#: What the job does with its teacher's data (the paper's adaptive dual mode):
#: ``alignment`` trains on the teacher's verified outputs, ``injection`` on the task's
#: own verified questions with rule knowledge, ``auto`` lets the job's probe of the
#: teacher decide (alignment when its accuracy reaches ``probe_threshold``).
Mode = Literal["alignment", "injection", "auto"]
Profile = Literal["default", "fast"]
#: Peak learning rates when ``lr`` is unset: 1e-3 suits a 3M from-scratch model (2e-3 and
#: 4e-3 learned slower here); LoRA on a pretrained model wants a gentler 2e-4.
SCRATCH_LR, LORA_LR = 1e-3, 2e-4


#: Seeds the job accepts: it derives torch, NumPy and Python seeds from this one (times a
#: constant plus an epoch), which must stay within torch's 64-bit and NumPy's 32-bit range.
SEED_MAX = 2**32 - 1


_Frozen = StrictModel


class ScratchArch(_Frozen):
    """A from-scratch Llama's shape (the zoo's ``scratch-*`` entries name theirs)."""

    hidden_size: int = Field(gt=0, description="model width")
    num_layers: int = Field(gt=0, description="transformer blocks")
    num_heads: int = Field(gt=0, description="attention heads")
    num_kv_heads: int = Field(gt=0, description="key/value heads (grouped-query attention when fewer)")
    intermediate_size: int = Field(gt=0, description="MLP width")
    max_positions: int = Field(512, gt=0, description="longest sequence the position table covers, tokens")


class JobSettings(_Frozen):
    """How the distillation job runs: data sizes, time budget, optimisation, evaluation."""

    profile: Profile = Field("default", description="'fast' is tiny data and about a minute of training (what CI uses)")
    seed: int = Field(
        0, ge=0, le=SEED_MAX, description=f"random seed for data synthesis, splits, initialisation and batch order, 0-{SEED_MAX}"
    )

    nodes: int | None = Field(
        None, ge=1, le=64,
        description="identical training instances on a cloud target (torchrun nodes, all billed for the whole run); "
        "unset: 1, or the fewest (at most 8) whose GPUs hold the student's training state. The plan holds the "
        "count it priced; a local target trains on 1",
    )

    # data
    n_train: int = Field(50000, gt=0, description="training examples to synthesise")
    n_val: int = Field(200, gt=0, description="validation questions (early stopping, the probe)")
    n_test: int = Field(500, gt=0, description="held-out questions for the final evaluation")
    probe_size: int = Field(50, gt=0, description="validation questions the teacher is probed on")
    probe_threshold: float = Field(
        0.5, ge=0, le=1, description="teacher probe accuracy from which alignment is used (plan mode auto)"
    )
    samples_per_question: int = Field(4, ge=1, description="alignment: teacher samples tried per question")
    rationale_budget: int = Field(
        16, ge=0, description="injection: questions whose rationale the teacher writes (the rest use the task's own)"
    )
    knowledge_examples: int = Field(20, ge=0, description="copies of the task's rules put in the training data")
    target_style: Literal["short", "full", "answer"] = Field("short", description="completion format")
    decision_weight: float = Field(
        4.0,
        ge=1.0,
        description="loss weight of the token after each of the task's decision markers (Mahjong: ':'); "
        "1 = plain SFT. 4 lifted the 2-core benchmark from 87.0% to 89.6% at equal steps",
    )
    teacher_max_new_tokens: int = Field(64, gt=0, description="tokens the teacher may generate per answer")
    teacher_eval: bool = Field(True, description="score the teacher zero-shot on the test split")
    teacher_eval_size: int = Field(
        100, gt=0, description="test questions the teacher answers (a 135M teacher on 2 CPU cores: ~0.15 s each)"
    )

    # student shape
    scratch: ScratchArch | None = Field(
        None, description="shape of a from-scratch student; unset: the model zoo's shape for the planned student"
    )
    lora_r: int = Field(16, gt=0, description="LoRA rank (pretrained students)")
    lora_alpha: int = Field(32, gt=0, description="LoRA scale numerator (pretrained students)")

    # optimisation (fp32 master weights, AdamW; cosine decay after a linear warm-up)
    lr: float | None = Field(
        None, gt=0, description=f"peak learning rate; unset: {SCRATCH_LR:g} from scratch, {LORA_LR:g} for LoRA students"
    )
    min_lr_ratio: float = Field(0.05, ge=0, le=1, description="final LR as a fraction of the peak")
    warmup_steps: int = Field(30, ge=0, description="steps of linear LR warm-up")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay of matrices")
    grad_clip: float = Field(1.0, ge=0, description="gradient norm clip; 0 = none")
    seq_len: int = Field(
        256, gt=8, description="packed block length, tokens; CPU attention cost per token grows with it"
    )
    batch_blocks: int = Field(
        8, gt=0, description="global batch, in packed blocks; small batches = more updates in a short CPU budget"
    )
    micro_blocks: int = Field(8, gt=0, description="blocks per forward/backward (gradient accumulation)")
    epochs: float = Field(
        2.0, gt=0, description="passes over the training data; the step, time and FLOPs caps can stop it sooner "
        "(the planner prices the same rule: JobSettings.train_token_cap)",
    )
    max_steps: int = Field(50_000, gt=0, description="step cap; the time cap (max_train_minutes) normally binds first")
    max_train_minutes: float = Field(16.0, gt=0, description="wall-clock cap on training, minutes; the step budget is fitted to it")
    max_train_flops: float | None = Field(
        None, gt=0,
        description="training compute cap, FLOPs counted as 6 x parameters x training tokens (forward + backward); "
        "unlike the time cap it trains the same amount on any machine (1.3e14 is what the 3M student gets in "
        "16 minutes on a 2-core CPU, ~7.4M tokens); unset: no compute cap",
    )
    eval_every: int = Field(
        1000, gt=0, description="steps between validation passes (one costs ~100 decodes, ~3 s; the job runs ~8.7k steps)"
    )
    eval_samples: int = Field(100, ge=0, description="validation questions decoded for accuracy each pass")
    ckpt_every: int = Field(100, gt=0, description="steps between checkpoints")
    patience: int = Field(4, ge=0, description="validation passes without improvement before stopping; 0: never")
    threads: int = Field(2, gt=0, description="torch intra-op threads per process")
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="where the student, a logit-KD teacher, a local teacher and evaluation run: auto (CUDA when "
        "present, else CPU), cpu, cuda (under torchrun: the process's own GPU) or cuda:N; not part of what a "
        "resumed run must match",
    )
    compile: bool | None = Field(
        None,
        description="compile the training steps with torch.compile (inductor); unset: on for from-scratch students "
        "(on the 2-core CPU box 1.5x the steps/s of eager, ~20 s of compiling once; on an H200 2.0x, ~26 s: "
        "benchmarks/gpu_smoke.py), off for LoRA students (SmolLM2-135M: 117 s of compiling, no faster steps on "
        "CPU). Falls back to eager if compiling fails",
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="matmul precision: bf16 autocast (fp32 master weights) where the hardware has bf16 units; "
        "'auto' picks it on CUDA and on CPUs with AVX512-BF16/AMX (2x the tokens/s of fp32 on the 2-core box)",
    )

    # logit KD (alignment mode with a shared tokenizer)
    kd_alpha: float = Field(0.5, ge=0, le=1, description="weight of cross-entropy against the KD term")
    kd_temperature: float = Field(2.0, gt=0, description="softmax temperature of the KD term")
    kd_divergence: Literal["forward_kl", "jsd"] = Field("forward_kl", description="KD divergence")

    eval_max_new_tokens: int = Field(
        384, gt=0, description="cap on decoded tokens; the job uses the longest training completion + 8"
    )

    def train_token_cap(self, data_tokens: float, params: float, block_tokens: float | None = None) -> tuple[float, str]:
        """The training tokens the job stops at before its time cap, and the cap that binds.

        ``epochs`` passes over ``data_tokens``; ``max_steps`` batches of ``batch_blocks`` blocks
        holding ``block_tokens`` real tokens each (default ``seq_len``: full blocks); and
        ``max_train_flops`` at 6 x ``params`` per token. The job (``train.step_cap``, with its
        real data) and the planner (``phases.train_phase``, with the task's example size) both
        call this, so a plan prices the tokens the job trains.
        """
        caps = {
            "epochs": self.epochs * data_tokens,
            "steps": self.max_steps * self.batch_blocks * (block_tokens or self.seq_len),
        }
        if self.max_train_flops:
            caps["flops"] = self.max_train_flops / (6.0 * params)
        binds = min(caps, key=caps.__getitem__)
        return caps[binds], binds

    @property
    def probe_questions(self) -> int:
        """Validation questions the teacher is probed on (a prefix of the split)."""
        return min(self.n_val, self.probe_size)

    @property
    def teacher_eval_questions(self) -> int:
        """Test questions the teacher answers zero-shot (a prefix of the split), 0 without ``teacher_eval``.
        The job slices its splits by these two and the planner prices the teacher's time by them."""
        return min(self.n_test, self.teacher_eval_size) if self.teacher_eval else 0

    def compiles(self, scratch: bool) -> bool:
        """Whether the job compiles its training steps (see ``compile``), on the CPU and on a GPU alike;
        the planner prices a GPU step's launch floor by the same answer."""
        return scratch if self.compile is None else self.compile

    @model_validator(mode="after")
    def _batches_split_evenly(self) -> JobSettings:
        if self.micro_blocks < self.batch_blocks and self.batch_blocks % self.micro_blocks:
            raise ValueError(
                f"batch_blocks={self.batch_blocks} must be a multiple of micro_blocks={self.micro_blocks}"
            )
        return self


def _optional_view(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """``model`` with every field optional (default None = keep the model's value), same checks.

    Descriptions gain the default, so the request's schema and README state it without
    a second copy of the number.
    """
    fields: dict[str, Any] = {}
    for key, f in model.model_fields.items():
        ann = f.annotation | None
        fields[key] = (Annotated[(ann, *f.metadata)] if f.metadata else ann, Field(None, description=_with_default(key, f)))
    return create_model(name, __base__=_Frozen, __doc__=doc, **fields)


def _with_default(key: str, f: Any) -> str:
    text = f.description if f.default is None else f"{f.description}; default {_show(f.default)}"
    fast = _FAST_VALUES.get(key)
    return text + (f" (profile fast: {_show(fast)})" if fast is not None else "")


def _show(value: Any) -> str:
    if isinstance(value, BaseModel):
        return ", ".join(f"{k}={v}" for k, v in value.model_dump().items())
    if isinstance(value, str):
        return repr(value)
    return "unset" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


#: The fast profile (``profile: fast``): tiny data, a one-layer student, a dozen steps.
_FAST_VALUES: dict[str, Any] = dict(
    n_train=1000, n_val=50, n_test=100, probe_size=10, rationale_budget=4, max_train_minutes=1.0,
    scratch=ScratchArch(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=2, intermediate_size=64),
    batch_blocks=2, micro_blocks=2, max_steps=12, warmup_steps=2, eval_every=6, eval_samples=8, ckpt_every=4,
    knowledge_examples=2, teacher_max_new_tokens=16, eval_max_new_tokens=48, samples_per_question=2,
    compile=False,  # compiling costs more than a 12-step run trains
)

JobOverrides = _optional_view(
    JobSettings,
    "JobOverrides",
    "The request's ``job:`` key: any JobSettings knob; unset keys keep the profile's value.",
)
FAST_PROFILE = JobOverrides(profile="fast", **_FAST_VALUES)


def resolve_job(overrides: BaseModel | None = None) -> JobSettings:
    """JobSettings from the defaults, then the fast profile when asked for, then ``overrides``."""
    given = overrides.model_dump(exclude_none=True) if overrides is not None else {}
    base = FAST_PROFILE.model_dump(exclude_none=True) if given.get("profile") == "fast" else {}
    return JobSettings(**{**base, **given})


__all__ = [
    "FAST_PROFILE", "LORA_LR", "SCRATCH_LR", "JobOverrides", "JobSettings", "Mode", "Profile", "ScratchArch",
    "resolve_job",
]
