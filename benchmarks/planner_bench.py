"""Planner benchmark (one run, prints ratios against baselines measured in the same run).

    source scripts/env.sh && nice -n 10 python benchmarks/planner_bench.py [--catalog DIR] [--scenarios 60]

1. Speed: the whole plan over the full snapshot catalog (AWS, GCP, Lambda, RunPod; spot
   allowed) x the whole zoo, cold (SkyPilot reads the CSVs) and warm (rows cached), beside
   SkyPilot's own optimizer on one single-objective request (cheapest 1-GPU node of any
   type) on the same catalog, and the ratio.
2. Front correctness: the planner's epsilon-front vs a brute-force O(n²) non-dominated filter on
   the same candidates (a subset of it that covers it within the tolerance), and vs the front
   of the exhaustive (unpruned) search on one cloud.
3. Quality: >= 50 generated scenarios, chosen plan's deployment score vs accuracy_first and
   cost_first (same constraints, same score): mean and worst ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stratos.catalog import sky_catalog  # noqa: E402
from stratos.exceptions import InfeasibleError  # noqa: E402
from stratos.planner import make_plan  # noqa: E402
from stratos.planner.pareto import brute_force_mask, epsilon_dominated  # noqa: E402
from stratos.planner.result import FRONT_ABS, FRONT_REL  # noqa: E402
from stratos.spec import parse_request  # noqa: E402

ALL = ["aws", "gcp", "lambda", "runpod"]


def timed(fn, repeats=3):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def speed(catalog: str) -> dict:
    req = parse_request({"target": "aws", "clouds": ALL, "spot": True})
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STRATOS_CACHE"] = tmp
        sky_catalog._offerings.cache_clear()
        t = time.perf_counter()
        result = make_plan(req, catalog)
        cold = time.perf_counter() - t
        tree = sky_catalog.resolve_catalog_dir(catalog)
        runtime = sky_catalog._runtime_dir(tree, "bench")
        sky_catalog._offerings.cache_clear()
        warm, result = timed(lambda: make_plan(req, catalog))  # rows from the JSON cache
        sky_catalog._offerings.cache_clear()
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "planner_sky_optimizer.py")],
                              env=dict(os.environ, SKY_RUNTIME_DIR=str(runtime)), capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"SkyPilot optimizer failed:\n{proc.stderr[-2000:]}")
        sky_out = json.loads(proc.stdout.strip().splitlines()[-1])
    os.environ.pop("STRATOS_CACHE")
    return {"result": result, "cold_s": cold, "warm_s": warm, "sky": sky_out}


def front_check(result, catalog: str) -> dict:
    feas = [c for c in result.candidates if c.feasible]
    obj = np.array([c.objectives() for c in feas]) * np.array([1, 1, -1, 1])
    t = time.perf_counter()
    brute = brute_force_mask(obj)
    t_brute = time.perf_counter() - t
    ours = {id(c) for c in result.pareto}
    exact = {id(feas[i]) for i in np.flatnonzero(brute)}
    front = np.array([c.objectives() for c in result.pareto]) * np.array([1, 1, -1, 1])
    same = ours <= exact and bool(epsilon_dominated(obj[brute], front, FRONT_ABS, FRONT_REL).all())
    # The exhaustive search crosses every option (no pruning), so keep it to one region and three GPUs.
    req = parse_request({"target": "aws", "spot": True, "regions": ["us-east-1"], "gpus": ["L4", "A10G", "A100"],
                         "constraints": {"max_latency_ms": 1000}})
    pruned, full = make_plan(req, catalog), make_plan(req, catalog, exhaustive=True)

    def front(r):
        return {tuple(round(v, 9) for v in c.objectives()) for c in r.pareto}

    return {"same_as_brute_force": same, "front": len(ours), "exact_front": len(exact), "feasible": len(feas), "brute_s": t_brute,
            "exhaustive_same_front": front(pruned) == front(full),
            "exhaustive_candidates": len(full.candidates), "pruned_candidates": len(pruned.candidates)}


def scenario(rng: random.Random) -> dict:
    target = rng.choice(["aws", "gcp"])
    clouds = [target] + [c for c in ALL if c != target and rng.random() < 0.4]
    cons = {
        "min_accuracy": round(rng.choice([0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.93]), 2),
        "max_latency_ms": rng.choice([None, 50, 80, 150, 300, 1000, 3000]),
        "budget_usd": rng.choice([None, 100, 300, 1000, 3000, 10000]),
        "serving_hours": rng.choice([24, 168, 720, 2160]),
        "max_train_hours": rng.choice([1, 4, 24]),
        "output_tokens": rng.choice([16, 32, 64, 128]),
    }
    w = {k: round(rng.uniform(0.1, 2.0), 2) for k in ("cost", "latency", "accuracy", "train_time")}
    return {"target": target, "clouds": clouds, "spot": rng.random() < 0.5, "constraints": cons, "weights": w}


def quality(catalog: str, n: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    ratios_acc, ratios_cost, infeasible = [], [], 0
    while len(ratios_acc) < n:
        try:
            r = make_plan(parse_request(scenario(rng)), catalog)
        except InfeasibleError:
            infeasible += 1
            continue
        ratios_acc.append(r.chosen_score / max(r.baseline_scores["accuracy_first"], 1e-9))
        ratios_cost.append(r.chosen_score / max(r.baseline_scores["cost_first"], 1e-9))
    return {"n": n, "infeasible_skipped": infeasible,
            "vs_accuracy_first": (statistics.mean(ratios_acc), min(ratios_acc)),
            "vs_cost_first": (statistics.mean(ratios_cost), min(ratios_cost)),
            "better_by_22pct_share": sum(1 for a, c in zip(ratios_acc, ratios_cost, strict=True)
                                         if min(a, c) >= 1.22) / n}


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", default=os.environ.get("STRATOS_CATALOG_DIR"))
    ap.add_argument("--scenarios", type=int, default=60)
    args = ap.parse_args()
    sp = speed(args.catalog)
    r, sky = sp["result"], sp["sky"]
    print("== speed: full snapshot x whole zoo ==")
    print(f"offerings {r.stats['offerings']} (train {r.stats['train_offerings']}, serve {r.stats['serve_offerings']} "
          f"after region dedupe), teachers {r.stats['teachers']}, students {r.stats['students']}, "
          f"pairs {r.stats['pairs']}, phase evaluations {r.stats['phase_evaluations']}, "
          f"candidates {r.stats['candidates']}, front {r.stats['pareto']}")
    print(f"stratos plan  cold (SkyPilot reads CSVs): {sp['cold_s']:.3f} s   warm (cached rows): {sp['warm_s']:.3f} s"
          f"   budget 2 s: {'OK' if sp['warm_s'] < 2 else 'OVER'}")
    print(f"sky optimizer one single-objective request: cold {sky['cold_s']:.3f} s, warm {sky['warm_s']:.3f} s "
          f"(import {sky['import_s']:.2f} s) -> {sky['best']}")
    print(f"ratio stratos warm plan / sky warm optimize: {sp['warm_s'] / sky['warm_s']:.2f}x   "
          f"cold/cold: {sp['cold_s'] / sky['cold_s']:.2f}x")
    fc = front_check(r, args.catalog)
    print("== front correctness ==")
    print(f"epsilon-front within brute-force front and covering it, on {fc['feasible']} feasible candidates: "
          f"{fc['same_as_brute_force']} (epsilon-front {fc['front']} of exact {fc['exact_front']}, "
          f"brute force {fc['brute_s']:.2f} s)")
    print(f"aws us-east-1 L4/A10G/A100: pruned search front == exhaustive search front: {fc['exhaustive_same_front']} "
          f"({fc['pruned_candidates']} vs {fc['exhaustive_candidates']} candidates)")
    q = quality(args.catalog, args.scenarios)
    print(f"== quality: {q['n']} feasible generated scenarios ({q['infeasible_skipped']} infeasible skipped) ==")
    print(f"chosen / accuracy_first score: mean {q['vs_accuracy_first'][0]:.3f}, worst {q['vs_accuracy_first'][1]:.3f}")
    print(f"chosen / cost_first score:     mean {q['vs_cost_first'][0]:.3f}, worst {q['vs_cost_first'][1]:.3f}")
    print(f"scenarios where chosen beats both baselines by >= 22%: {q['better_by_22pct_share']:.0%}")


if __name__ == "__main__":
    main()
