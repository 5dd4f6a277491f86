"""Build the student (scratch or LoRA) and its packed training/validation blocks.

The training text of an example is the task's canonical prompt as the user
turn and its verified rationale (or answer line) as the assistant turn: the
exact chat the served model will see. Knowledge rows (the task's rules) use
their own question as the prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stratos.distill.config import DistillConfig
from stratos.distill.losses import decision_weights
from stratos.distill.packing import Blocks, encode_pairs, pack
from stratos.tasks.base import Example, Task


def prompt_target(task: Task, ex: Example, style: str) -> tuple[str, str]:
    if ex.source == "knowledge":
        return ex.question, ex.rationale or ""
    if ex.rationale:
        return task.prompt(ex.question), ex.rationale
    target = task.format_answer(ex.answer) if style == "answer" else task.rationale(ex.question, ex.answer, style=style)
    return task.prompt(ex.question), target


def build_student_and_blocks(
    task: Task, cfg: DistillConfig, train_rows: list[Example], val: list[Example], out: Path, mode: str
) -> tuple[Any, Any, Blocks, Blocks, Any]:
    """(model, tokenizer, train blocks, val blocks, KD teacher model or None), on the CPU: the
    trainer places them on ``cfg.device`` (and shards them when the strategy says so)."""
    pairs = [prompt_target(task, e, cfg.target_style) for e in train_rows]
    val_pairs = [prompt_target(task, e, cfg.target_style) for e in val]
    kd_teacher = None
    if cfg.is_scratch:
        from stratos.distill.student import build_scratch

        tokenizer = scratch_tokenizer(task, train_rows, pairs)
        model = build_scratch(tokenizer, cfg.scratch, cfg.seed)
    else:
        import torch

        from stratos.device import resolve_device, weights_dtype
        from stratos.distill.resolve import student_source
        from stratos.distill.student import load_pretrained_lora

        frozen = weights_dtype(resolve_device(cfg.device, setting="job.device"))
        torch.manual_seed(cfg.seed)
        model, tokenizer = load_pretrained_lora(
            student_source(cfg.student), r=cfg.lora_r, alpha=cfg.lora_alpha, dtype=frozen
        )
        if cfg.logit_kd:
            kd_teacher = _kd_teacher(cfg, tokenizer, frozen)
    enc, val_enc = encode_pairs(tokenizer, pairs), encode_pairs(tokenizer, val_pairs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    blocks, val_blocks = pack(enc, cfg.seq_len, pad), pack(val_enc, cfg.seq_len, pad)
    markers = marker_token_ids(tokenizer, task.decision_marker)
    for b in (blocks, val_blocks):
        b.weights = decision_weights(b.input_ids, b.labels, markers, cfg.decision_weight)
    return model, tokenizer, blocks, val_blocks, kd_teacher


def scratch_tokenizer(task: Task, rows: list[Example], pairs: list[tuple[str, str]]) -> Any:
    """The word tokenizer a from-scratch student is built with, over ``rows``' (prompt, target)
    ``pairs``: its chat template drops the lines every task prompt repeats, so a served
    request is as short as a training prompt."""
    from stratos.distill.tokenizer import build_word_tokenizer, constant_lines

    task_prompts = [p for (p, _), e in zip(pairs, rows, strict=True) if e.source != "knowledge"]
    boiler = constant_lines(task_prompts[:2000])
    texts = [p for p, _ in pairs] + [t for _, t in pairs]
    return build_word_tokenizer(texts, task.vocabulary(), boiler, task.compact_units)


def marker_token_ids(tokenizer: Any, marker: str | None) -> list[int]:
    """Ids of every vocabulary token that reads as ``marker`` (``:``, ``Ġ:``, ``▁:``...)."""
    if not marker:
        return []
    vocab = tokenizer.get_vocab()
    return sorted(i for t, i in vocab.items() if tokenizer.convert_tokens_to_string([t]).strip() == marker)


def _kd_teacher(cfg: DistillConfig, student_tokenizer: Any, dtype: Any) -> Any:
    """The teacher's model for logits (weights in ``dtype``), when it shares the student's vocabulary
    (else None). The trainer moves it to the job's device beside the student."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stratos.distill.resolve import student_source
    from stratos.synth.teachers.local_hf import tokenizer_fingerprint
    from stratos.zoo.offline import resolve_model_source

    try:
        path = resolve_model_source(student_source(cfg.teacher))
        t_tok = AutoTokenizer.from_pretrained(path)
    except Exception:  # noqa: BLE001 - an API teacher has no logits: plain SFT
        return None
    if tokenizer_fingerprint(t_tok) != tokenizer_fingerprint(student_tokenizer):
        return None
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
