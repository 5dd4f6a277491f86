"""GPU smoke benchmark (issue #17): the job, the student and the server use the GPU they rent.

One command on a machine with an NVIDIA GPU (about 5-8 minutes on one GPU)::

    python benchmarks/gpu_smoke.py --out runs/gpu_smoke

Parts, each against a baseline measured in the same run:

1. ``train``: the default Mahjong job (stacks/Pulumi.local.yaml: the from-scratch
   student and its settings; the rule teacher, so synthesis costs no model time)
   for ``--steps`` steps on CUDA, then the same steps on the CPU from the same data:
   training tokens/s on each and the ratio; the student's held-out accuracy after
   the CUDA run. With ``torch.compile`` on CUDA as a third run (``--no-compile`` skips
   it): the measurement ``job.compile`` defaults are based on. Beside it, the planner's
   training rate for this GPU and the utilisation the measured rate is.
2. ``rate``: training steps of each from-scratch student size at the job's step and at
   8x it (ms per step, tokens/s): how far a small student's step is from the FLOPs.
3. ``serve``: ``stratos serve --device cuda`` on the trained artifact (vLLM when
   installed, else the transformers engine on the GPU), questions at concurrency
   1 and 16: requests/s, p50 latency, accuracy.
4. ``torchrun`` (2+ GPUs only): the same job under ``torchrun --nproc_per_node 2``
   (data parallel, NCCL): it finishes, its tokens/s and accuracy beside one GPU's.

With no CUDA device it says so and exits 0. ``--cpu-check`` runs every part on the
CPU at toy size (it checks this script on a machine without a GPU; its numbers mean
nothing). Results: ``<out>/gpu_smoke.json`` and a table on stdout.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: What a run dir holds once everything that needs the teacher is done (copied, so later runs skip it).
SYNTH_FILES = ("data", "probe.json", "synth.json", "times.json", "config.json")


def job_config(args: argparse.Namespace, device: str, compile_steps: bool) -> Any:
    """The default local job at a fixed step count, on ``device``: one plan for every run of the
    smoke (each finished run adds a calibration point, which may move the next plan's choice)."""
    return _planned(args.n_train, args.steps, args.cpu_check).model_copy(
        update={"device": device, "compile": compile_steps}
    )


@functools.cache
def _planned(n_train: int, steps: int, cpu_check: bool) -> Any:
    from stratos.distill.resolve import load_config

    overrides: dict[str, Any] = dict(
        teacher="rules", mode="injection", teacher_eval=False, n_train=n_train, max_steps=steps,
        max_train_minutes=600.0, eval_every=steps, patience=0, threads=os.cpu_count() or 1,
    )
    if cpu_check:
        overrides.update(n_train=300, n_val=20, n_test=40, eval_samples=8, probe_size=8, knowledge_examples=2,
                         batch_blocks=2, micro_blocks=2, warmup_steps=2)
    return load_config(ROOT / "stacks" / "Pulumi.local.yaml", **overrides)


def run_job(cfg: Any, out: Path, seed_from: Path | None = None) -> tuple[dict[str, Any], float]:
    """``run_job`` into ``out`` (reusing ``seed_from``'s data and synthesis); (report, wall seconds)."""
    from stratos.distill.job import run_job as job
    from stratos.distill.progress import JobProgress

    if seed_from is not None:
        copy_synthesis(seed_from, out)
    t0 = time.perf_counter()
    with JobProgress(out / "job.log", quiet=True) as p:
        report = job(cfg, out, p)
    return report, time.perf_counter() - t0


def copy_synthesis(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in SYNTH_FILES:
        s, d = src / name, dst / name
        if s.is_dir() and not d.exists():
            shutil.copytree(s, d)
        elif s.is_file() and not d.exists():
            shutil.copy2(s, d)


def train_figures(report: dict[str, Any], wall: float) -> dict[str, Any]:
    t = report["training"]
    return {"steps": t["steps"], "train_s": t["train_s"], "tokens_per_s": t["tokens_per_s"], "job_wall_s": wall,
            "steady_tokens_per_s": t.get("fit_tokens_per_s"),
            "student_accuracy": report["metrics"]["student_accuracy"], "hardware": report["hardware"],
            "student_parameters": report["student"]["parameters"]}


def planner_prediction(device_name: str, figures: dict[str, Any]) -> dict[str, Any] | None:
    """What the planner assumes for this GPU (its datasheet row at ``MFU_TRAIN_GPU``) beside the
    measured training rate, and the model-FLOPs utilisation that rate is: the planner prices every
    GPU offering with that assumption, so this is the check of it. None for a GPU not in the table."""
    from stratos.catalog.gpus import gpu_specs
    from stratos.planner.estimators import MFU_TRAIN_GPU, train_flops

    squashed = device_name.upper().replace(" ", "").replace("-", "")
    names = [n for n in gpu_specs() if n.upper().replace("-", "") in squashed]
    if not names:
        return None
    spec = gpu_specs()[max(names, key=len)]
    per_token = train_flops(figures["student_parameters"], 1.0, lora=False)
    peak = spec.bf16_tflops * 1e12
    return {"gpu": spec.accelerator, "predicted_tokens_per_s": peak * MFU_TRAIN_GPU / per_token,
            "assumed_mfu": MFU_TRAIN_GPU, "measured_mfu": figures["tokens_per_s"] * per_token / peak}


def part_train(args: argparse.Namespace, gpu: str, res: dict[str, Any]) -> Path:
    """CUDA vs CPU on the same steps (and compiled CUDA); returns the CUDA run dir."""
    cuda_dir, cpu_dir, compiled_dir = args.out / "cuda", args.out / "cpu", args.out / "cuda-compiled"
    rep, wall = run_job(job_config(args, gpu, False), cuda_dir)
    res["train"] = {"cuda": train_figures(rep, wall)}
    res["train"]["planner"] = planner_prediction(res["device_name"], res["train"]["cuda"])
    rep, wall = run_job(job_config(args, "cpu", False), cpu_dir, seed_from=cuda_dir)
    res["train"]["cpu"] = train_figures(rep, wall)
    res["train"]["cuda_over_cpu_tokens_per_s"] = _ratio(res["train"]["cuda"], res["train"]["cpu"])
    if args.compile:
        rep, wall = run_job(job_config(args, gpu, True), compiled_dir, seed_from=cuda_dir)
        res["train"]["cuda_compiled"] = train_figures(rep, wall)
        res["train"]["compiled_over_eager_tokens_per_s"] = _ratio(res["train"]["cuda_compiled"], res["train"]["cuda"])
        eager, comp = res["train"]["cuda"]["steady_tokens_per_s"], res["train"]["cuda_compiled"]["steady_tokens_per_s"]
        res["train"]["compiled_over_eager_steady"] = comp / eager if eager and comp else None
    return cuda_dir


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    return a["tokens_per_s"] / b["tokens_per_s"] if b["tokens_per_s"] else float("nan")


#: The from-scratch students ``part_rate`` times, smallest first.
RATE_STUDENTS = ("scratch-llama-1m", "scratch-llama-3m", "scratch-llama-10m", "scratch-llama-30m")


def part_rate(args: argparse.Namespace, gpu: str, res: dict[str, Any]) -> None:
    """Training steps of each from-scratch student size on ``gpu`` (eager, bf16 autocast, AdamW),
    at the job's step (8 blocks of 256 tokens) and at 8x it: ms per step and tokens/s. The planner's
    GPU step floor (``estimators.GPU_STEP_S*``) is fitted on these: a small student's step is bound
    by kernel launches, not by its FLOPs."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from stratos.distill.train import autocast
    from stratos.zoo.registry import get_model

    students, batches, steps = (RATE_STUDENTS[:1], (2,), 2) if args.cpu_check else (RATE_STUDENTS, (8, 64), 20)
    res["rate"] = []
    for sid in students:
        m = get_model(sid)
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=m.vocab, hidden_size=m.hidden, intermediate_size=m.intermediate, num_hidden_layers=m.layers,
            num_attention_heads=m.heads, num_key_value_heads=m.kv_heads, tie_word_embeddings=True,
        )).to(gpu)
        params = sum(p.numel() for p in model.parameters())
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        for blocks in batches:
            ids = torch.randint(0, m.vocab, (blocks, 256), device=gpu)
            seconds = _timed_steps(model, opt, ids, steps, lambda: autocast("auto", gpu))
            tps = blocks * 256 * steps / seconds
            res["rate"].append({"student": sid, "parameters": params, "tokens_per_step": blocks * 256,
                                "step_ms": 1e3 * seconds / steps, "tokens_per_s": tps})
        del model, opt


def _timed_steps(model: Any, opt: Any, ids: Any, steps: int, amp: Any) -> float:
    """Seconds for ``steps`` optimiser steps on ``ids`` after three untimed ones."""
    import torch

    def step() -> None:
        with amp():
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if ids.is_cuda else (lambda: None)
    for _ in range(3):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return time.perf_counter() - t0


def part_serve(args: argparse.Namespace, gpu: str, run_dir: Path, res: dict[str, Any]) -> None:
    """``stratos serve`` on ``gpu`` at concurrency 1 and 16: requests/s, p50 latency, accuracy."""
    from stratos.evaluate.runner import Question, evaluate
    from stratos.serve.engines import vllm_installed
    from stratos.synth.dataset import read_jsonl
    from stratos.tasks.base import get_task

    task = get_task("mahjong")
    test = read_jsonl(run_dir / "data" / "test.jsonl")
    res["serve"] = {"engine": "vllm" if vllm_installed() and gpu != "cpu" else "transformers" if gpu != "cpu" else "cpu"}
    for conc, n in ((1, args.serve_questions // 4), (16, args.serve_questions)):
        qs = [Question(e.question) for e in test[:n]]
        rep = evaluate(str(run_dir / "artifact"), task, qs, concurrency=conc, max_tokens=128, device=gpu)
        res["serve"][f"concurrency_{conc}"] = {
            "questions": len(qs), "requests_per_s": rep.throughput_rps, "p50_ms": rep.latency.p50_ms if rep.latency else None,
            "accuracy": rep.accuracy, "errors": rep.errors,
        }


def part_torchrun(args: argparse.Namespace, run_dir: Path, res: dict[str, Any]) -> None:
    """The job under ``torchrun --nproc_per_node 2`` from the same data: it must finish."""
    out = args.out / "torchrun"
    copy_synthesis(run_dir, out)
    cfg_path = args.out / "torchrun-config.json"
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg_path.write_text(json.dumps({**cfg, "device": "auto"}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "stratos.distill", "--config", str(cfg_path), "--out", str(out), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.torchrun_timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        res["torchrun"] = {"ok": False, "returncode": proc.returncode, "stderr_tail": proc.stderr[-2000:]}
        return
    rep = json.loads((out / "report.json").read_text())
    res["torchrun"] = {"ok": True, **train_figures(rep, wall),
                       "over_one_gpu_tokens_per_s": _ratio(train_figures(rep, wall), res["train"]["cuda"])}


def print_table(res: dict[str, Any]) -> None:
    print(f"\nGPU smoke on {res['device_name']} (torch {res['torch']}, {res['gpus']} GPU(s))")
    t = res.get("train", {})
    for k in ("cuda", "cuda_compiled", "cpu"):
        if k in t:
            r = t[k]
            print(f"  train {k:14s} {r['steps']:5d} steps  {r['tokens_per_s']:10.0f} tok/s  "
                  f"student accuracy {r['student_accuracy']:.3f}  ({r['hardware']})")
    if "cuda_over_cpu_tokens_per_s" in t:
        print(f"  CUDA / CPU training tokens/s: {t['cuda_over_cpu_tokens_per_s']:.1f}x")
    if "compiled_over_eager_tokens_per_s" in t:
        steady = t.get("compiled_over_eager_steady")
        print(f"  compiled / eager on CUDA: {t['compiled_over_eager_tokens_per_s']:.2f}x over the run (compiling "
              f"included)" + (f", {steady:.2f}x once compiled (the job's steps 10-60)" if steady else ""))
    for r in res.get("rate", []):
        print(f"  rate {r['student']:18s} {r['parameters'] / 1e6:5.1f}M  {r['tokens_per_step']:6d} tok/step  "
              f"{r['step_ms']:7.1f} ms/step  {r['tokens_per_s']:12,.0f} tok/s")
    if t.get("planner"):
        p = t["planner"]
        print(f"  planner's {p['gpu']} training rate: predicted {p['predicted_tokens_per_s']:,.0f} tok/s at MFU "
              f"{p['assumed_mfu']:.2f}; measured {t['cuda']['tokens_per_s']:,.0f} = MFU {p['measured_mfu']:.2e}")
    for k, v in res.get("serve", {}).items():
        if isinstance(v, dict):
            print(f"  serve {k}: {v['requests_per_s']:.1f} req/s, p50 {v['p50_ms']:.0f} ms, accuracy {v['accuracy']:.3f}, "
                  f"errors {v['errors']}")
    if "torchrun" in res:
        r = res["torchrun"]
        print(f"  torchrun x2: {'ok' if r['ok'] else 'FAILED'}"
              + (f", {r['tokens_per_s']:.0f} tok/s ({r['over_one_gpu_tokens_per_s']:.2f}x one GPU), "
                 f"accuracy {r['student_accuracy']:.3f}" if r["ok"] else f": {r['stderr_tail'][-400:]}"))
    elif res.get("gpus", 0) < 2:
        print("  torchrun x2: skipped (fewer than 2 GPUs)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/gpu_smoke"))
    ap.add_argument("--steps", type=int, default=300, help="training steps of each run")
    ap.add_argument("--n-train", type=int, default=20000, help="training examples (the rule teacher writes them)")
    ap.add_argument("--serve-questions", type=int, default=200, help="questions at concurrency 16 (a quarter at 1)")
    ap.add_argument("--no-compile", dest="compile", action="store_false", help="skip the compiled CUDA run")
    ap.add_argument("--torchrun-timeout", type=float, default=240.0)
    ap.add_argument("--cpu-check", action="store_true", help="every part on the CPU at toy size (checks the script)")
    args = ap.parse_args()

    import torch

    if not torch.cuda.is_available() and not args.cpu_check:
        print("gpu_smoke: no CUDA device (torch.cuda.is_available() is False); nothing to measure here. "
              "Run it on a machine with an NVIDIA GPU and a CUDA build of torch.")
        return 0
    if args.cpu_check:
        args.steps, args.serve_questions, args.compile = min(args.steps, 6), min(args.serve_questions, 8), False
    gpu = "cpu" if args.cpu_check else "cuda"
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    res: dict[str, Any] = {
        "device_name": "CPU (--cpu-check)" if args.cpu_check else torch.cuda.get_device_name(0),
        "torch": torch.__version__, "gpus": 0 if args.cpu_check else torch.cuda.device_count(), "steps": args.steps,
    }
    t0 = time.perf_counter()
    run_dir = part_train(args, gpu, res)
    part_rate(args, gpu, res)
    part_serve(args, gpu, run_dir, res)
    if res["gpus"] >= 2 or (args.cpu_check and os.environ.get("GPU_SMOKE_TORCHRUN_ON_CPU")):
        part_torchrun(args, run_dir, res)
    res["wall_s"] = time.perf_counter() - t0
    (args.out / "gpu_smoke.json").write_text(json.dumps(res, indent=2))
    print_table(res)
    print(f"  total {res['wall_s']:.0f} s; figures in {args.out / 'gpu_smoke.json'}")
    return 0 if res.get("torchrun", {}).get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
