"""Distillation benchmark: the whole local job, an ablation, trainer throughput, serving cost.

Run (takes ~40 minutes on a 2-core CPU; run it alone, not under `nice`)::

    python benchmarks/distill_bench.py --out runs/bench
    python benchmarks/distill_bench.py --out runs/bench --only throughput   # one part

Parts, each printing a ratio against a baseline measured in the same run:

1. ``main``: ``stratos distill`` on the default local request (stacks/Pulumi.local.yaml:
   SmolLM2-135M teacher, the from-scratch student the plan picks, injection mode): whole-job wall
   time; student vs teacher exact accuracy on the 500 held-out puzzles, overall,
   single-suit (chinitsu) and hands with 4+ waits.
2. ``ablation``: the same student, budget and seed trained on forward-sampled
   questions with answers only (no reverse synthesis, no rationales, no rules).
3. ``throughput``: training tokens/s of our loop vs TRL's SFTTrainer on the same
   model, data (packed, completion-only) and hyper-parameters.
4. ``serving``: per-question p50 latency and cost per 1,000 questions, student vs teacher
   (read from the main run's report).
5. ``--flops-budget F``: hardware-neutral mode instead of the parts above: the job trains to
   ``F`` training FLOPs (6 x parameters x tokens, ``max_train_flops``) whatever the machine
   (no time cap unless ``--minutes``, no early stopping, the task's rule engine as teacher; with
   ``--minutes M`` alone it trains to the time cap, as the job does) and prints accuracy per
   question class on ``--per-class`` held-out questions each (the task's evaluation mix), the
   mix accuracy, tokens/s and the CPU model, so figures compare across machines::

    python benchmarks/distill_bench.py --out runs/budget --flops-budget 1.3e14 --threads 1
    python benchmarks/distill_bench.py --out runs/budget --flops-budget 1.3e14 --tag lr2 --set lr=2e-3

Results go to ``<out>/bench.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stratos.device import cpu_model  # noqa: E402
from stratos.distill.job import run_job  # noqa: E402
from stratos.distill.progress import JobProgress  # noqa: E402
from stratos.distill.resolve import load_config  # noqa: E402


def run(cfg, out: Path) -> tuple[dict, float]:
    t0 = time.perf_counter()
    with JobProgress(out / "job.log") as p:
        report = run_job(cfg, out, p)
    return report, time.perf_counter() - t0


def part_main(args, res: dict) -> None:
    cfg = load_config(args.config)
    report, wall = run(cfg, args.out / "main")
    m = report["metrics"]
    res["main"] = {
        "wall_s": wall,
        "job_s": report["times"].get("job_s"),
        "times": report["times"],
        "student_accuracy": m["student_accuracy"],
        "teacher_accuracy": m["teacher_accuracy"],
        "single_suit_accuracy": m.get("single_suit_accuracy"),
        "four_plus_accuracy": m.get("four_plus_accuracy"),
        "by_class": report["evaluation"]["student"]["by_class"],
        "probe": {k: report["probe"][k] for k in ("accuracy", "mode", "n")},
        "synthesis": report["synthesis"],
        "train": report["training"],
        "parameters": report["student"]["parameters"],
    }
    t_acc = m["teacher_accuracy"] or 0.0
    ratio = f"x{m['student_accuracy'] / t_acc:.1f}" if t_acc else ("teacher 0: any correct answer is >4x" if m["student_accuracy"] else "both 0")
    print(f"[main] job {report['times'].get('job_s', wall) / 60:.1f} min (target < 20); "
          f"student {m['student_accuracy']:.3f} vs teacher {m['teacher_accuracy']:.3f} "
          f"({ratio}; target >= 4x and >= 0.90); single-suit {m.get('single_suit_accuracy')}, "
          f"4+ waits {m.get('four_plus_accuracy')}")
    sv = report["serving"]
    res["serving"] = sv
    s_ms, t_ms = sv["student_latency"]["p50_ms"], (sv["teacher_latency"] or {}).get("p50_ms")
    if s_ms and t_ms:
        print(f"[serving] p50 student {s_ms:.0f} ms vs teacher {t_ms:.0f} ms (x{t_ms / s_ms:.1f} faster); "
              f"$/1k questions {sv['student_usd_per_1k_questions']} vs {sv['teacher_usd_per_1k_questions']} "
              f"({report['cost']['serve_offering']})")


def part_ablation(args, res: dict) -> None:
    cfg = load_config(args.config, mode="alignment", teacher="rules", target_style="answer",
                      knowledge_examples=0, rationale_budget=0, teacher_eval=False)
    report, wall = run(cfg, args.out / "ablation")
    acc = report["metrics"]["student_accuracy"]
    res["ablation"] = {"student_accuracy": acc, "wall_s": wall, "train": report["training"],
                       "by_class": report["evaluation"]["student"]["by_class"]}
    main = res.get("main", {}).get("student_accuracy")
    ratio = f"x{main / acc:.1f}" if main is not None and acc else "ablation 0"
    print(f"[ablation] forward questions + answers only: {acc:.3f}"
          + (f" vs full pipeline {main:.3f} ({ratio})" if main is not None else ""))


def part_throughput(args, res: dict) -> None:
    """Same model init, same packed blocks, same optimiser settings: ours vs TRL SFTTrainer."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from stratos.distill.train import resolve_precision, train
    from stratos.distill.training_data import build_student_and_blocks, prompt_target
    from stratos.synth.dataset import read_jsonl
    from stratos.tasks.base import get_task

    steps = args.steps
    cfg = load_config(args.config, max_steps=steps, eval_every=10_000, eval_samples=0, ckpt_every=10_000,
                      warmup_steps=5, max_train_minutes=60, decision_weight=1.0)  # TRL has plain CE
    task = get_task(cfg.task)
    src = args.out / "main" / "data" / "train_synth.jsonl"
    rows = read_jsonl(src) if src.is_file() else task.generate(3000, seed=0)
    rows = rows[:3000]
    model, tok, blocks, vblocks, _ = build_student_and_blocks(task, cfg, rows, rows[:20], args.out, "injection")
    init = {k: v.clone() for k, v in model.state_dict().items()}
    ck = args.out / "tp_ckpt"
    shutil.rmtree(ck, ignore_errors=True)
    r = train(model, blocks, vblocks, cfg, ck)
    ours = steps * cfg.batch_blocks * cfg.seq_len / r.train_seconds

    model.load_state_dict(init)
    model.set_attn_implementation("sdpa")  # ours trains math attention compiled; TRL gets torch's fused kernel
    torch.set_num_threads(cfg.threads)
    pairs = [prompt_target(task, e, cfg.target_style) for e in rows]
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": p}],
                             "completion": [{"role": "assistant", "content": c}]} for p, c in pairs])
    sft = SFTConfig(
        output_dir=str(args.out / "trl"), max_steps=steps, per_device_train_batch_size=cfg.batch_blocks,
        learning_rate=cfg.peak_lr, lr_scheduler_type="cosine", warmup_steps=5, weight_decay=cfg.weight_decay,
        adam_beta2=0.95, max_grad_norm=cfg.grad_clip, packing=True, max_length=cfg.seq_len,
        completion_only_loss=True, report_to=[], save_strategy="no", logging_steps=steps, use_cpu=True,
        dataloader_num_workers=0, seed=cfg.seed,
        bf16=resolve_precision(cfg.precision) == "bf16",  # same matmul precision as ours
    )
    trainer = SFTTrainer(model=model, args=sft, train_dataset=ds, processing_class=tok)
    t0 = time.perf_counter()
    trainer.train()
    trl_s = time.perf_counter() - t0
    theirs = steps * cfg.batch_blocks * cfg.seq_len / trl_s
    res["throughput"] = {"steps": steps, "ours_tokens_per_s": ours, "trl_tokens_per_s": theirs,
                         "ratio": ours / theirs, "ours_s": r.train_seconds, "trl_s": trl_s}
    print(f"[throughput] ours {ours:.0f} tok/s vs TRL SFTTrainer {theirs:.0f} tok/s: x{ours / theirs:.2f} "
          "(target >= 1)")


def parse_sets(items: list[str]) -> dict:
    """``key=value`` JobSettings overrides (values read as JSON, else as strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: write key=value, e.g. --set lr=2e-3")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def use_train_mix(task_name: str, spec: str) -> dict[str, float]:
    """Register ``task_name`` with training proportions ``spec`` (``reverse=0.4,single-suit=0.4,...``)."""
    from stratos.tasks.base import register_task
    from stratos.tasks.mahjong import MahjongTask

    mix = {k: float(v) for k, v in (kv.split("=") for kv in spec.split(","))}
    register_task(task_name, lambda: MahjongTask(train_mix=mix))
    return mix


def part_budget(args, res: dict) -> None:
    """Train to a FLOPs budget and print per-class accuracy on held-out questions (see module docstring)."""
    from stratos.tasks.base import get_task

    base = load_config(args.config)
    mix = use_train_mix(base.task, args.train_mix) if args.train_mix else None
    task = get_task(base.task)
    classes = len(task.eval_mix or {}) or 1
    settings = dict(
        max_train_flops=args.flops_budget, max_train_minutes=args.minutes or 24 * 60.0, patience=0,
        teacher="rules", mode="injection", teacher_eval=False, threads=args.threads,
        n_test=args.per_class * classes,
    )
    cfg = load_config(args.config, **{**settings, **parse_sets(args.set)})
    tag = args.tag or "base"
    report, wall = run(cfg, args.out / f"budget-{tag}")
    ev, tr = report["evaluation"]["student"], report["training"]
    row = {
        "tag": tag, "flops_budget": args.flops_budget, "max_train_minutes": args.minutes, "stopped": tr["stopped"],
        "student": cfg.student, "flops": tr["flops"], "tokens": report["data"]["train_tokens"],
        "parameters": report["student"]["parameters"], "steps": tr["steps"], "tokens_per_s": tr["tokens_per_s"],
        "train_s": tr["train_s"], "job_s": report["times"].get("job_s"), "wall_s": wall, "cpu": cpu_model(),
        "threads": cfg.threads, "train_mix": mix, "set": args.set, "accuracy": ev["accuracy"],
        "mix": ev["mix"], "mix_accuracy": ev["mix_accuracy"],
        "by_class": {k: v["accuracy"] for k, v in ev["by_class"].items()},
        "n_per_class": {k: v["n"] for k, v in ev["by_class"].items()},
    }
    res.setdefault("budget", {})[tag] = row
    per_class = ", ".join(f"{k} {v:.1%} (n={row['n_per_class'][k]})" for k, v in row["by_class"].items())
    cap = f"{args.flops_budget:.3g} FLOPs" if args.flops_budget else f"{args.minutes:g} min"
    print(f"[budget {tag}] {tr['flops']:.3g} FLOPs, cap {cap}, stopped by {tr['stopped']} ({row['tokens']:,} tokens, "
          f"{row['parameters']:,} parameters, {tr['steps']} steps): {per_class}; mix {row['mix_accuracy']:.1%} "
          f"over {row['mix']}; {tr['tokens_per_s']:.0f} tokens/s on {row['cpu']} x {cfg.threads} threads; "
          f"job {wall / 60:.1f} min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    ap.add_argument("--config", type=Path, default=ROOT / "stacks" / "Pulumi.local.yaml")
    ap.add_argument("--only", choices=["main", "ablation", "throughput"], action="append")
    ap.add_argument("--steps", type=int, default=200,
                    help="steps for the throughput comparison (ours includes its ~20 s of torch.compile)")
    ap.add_argument("--flops-budget", type=float, help="train to this many FLOPs instead (see module docstring)")
    ap.add_argument("--minutes", type=float,
                    help="budget mode: a training time cap instead of (or beside) --flops-budget, minutes: the "
                    "job's own time-capped behaviour, so a slower host trains fewer tokens")
    ap.add_argument("--per-class", type=int, default=500, help="budget mode: held-out questions per class")
    ap.add_argument("--threads", type=int, default=1, help="budget mode: torch threads")
    ap.add_argument("--tag", help="budget mode: the variant's name (its run dir and bench.json key)")
    ap.add_argument("--set", action="append", default=[], help="budget mode: a JobSettings override key=value")
    ap.add_argument("--train-mix", help="budget mode: training class proportions, e.g. reverse=0.4,single-suit=0.4")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "bench.json"
    res = json.loads(path.read_text()) if path.is_file() else {}
    if args.flops_budget or args.minutes:
        part_budget(args, res)
        path.write_text(json.dumps(res, indent=2, default=str))
        print(f"results: {path}")
        return
    for name, fn in (("main", part_main), ("ablation", part_ablation), ("throughput", part_throughput)):
        if args.only and name not in args.only:
            continue
        fn(args, res)
        path.write_text(json.dumps(res, indent=2, default=str))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
