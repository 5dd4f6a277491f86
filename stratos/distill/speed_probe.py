"""How fast this host trains each from-scratch student size: the rate a local plan is priced with
before any job has run on this CPU model (``stratos.planner.host_rate``).

It runs the job's own training step (``train.step_rate``: placement, precision, fused AdamW) with
the job's threads and batch shape (``batch_blocks`` full blocks of ``seq_len`` random tokens) for a
few steps per zoo size, in a fresh interpreter (the planner itself never imports torch). Steps are
eager: compiling three models would add minutes to the first ``pulumi preview``, and on the 2-core
AMD host compiled steps ran about as fast as eager bf16 ones (issue 23). Blocks are full, so the
rate is an upper bound for data that packs worse; the first finished job's measured rate replaces
these points (``host_rate`` prefers runs).

    python -m stratos.distill.speed_probe --threads 2    # one JSON line: [[parameters, tokens/s], ...]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

#: The zoo's from-scratch sizes a local plan chooses between.
STUDENTS = ("scratch-llama-1m", "scratch-llama-3m", "scratch-llama-10m")


class _Vocabulary:
    """What ``student.build_scratch`` reads of a tokenizer: its size and two special ids."""

    pad_token_id, eos_token_id = 0, 1

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def probe(threads: int, students: Sequence[str] = STUDENTS, steps: int = 3) -> list[tuple[float, float]]:
    """(parameters, training tokens/s) of each student in ``students`` on this host."""
    import torch

    from stratos.distill.config import DistillConfig
    from stratos.distill.packing import Blocks
    from stratos.distill.student import build_scratch
    from stratos.distill.train import step_rate
    from stratos.zoo import get_model

    out = []
    for sid in students:
        cfg = DistillConfig(task="speed-probe", teacher="rules", student=sid, mode="injection", threads=threads,
                            compile=False)
        vocab = get_model(sid).vocab or 512
        model = build_scratch(_Vocabulary(vocab), cfg.scratch, cfg.seed)
        n = cfg.batch_blocks * 2
        ids = torch.randint(0, vocab, (n, cfg.seq_len))
        blocks = Blocks(ids, ids.clone(), torch.arange(cfg.seq_len).repeat(n, 1))
        rate = step_rate(model, blocks, cfg, steps)
        out.append((float(sum(p.numel() for p in model.parameters())), round(rate, 1)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps(probe(args.threads, steps=args.steps)))


if __name__ == "__main__":
    main()
