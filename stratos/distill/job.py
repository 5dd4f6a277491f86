"""The distillation job, top to bottom: plan -> data -> probe -> synthesis -> training -> evaluation -> artifact.

Every phase leaves a file in the run dir before the next starts (datasets,
``probe.json``, ``synth.json``, checkpoints, ``eval_*.json``, ``artifact/``,
``report.json``), so rerunning the same command skips finished phases and the
training phase resumes from its latest checkpoint. Under ``torchrun`` rank 0
prepares data and evaluates; every rank trains.

Deterministic under ``cfg.seed``: data, splits, initialisation and batch order
all derive from it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from stratos.distill.config import DistillConfig
from stratos.distill.progress import JobProgress
from stratos.exceptions import ArtifactError, StratosError
from stratos.synth.dataset import read_jsonl, write_jsonl
from stratos.tasks.base import Example, Task, get_task

# What one hour of this kind of machine costs when the plan names none: AWS c7i.large
# on-demand (2 vCPU), us-east-1 — the closest cloud twin of the 2-core box we measure on.
DEFAULT_USD_PER_HOUR = 0.0893
LATENCY_QUESTIONS = 10


def _json(path: Path, body: Any | None = None) -> Any:
    """Read ``path`` (None if absent), or write ``body`` atomically."""
    if body is None:
        return json.loads(path.read_text()) if path.is_file() else None
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")  # one temp name per process (DDP ranks)
    tmp.write_text(json.dumps(body, indent=2, default=str))
    tmp.replace(path)
    return body


def make_splits(task: Task, cfg: DistillConfig) -> dict[str, list[Example]]:
    """Reverse-synthesised train/val/test with no hand in two splits (the task's splitter if it has one)."""
    fr = (0.8, 0.1, 0.1)
    n = int(max(cfg.n_train / fr[0], cfg.n_val / fr[1], cfg.n_test / fr[2]) * 1.1) + 10
    pool = task.generate(n, seed=cfg.seed, mode="reverse")
    splitter = getattr(task, "splits", None)
    if splitter is not None:
        parts = splitter(pool, fr)
    else:
        import hashlib

        parts = {"train": [], "val": [], "test": []}
        for e in pool:
            u = int(hashlib.sha256(e.question.encode()).hexdigest()[:8], 16) / 16**8
            parts["train" if u < fr[0] else "val" if u < fr[0] + fr[1] else "test"].append(e)
    return {"train": parts["train"][: cfg.n_train], "val": parts["val"][: cfg.n_val], "test": parts["test"][: cfg.n_test]}


def forward_questions(task: Task, cfg: DistillConfig, exclude: set[str]) -> list[Example]:
    """Forward-sampled questions (no known answers needed) for alignment, disjoint from val/test."""
    out = [e for e in task.generate(cfg.n_train * 2, seed=cfg.seed + 7, mode="forward") if e.question not in exclude]
    return out[: cfg.n_train]


def run_job(cfg: DistillConfig, out_dir: str | Path, progress: JobProgress) -> dict[str, Any]:
    """Run (or resume, or confirm finished) the job into ``out_dir``; returns the report."""
    from stratos.distill.train import dist_info

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rank, world = dist_info()
    done = _json(out / "report.json")
    if done is not None and (out / "artifact" / "manifest.json").is_file():
        from stratos.manifest import verify_manifest

        try:
            verify_manifest(out / "artifact")
            progress.message(f"run in {out} is already complete: nothing to do")
            return done
        except ArtifactError:
            progress.message("artifact failed verification: re-exporting")
    saved = _json(out / "config.json")
    if saved is not None and saved != json.loads(cfg.model_dump_json()):
        raise StratosError(
            f"{out} holds a run with a different config; use a new --out dir or delete {out} to start over."
        )
    if rank == 0:
        _json(out / "config.json", json.loads(cfg.model_dump_json()))
    t_job = time.perf_counter()
    times: dict[str, float] = _json(out / "times.json") or {}
    task = get_task(cfg.task)
    teacher = None

    def get_teacher() -> Any:
        nonlocal teacher
        if teacher is None:
            from stratos.synth.teachers import make_teacher

            # an API teacher keeps the answers it paid for in the run dir (resumed and uploaded with it)
            opts: dict[str, Any] = {"threads": cfg.threads, "cache_dir": out / "teacher_answers"}
            try:
                teacher = make_teacher(cfg.teacher, task, **opts)
            except TypeError:
                teacher = make_teacher(cfg.teacher, task)
        return teacher

    data = out / "data"
    if rank == 0:
        # ---- 1. data: reverse-synthesised splits with known answers
        if not (data / "test.jsonl").is_file():
            progress.start("data")
            t0 = time.perf_counter()
            splits = make_splits(task, cfg)
            for name, rows in splits.items():
                write_jsonl(data / f"{name}.jsonl", rows)
            times["data_s"] = time.perf_counter() - t0
            progress.done(**{k: len(v) for k, v in splits.items()})
        splits = {k: read_jsonl(data / f"{k}.jsonl") for k in ("train", "val", "test")}

        # ---- 2. probe the teacher -> mode
        probe = _json(out / "probe.json")
        if probe is None:
            progress.start("probe", teacher=cfg.teacher)
            from stratos.synth.probe import probe_teacher

            res = probe_teacher(
                get_teacher(), task, splits["val"][: cfg.probe_size], cfg.probe_threshold,
                max_new_tokens=cfg.teacher_max_new_tokens,
            )
            probe = _json(out / "probe.json", {**res.to_dict(), "configured_mode": cfg.mode})
            times["probe_s"] = res.wall_s
            progress.done(accuracy=res.accuracy, mode=res.mode)
        mode = probe["mode"] if cfg.mode == "auto" else cfg.mode

        # ---- 3. synthesis: verified training data for the chosen mode
        if not (data / "train_synth.jsonl").is_file():
            progress.start("synth", mode=mode)
            t0 = time.perf_counter()
            if mode == "alignment":
                from stratos.synth.alignment import align

                exclude = {e.question for e in splits["val"] + splits["test"]}
                qs = forward_questions(task, cfg, exclude)
                rows, stats = align(
                    get_teacher(), task, qs, samples_per_question=cfg.samples_per_question,
                    max_new_tokens=cfg.teacher_max_new_tokens, seed=cfg.seed,
                )
            else:
                from stratos.synth.injection import inject

                rows, stats = inject(
                    get_teacher(), task, splits["train"], rationale_budget=cfg.rationale_budget,
                    style=cfg.target_style, knowledge_examples=cfg.knowledge_examples,
                    max_new_tokens=cfg.teacher_max_new_tokens * 2,
                )
            if not rows:
                raise StratosError(
                    f"synthesis kept no training examples in {mode} mode (teacher {cfg.teacher}); "
                    "use a stronger teacher or mode 'injection'."
                )
            stats["mode"] = mode
            times["synth_s"] = time.perf_counter() - t0
            stats["wall_s"] = times["synth_s"]
            _json(out / "synth.json", stats)
            write_jsonl(data / "train_synth.jsonl", rows)
            progress.done(**{k: v for k, v in stats.items() if isinstance(v, int | float)})
        _json(out / "times.json", times)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    splits = {k: read_jsonl(data / f"{k}.jsonl") for k in ("val", "test")}
    train_rows = read_jsonl(data / "train_synth.jsonl")
    probe = _json(out / "probe.json")
    synth_stats = _json(out / "synth.json")
    mode = synth_stats["mode"]

    # ---- 4. student + packed data
    from stratos.distill.training_data import build_student_and_blocks

    model, tokenizer, blocks, val_blocks, kd_teacher = build_student_and_blocks(
        task, cfg, train_rows, splits["val"], out, mode
    )
    max_new = min(cfg.eval_max_new_tokens, _longest_completion(tokenizer, task, train_rows, cfg) + 8)

    # ---- 5. train (resumes from out/ckpt)
    from stratos.distill.evaluation import evaluate_engine
    from stratos.distill.train import train
    from stratos.serve.engine import GenerationEngine

    val_q = splits["val"][: cfg.eval_samples]

    def val_accuracy(m: Any) -> float:
        eng = GenerationEngine(m, tokenizer, name="student")
        return float(evaluate_engine(eng, task, val_q, max_new_tokens=max_new)["accuracy"]) if val_q else 0.0

    progress.start("train", steps=cfg.max_steps)
    result = train(
        model, blocks, val_blocks, cfg, out / "ckpt",
        evaluate=val_accuracy if cfg.eval_samples else None,
        teacher_model=kd_teacher,
        progress=lambda rec: progress.update(rec["progress"], **{k: v for k, v in rec.items() if k != "progress"}),
    )
    progress.done(steps=result.steps, stopped=result.stopped)
    if rank != 0:
        return {}
    times["train_s"] = result.train_seconds

    # ---- 6. evaluate student and teacher on the same held-out test split
    eval_student = _json(out / "eval_student.json")
    if eval_student is None:
        progress.start("eval")
        eng = GenerationEngine(model, tokenizer, name="student")
        eval_student = evaluate_engine(eng, task, splits["test"], max_new_tokens=max_new)
        from stratos.distill.evaluation import latency

        eval_student["latency"] = latency(eng, task, [e.question for e in splits["test"][:LATENCY_QUESTIONS]], max_new_tokens=max_new)
        _json(out / "eval_student.json", eval_student)
        progress.done(accuracy=eval_student["accuracy"])
    eval_teacher = _json(out / "eval_teacher.json")
    if eval_teacher is None and cfg.teacher_eval:
        progress.start("eval_teacher", teacher=cfg.teacher)
        eval_teacher = teacher_eval(get_teacher(), task, splits["test"][: cfg.teacher_eval_size], cfg)
        _json(out / "eval_teacher.json", eval_teacher)
        progress.done(accuracy=eval_teacher["accuracy"])

    # ---- 7. artifact + report
    progress.start("export")
    times["job_s"] = times.get("job_s_before", 0.0) + (time.perf_counter() - t_job)
    report = build_report(cfg, mode, probe, synth_stats, result, eval_student, eval_teacher, times, model, len(train_rows), splits)
    report["training"]["logit_kd"] = kd_teacher is not None
    from stratos.distill.export import export_artifact
    from stratos.distill.hf_dataset import export_run_dataset
    from stratos.distill.report import plot_curves, write_report

    plot_curves(result.history, out / "curves.png")
    card = {
        "task": cfg.task, "teacher": cfg.teacher, "student": cfg.student, "mode": mode,
        "parameters": report["student"]["parameters"], "metrics": report["metrics"],
        "data": report["data"], "hardware": report["hardware"], "wall_s": times["job_s"],
        "cost_usd": report["cost"]["job_usd"], "seed": cfg.seed, "max_new_tokens": max_new,
        "table": {"single-suit accuracy": report["metrics"].get("single_suit_accuracy"),
                  "4+ answers accuracy": report["metrics"].get("four_plus_accuracy")},
    }
    export_artifact(model, tokenizer, out / "artifact", card, max_new_tokens=max_new)
    export_run_dataset(out)  # the data in TRL's `messages` format + dataset card, for the Hub
    write_report(out, report)
    progress.done(accuracy=eval_student["accuracy"])
    return report


def teacher_eval(teacher: Any, task: Task, test: list[Example], cfg: DistillConfig) -> dict[str, Any]:
    """The teacher's zero-shot accuracy on ``test`` (and its per-question latency when local)."""
    from stratos.distill.evaluation import breakdowns, latency
    from stratos.synth.probe import ask

    t0 = time.perf_counter()
    texts = [t[0] for t in ask(teacher, task, [e.question for e in test], max_new_tokens=cfg.teacher_max_new_tokens)]
    secs = time.perf_counter() - t0
    preds = [task.parse_answer(t) for t in texts]
    metrics = breakdowns(task, test, preds)
    metrics.update(wall_s=secs, samples=[{"question": e.question, "output": t[-300:]} for e, t in list(zip(test, texts, strict=True))[:3]])
    engine = getattr(teacher, "engine", None)
    if engine is not None:
        metrics["latency"] = latency(engine, task, [e.question for e in test[:LATENCY_QUESTIONS]], max_new_tokens=cfg.teacher_max_new_tokens)
    return metrics


def _longest_completion(tokenizer: Any, task: Task, rows: list[Example], cfg: DistillConfig) -> int:
    """Tokens in the longest training completion (of the first 3000): the decode budget."""
    from stratos.distill.training_data import prompt_target

    lens = [
        len(tokenizer(prompt_target(task, e, cfg.target_style)[1], add_special_tokens=False)["input_ids"]) + 1
        for e in rows[:3000]
        if e.source != "knowledge"
    ]
    return max(lens, default=64)


def _single_suit(q: str) -> bool:
    letters = {c for c in q if c.isalpha()}
    return len(letters) == 1


def build_report(cfg, mode, probe, synth, result, ev_s, ev_t, times, model, n_train, splits) -> dict[str, Any]:  # noqa: ANN001
    """Everything a reader of the run wants in one JSON object."""
    test = splits["test"]
    single = [i for i, e in enumerate(test) if _single_suit(e.question)]
    usd_h = DEFAULT_USD_PER_HOUR
    s_lat = (ev_s.get("latency") or {}).get("p50_s", 0.0)
    t_lat = ((ev_t or {}).get("latency") or {}).get("p50_s")
    params = sum(p.numel() for p in model.parameters())
    metrics = {
        "student_accuracy": ev_s["accuracy"],
        "teacher_accuracy": (ev_t or {}).get("accuracy"),
        "teacher_n": (ev_t or {}).get("n"),
        "by_difficulty": ev_s.get("by_difficulty"),
        "by_answer_size": ev_s.get("by_answer_size"),
        "single_suit_accuracy": (ev_s.get("by_difficulty") or {}).get("chinitsu", {}).get("accuracy"),
        "single_suit_n": len(single),
        "four_plus_accuracy": (ev_s.get("by_answer_size") or {}).get("4+", {}).get("accuracy"),
        "teacher_by_difficulty": (ev_t or {}).get("by_difficulty"),
    }
    return {
        "task": cfg.task,
        "teacher": cfg.teacher,
        "student": {"id": cfg.student, "parameters": params, "lora": hasattr(model, "peft_config")},
        "mode": mode,
        "probe": probe,
        "synthesis": synth,
        "data": {"train_examples": n_train, "val": cfg.n_val, "test": len(test), "train_tokens": result.tokens},
        "metrics": metrics,
        "training": {
            "steps": result.steps, "planned_steps": result.total_steps, "stopped": result.stopped,
            "best_val": result.best_val, "train_s": result.train_seconds, "tokens_per_s": result.tokens_per_s,
            "curves": "curves.png",
        },
        "serving": {
            "student_p50_s": s_lat, "teacher_p50_s": t_lat,
            "student_usd_per_1k_questions": s_lat * 1000 / 3600 * usd_h,
            "teacher_usd_per_1k_questions": (t_lat * 1000 / 3600 * usd_h) if t_lat is not None else None,
            "student_eval_tokens_per_s": ev_s.get("tokens_per_s"),
        },
        "times": times,
        "cost": {"usd_per_hour": usd_h, "job_usd": times.get("job_s", 0) / 3600 * usd_h,
                 "assumption": "this 2-core machine priced as AWS c7i.large on-demand"},
        "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores, torch threads {cfg.threads}",
        "config": json.loads(cfg.model_dump_json()),
    }


__all__ = ["run_job", "make_splits", "replace"]
