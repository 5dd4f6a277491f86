"""Write ``sums.jsonl``: short arithmetic questions with their answers, the example dataset task.

The pipeline reads only the file (``stacks/Pulumi.example-dataset.yaml`` names it);
this script is how it was made, so it can be regenerated or grown:

    python examples/dataset/make_sums.py --n 1524 --seed 0 --out examples/dataset/sums.jsonl

Questions are small sums, phrased a dozen ways, that a 135M-parameter chat model (the
offline SmolLM2 teacher) answers right often enough for the probe to choose alignment.
Every question text is distinct, so hash splits keep each in one split (the same sum in
another phrasing may sit in another split: the student learns the sums, not the wording).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

#: Phrasings of a single-digit sum; the offline SmolLM2 teacher answered 75-88% of the first three
#: right in a 24-question check (two-digit sums: 12%, "a plus b": 12%), so the probe can choose alignment.
SMALL = ("What is {a} + {b}?", "{a} + {b} = ?", "Compute {a} + {b}.", "Calculate {a} + {b}.", "What does {a} + {b} equal?",
         "Work out {a} + {b}.", "Find {a} + {b}.", "What is the value of {a} + {b}?", "Evaluate {a} + {b}.",
         "Solve {a} + {b}.", "Quick: {a} + {b}?", "Add up {a} + {b}.")
#: Sums of whole tens (50% in the same check): harder questions for the teacher to miss now and then.
TENS = ("What is {a}0 + {b}0?", "{a}0 + {b}0 = ?", "Compute {a}0 + {b}0.", "Calculate {a}0 + {b}0.")


def questions(n: int, seed: int) -> list[dict[str, object]]:
    """Up to ``n`` distinct questions (single-digit sums in 12 phrasings, sums of tens in 4), shuffled."""
    pool = [(t.format(a=a, b=b), a + b) for t in SMALL for a in range(10) for b in range(10)]
    pool += [(t.format(a=a, b=b), 10 * (a + b)) for t in TENS for a in range(1, 10) for b in range(1, 10)]
    random.Random(seed).shuffle(pool)
    if n > len(pool):
        raise SystemExit(f"--n {n}: at most {len(pool)} distinct questions")
    return [{"question": q, "answer": answer} for q, answer in pool[:n]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1524)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("sums.jsonl"))
    args = p.parse_args()
    rows = questions(args.n, args.seed)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {len(rows)} questions to {args.out}")


if __name__ == "__main__":
    main()
