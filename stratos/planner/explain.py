"""A candidate as the contract ``Plan``: its objectives and cost split, the job settings it
runs with, and the reasons and assumptions behind it in words.
"""

from __future__ import annotations

from stratos.planner import estimators as est
from stratos.planner import host_rate, teacher_time
from stratos.planner import nodes as multi
from stratos.planner.accuracy import uncalibrated_reason
from stratos.planner.examples import example_tokens
from stratos.planner.matching import KD_MAX_RATIO, default_mode, size_ratio
from stratos.planner.plan import CostEstimate, JobSettings, Objectives, Plan
from stratos.planner.result import Candidate
from stratos.spec import DistillationRequest
from stratos.zoo.endpoint import teacher_model, teacher_notes
from stratos.zoo.registry import ModelSpec, get_model


def to_plan(
    x: Candidate, request: DistillationRequest, job: JobSettings, role: str, alternatives: dict[str, list[str]]
) -> Plan:
    """The contract ``Plan`` of candidate ``x`` in ``role`` (chosen or a baseline), with the reasons and
    assumptions a reader checks it against."""
    t, s = teacher_model(x.teacher), get_model(x.student)
    cov = t.task_coverage(request.task_name)
    reasons = [
        f"{role}: {s.id} ({s.params_b * 1e3:.3g}M params) distilled from {t.id} by {x.mode}; "
        f"predicted accuracy {x.accuracy:.1%} (80% band {x.accuracy_low:.1%}-{x.accuracy_high:.1%}"
        + (", prior: no measured run near this student size on this hardware, band widened)" if x.accuracy_prior
           else ", fitted on measured runs)"),
        f"mode: teacher's expected {request.task_name} accuracy {cov:.0%} vs probe threshold "
        f"{job.probe_threshold:.0%} -> default {default_mode(t, request.task_name, job.probe_threshold)}"
        + (f"; mode forced to {request.mode} by the request" if request.mode else "")
        + (f" (priced as {x.mode}; the job's probe of the teacher decides)" if request.mode == "auto" else ""),
        f"size ratio teacher/student {size_ratio(t, s):,.0f}x; logit KD " + kd_reason(x, t, s),
        f"train on {x.train_nodes} x {x.train.label}: {x.train_hours:.2f} h incl. {_duration(x.synthesis_hours)} of teacher work, ${x.training_usd + x.synthesis_usd:.2f}; "
        f"serve on {x.serve.label}: {x.latency_ms:.0f} ms for {request.constraints.prompt_tokens}+"
        f"{request.constraints.output_tokens} tokens, ${x.serving_usd:.2f} over {request.constraints.serving_hours:g} h",
    ]
    uncalibrated = uncalibrated_reason(request.task_name, request.key)
    if uncalibrated:
        reasons.insert(1, uncalibrated)
        if request.constraints.min_accuracy > 0:
            reasons.insert(2, f"warning: min_accuracy {request.constraints.min_accuracy:g} not enforced (uncalibrated "
                              f"prediction {x.accuracy:.1%}, band {x.accuracy_low:.1%}-{x.accuracy_high:.1%})")
    if alternatives.get(x.train.label):
        reasons.append(f"same train price also in: {', '.join(sorted(set(alternatives[x.train.label])))[:200]}")
    assumptions = [
        f"{job.epochs:g} epochs of {job.n_train} examples x {example_tokens(request.task_ref, job.target_style, s.is_scratch).total:.0f} "
        f"tokens (mean of the task's {job.target_style} examples), at most {job.max_steps} steps"
        + (f" and {job.max_train_flops:.2g} FLOPs" if job.max_train_flops else "") + f", capped at {job.max_train_minutes:g} min",
        f"training MFU {est.MFU_TRAIN_GPU:.0%} on GPU; LoRA 4·P FLOPs/token, full 6·P",
        *([gpu_step_note(s, job)] if x.train.accelerator else []),
        f"one serving replica for {request.constraints.serving_hours:g} h (on-demand)",
        "storage: node disks until destroy, the bucket, cross-cloud artifact egress (stratos.planner.storage)",
        *([f"{x.train_nodes} training nodes at {multi.INTER_NODE_EFFICIENCY:.0%} scaling efficiency"] if x.train_nodes > 1 else []),
        "prices from the SkyPilot catalog snapshot (USD/h)" if x.train.cloud != "local" else "local machine priced at the request's local.price_per_hour",
        *([host_rate.basis_note(job.threads, request.key)] if x.train.cloud == "local" else []),
        *filter(None, [teacher_time.basis_note(t.id, job.threads, job.teacher_max_new_tokens, request_key=request.key) if x.train.cloud == "local" and not t.is_api else None]),
        *teacher_notes(x.teacher),
    ]
    return Plan(
        task=request.task_name, task_ref=request.task_ref, request_key=request.key, accuracy_calibrated=uncalibrated is None, train=x.train, serve=x.serve, teacher=x.teacher, student=x.student,
        mode="auto" if request.mode == "auto" else x.mode, logit_kd=x.logit_kd,
        objectives=Objectives(
            cost_usd=x.cost_usd, latency_ms=x.latency_ms, accuracy=x.accuracy,
            accuracy_low=x.accuracy_low, accuracy_high=x.accuracy_high, accuracy_basis=x.accuracy_basis,
            train_hours=x.train_hours, synthesis_hours=x.synthesis_hours, train_tokens=x.tokens_seen,
        ),
        cost=CostEstimate(
            synthesis_usd=x.synthesis_usd, training_usd=max(x.training_usd, 0.0), serving_usd=x.serving_usd,
            storage_usd=x.storage_usd, total_usd=x.cost_usd, assumptions=assumptions,
        ),
        job=job.model_copy(update={"nodes": x.train_nodes}),
        reasons=reasons,
    )


def _duration(hours: float) -> str:
    if hours >= 1:
        return f"{hours:.2f} h"
    return f"{hours * 60:.1f} min" if hours >= 1 / 60 else f"{hours * 3600:.0f} s"


def gpu_step_note(s: ModelSpec, job: JobSettings) -> str:
    compiled = job.compiles(s.is_scratch)
    bound = est.gpu_launch_bound_tokens_per_s(s.layers, job.batch_blocks, job.micro_blocks, job.seq_len, compiled)
    return (f"a GPU training step takes at least {est.GPU_STEP_S * 1e3:.1f} ms + {est.GPU_STEP_S_PER_LAYER_PASS * 1e3:.1f} "
            f"ms per layer and micro-batch (kernel launches, measured on an H200)"
            + (f", x{est.GPU_COMPILED_STEP:g} compiled after {est.GPU_COMPILE_S:g} s of compiling" if compiled else "")
            + f": {s.id} trains at most {bound:,.0f} tokens/s on any GPU at {job.batch_blocks} blocks of "
            f"{job.seq_len} tokens a step")


def kd_reason(x: Candidate, t: ModelSpec, s: ModelSpec) -> str:
    """Why logit KD is on or off for this candidate, in the words the plan prints."""
    if x.logit_kd:
        return f"on (shared tokenizer '{s.tokenizer}', teacher weights local)"
    if t.is_api:
        return "off (API teacher: no logits)"
    if t.tokenizer != s.tokenizer:
        return f"off (tokenizers differ: {t.tokenizer} vs {s.tokenizer})"
    if size_ratio(t, s) > KD_MAX_RATIO:
        return f"off (capacity gap above {KD_MAX_RATIO:g}x)"
    return "off (injection mode trains on verified data only)"
