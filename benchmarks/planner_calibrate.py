"""Calibrate the planner's CPU estimators against measured runs on this machine, and check the
accuracy model's 80% band against measured runs.

    source scripts/env.sh && nice -n 10 python benchmarks/planner_calibrate.py [--write]
    source scripts/env.sh && python benchmarks/planner_calibrate.py --accuracy [--cache] [--extra runs.csv]

``--accuracy`` trains nothing: it takes the measured rows of
``stratos/planner/data/accuracy_calibration.csv`` (plus the user's calibration cache with
``--cache``, plus rows of ``--extra`` files in the same columns), predicts each with the
model fitted on every other row (leave-one-out), and counts the runs whose measured accuracy
lies inside the predicted 80% band. Target: at least 8 of 10 (80%) over at least 10 held-out
runs. Then the time-capped runs (``benchmarks/accuracy_runs.py``) are priced as the planner
prices a local job: tokens from the rate the *other* runs measured on the same CPU model and
thread count (``stratos.planner.host_rate``) x the time cap, the band at those tokens; each is
also priced at the other thread count, where 1 thread must get fewer tokens and a lower
accuracy than 2. Exit 0 when both hold, 1 when either misses, 2 when there are fewer than 10
runs to judge by.

Builds the zoo's from-scratch students with transformers (random weights: speed does not
depend on them), measures training tokens/s (AdamW, full fine-tuning, batch 8 x 160 tokens),
prefill time for a 128-token prompt and per-token decode time (greedy, 32 new tokens, kept
as raw measurements: serving is fitted to the CTranslate2 engine by ``serving_bench.py
calibrate``), and prints predicted vs measured training rates. ``--write`` stores the fitted factors and the raw
measurements in ``stratos/planner/data/cpu_calibration.json``, which the estimators read
(format documented in stratos/planner/estimators.py). The distillation job's own measured
runs can be appended to the ``runs`` list of that file the same way.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stratos.catalog.local import local_offering  # noqa: E402
from stratos.planner import estimators as est  # noqa: E402
from stratos.planner.hardware import hardware_of  # noqa: E402
from stratos.zoo import get_model  # noqa: E402

CAL = ROOT / "stratos" / "planner" / "data" / "cpu_calibration.json"


def build(model_id: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    m = get_model(model_id)
    cfg = LlamaConfig(hidden_size=m.hidden, num_hidden_layers=m.layers, num_attention_heads=m.heads,
                      num_key_value_heads=m.kv_heads, intermediate_size=m.intermediate, vocab_size=m.vocab,
                      tie_word_embeddings=True, max_position_embeddings=m.context)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg)


def train_tps(model, vocab: int, steps: int = 6, batch: int = 8, seq: int = 160) -> float:
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, vocab, (batch, seq))
    times = []
    for i in range(steps):
        t = time.perf_counter()
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if i > 0:  # first step warms up allocators
            times.append(time.perf_counter() - t)
    return batch * seq / statistics.median(times)


def serve_times(model, vocab: int, prompt: int = 128, new: int = 32) -> tuple[float, float]:
    import torch

    torch.set_grad_enabled(False)
    model.eval()
    x = torch.randint(0, vocab, (1, prompt))
    pre = []
    for _ in range(3):
        t = time.perf_counter()
        model(input_ids=x)
        pre.append(time.perf_counter() - t)
    gen = []
    for _ in range(3):
        t = time.perf_counter()
        model.generate(x, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
        gen.append(time.perf_counter() - t)
    prefill = statistics.median(pre)
    torch.set_grad_enabled(True)
    return prefill * 1e3, (statistics.median(gen) - prefill) / new * 1e3


def _extra_rows(path: Path) -> list[dict]:
    """Measured rows of another CSV in the calibration file's columns (the optional ones filled)."""
    from stratos.planner.accuracy import read_points

    return [r for r in read_points(path) if str(r["measured"]) == "1"]


def _row_line(r: dict, tokens: float, mean: float, low: float, high: float, prior: bool) -> str:
    measured = float(r["accuracy"])
    inside = low <= measured <= high
    flops = 6 * float(r["student_params"]) * tokens
    return (f"{r.get('tag') or '-':>8} {float(r['student_params']):8.3g} {r.get('threads') or '-':>3} "
            f"{tokens:9.3g} {r.get('tokens_per_s') or '-':>6} {flops:9.3g} {mean:6.3f} {low:6.3f}-{high:.3f} "
            f"{measured:8.3f}  {'yes' if inside else 'NO '}" + ("  (prior)" if prior else ""))


HEADER = (f"{'tag':>8} {'student':>8} {'thr':>3} {'tokens':>9} {'tok/s':>6} {'FLOPs':>9} {'pred':>6} "
          f"{'80% band':>13} {'measured':>8}  in?")


def accuracy_check(use_cache: bool, extra: list[Path], target: float = 0.8, min_runs: int = 10) -> int:
    """Leave-one-out check of the accuracy model's 80% band, then of the time-capped runs priced
    from the host's measured rate; returns the exit code."""
    from stratos.calibration import accuracy_rows
    from stratos.planner.accuracy import leave_one_out, read_points

    points = read_points(task="mahjong")
    points += [r for p in extra for r in _extra_rows(p)]
    if use_cache:
        points += list(accuracy_rows("mahjong"))
    held = leave_one_out(points)
    print("1. accuracy band, each measured run predicted at its measured tokens by the model fitted without it")
    print(HEADER)
    for h in held:
        print(_row_line(h.row, float(h.row["train_tokens"]), h.mean, h.low, h.high, h.prior))
    inside = sum(h.inside for h in held)
    share = inside / len(held) if held else 0.0
    print(f"inside the 80% band: {inside} of {len(held)} held-out runs ({share:.0%}); target {target:.0%} "
          f"over at least {min_runs} runs")
    if len(held) < min_runs:
        print(f"INCONCLUSIVE: only {len(held)} measured runs; add runs across student sizes, token budgets and host "
              "speeds (benchmarks/accuracy_runs.py; the job appends each run to the calibration cache: use --cache)")
        return 2
    band_ok = share >= target
    print("PASS" if band_ok else f"FAIL: {inside} inside, {math.ceil(target * len(held))} needed")
    capped_ok = time_capped_check(points, target)
    return 0 if band_ok and capped_ok else 1


def priced(points: list[dict], i: int, threads: int) -> tuple[float, tuple[float, float, float]] | None:
    """How the planner prices run ``i`` of ``points`` at ``threads`` threads, knowing only the other
    runs: (tokens = their measured rate on its CPU model x its time cap, (mean, low, high) accuracy at
    those tokens from the model fitted on them), or None when no other run gives a rate."""
    from stratos.planner import host_rate
    from stratos.planner.accuracy import fit, is_pretrained

    r, others = points[i], points[:i] + points[i + 1 :]
    params = float(r["student_params"])
    rate = host_rate.tokens_per_s(params, host_rate.csv_points(others, threads, r["cpu_model"]))
    if rate is None:
        return None
    tokens = rate * float(r["train_minutes"]) * 60
    return tokens, fit(others).predict(params, tokens, r["mode"], float(r["teacher_coverage"]), pretrained=is_pretrained(r))


def time_capped_check(points: list[dict], target: float) -> bool:
    """The planner's view of each time-capped run (``priced``), and the same run priced at the other
    thread count (1 <-> 2): the slower host must get fewer tokens and a lower predicted accuracy."""
    capped = [i for i, r in enumerate(points) if str(r.get("measured")) == "1" and r.get("train_minutes")]
    if not capped:
        print("2. time-capped runs: none")
        return True
    print("\n2. time-capped runs priced as the planner prices them: tokens = rate of the other runs x cap")
    print(HEADER.replace("   tokens", "pred tok") + "  measured tokens")
    inside = ordered = compared = 0
    for i in capped:
        r = points[i]
        own, other = priced(points, i, int(r["threads"])), priced(points, i, 3 - int(r["threads"]))
        if own is None:
            print(f"{r['tag']:>8}: no other run on {r['cpu_model']} x {r['threads']} threads to take a rate from")
            continue
        tokens, (mean, low, high) = own
        inside += low <= float(r["accuracy"]) <= high
        print(_row_line(r, tokens, mean, low, high, False) + f"  {float(r['train_tokens']):9.3g}")
        if other is not None:
            compared += 1
            mine, theirs = (tokens, mean), (other[0], other[1][0])
            slow, fast = (mine, theirs) if r["threads"] == "1" else (theirs, mine)
            ordered += slow[0] < fast[0] and slow[1] < fast[1]
    ok = inside >= target * len(capped) and ordered == compared
    print(f"inside the band: {inside} of {len(capped)}; 1 thread priced below 2 threads (fewer tokens, lower "
          f"accuracy) for {ordered} of {compared} runs: {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--accuracy", action="store_true", help="leave-one-out check of the accuracy band (no training)")
    ap.add_argument("--cache", action="store_true", help="with --accuracy: add the calibration cache's runs")
    ap.add_argument("--extra", type=Path, action="append", default=[], help="with --accuracy: another CSV of runs")
    # One thread: on a shared, oversubscribed 2-core box torch's 2-thread pool spins and is
    # 10x slower than one thread (measured here); the Stratos server pins threads the same way.
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.accuracy:
        sys.exit(accuracy_check(args.cache, args.extra))
    import torch

    torch.set_num_threads(args.threads)
    off = local_offering()
    hw = hardware_of(off)
    print(f"local machine: {off.vcpus:g} vCPUs, measured {off.gflops} GFLOP/s, {off.bandwidth_gbps} GB/s")
    runs = []
    for mid in ("scratch-llama-3m", "scratch-llama-30m"):
        spec = get_model(mid)
        model = build(mid)
        tps = train_tps(model, spec.vocab)
        pre_ms, step_ms = serve_times(model, spec.vocab)
        runs.append({"model": mid, "params": spec.params, "layers": spec.layers, "train_tokens_per_s": tps,
                     "prefill_ms_128": pre_ms, "decode_ms_per_token": step_ms})
    # Fit: training efficiency and prefill efficiency are fractions of the measured matmul rate.
    peak = off.gflops * 1e9
    train_eff = statistics.mean(r["train_tokens_per_s"] * 6 * r["params"] / peak for r in runs)
    prefill_eff = statistics.mean(2 * r["params"] * 128 / (r["prefill_ms_128"] / 1e3) / peak for r in runs)
    # Serving latency is the CTranslate2 engine's (benchmarks/serving_bench.py calibrate fits it);
    # the torch decode times are kept as raw measurements only.
    fitted = {"train_efficiency": round(train_eff, 4), "prefill_efficiency": round(prefill_eff, 4)}
    print("fitted:", fitted)
    print(f"{'model':20} {'metric':22} {'predicted (current)':>20} {'measured':>10} {'ratio':>7}")
    for r in runs:
        spec = get_model(r["model"])
        pred_tps = float(est.train_tokens_per_s(spec.params, hw, lora=False))
        print(f"{r['model']:20} {'train tokens/s':22} {pred_tps:20.1f} {r['train_tokens_per_s']:10.1f} "
              f"{pred_tps / r['train_tokens_per_s']:7.2f}")
    if args.write:
        doc = {
            "about": "CPU estimator factors fitted by benchmarks/planner_calibrate.py; read by "
                     "stratos/planner/estimators.py. Factors are fractions of the local machine's measured "
                     "numpy matmul rate; decode floors are ms per generated token.",
            "measured_on": {"vcpus": off.vcpus, "gflops": off.gflops, "bandwidth_gbps": off.bandwidth_gbps,
                            "date": datetime.now(UTC).isoformat(timespec="seconds")},
            **fitted,
            "runs": runs,
            "serving": json.loads(CAL.read_text()).get("serving") if CAL.is_file() else None,
        }
        CAL.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {CAL}")


if __name__ == "__main__":
    main()
