"""Benchmark: ``winning_tiles`` against the ``mahjong`` package on the same hands.

Baseline: for each hand, the waits computed with ``mahjong.agari.Agari.is_agari``
(the PyPI package's win check) over all 34 tile kinds, as one would without a
dedicated solver. Both sides get the hand as a string and must return the wait
list; the baseline is compared under the same rules it implements (seven pairs
and thirteen orphans included), and the results are asserted equal.

Run: ``python benchmarks/mahjong_solver.py [--hands 20000] [--seed 0]``
(single process, so "per core" throughput is what it prints). Goals: >= 5x the
baseline, >= 20,000 hands/s.
"""

from __future__ import annotations

import argparse
import time

from mahjong.agari import Agari

from stratos.tasks.mahjong import MahjongTask, solver
from stratos.tasks.mahjong.solver import Rules, winning_tiles
from stratos.tasks.mahjong.tiles import TILE_CODES, parse_counts


def baseline_waits(hand: str) -> list[str]:
    """Waits by 34 agari checks with the ``mahjong`` package."""
    counts = parse_counts(hand, 13)
    out = []
    for i in range(34):
        if counts[i] >= 4:
            continue
        counts[i] += 1
        if Agari.is_agari(counts):
            out.append(TILE_CODES[i])
        counts[i] -= 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hands", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    task = MahjongTask()
    half = args.hands // 2
    hands = [e.question for e in task.generate(half, args.seed, "reverse")]
    hands += [e.question for e in task.generate(args.hands - half, args.seed, "forward")]
    rules = Rules.from_name("all")  # what Agari.is_agari accepts

    ref = [baseline_waits(h) for h in hands]
    assert [winning_tiles(h, rules) for h in hands] == ref, (
        "winning_tiles disagrees with the mahjong package"
    )

    def timed(fn, cold: bool) -> float:
        """Best of ``--reps`` runs (the machine is shared; the minimum is the least disturbed)."""
        best = float("inf")
        for _ in range(args.reps):
            if cold:
                solver.clear_memo()
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return best

    t_base = timed(lambda: [baseline_waits(h) for h in hands], cold=False)
    t_all = timed(lambda: [winning_tiles(h, rules) for h in hands], cold=True)
    t_std = timed(lambda: [winning_tiles(h) for h in hands], cold=True)
    t_warm = timed(lambda: [winning_tiles(h) for h in hands], cold=False)
    n = len(hands)
    print(
        f"hands: {n} (half reverse puzzles, half forward draws); answers equal to the baseline; best of {args.reps}"
    )
    print(f"baseline mahjong Agari x34      : {n / t_base:9.0f} hands/s  ({t_base:.3f} s)")
    for label, t in (
        ("winning_tiles all rules, cold", t_all),
        ("winning_tiles standard, cold", t_std),
        ("winning_tiles standard, warm", t_warm),
    ):
        print(f"{label:32s}: {n / t:9.0f} hands/s  ({t:.3f} s)  {t_base / t:5.1f}x the baseline")
    print(
        "cold = memo tables emptied before the pass; warm = a long-running process (memo already filled)"
    )


if __name__ == "__main__":
    main()
