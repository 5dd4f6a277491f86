"""A second, small Stratos task: prime factorisation ("Factor 84." -> 2 2 3 7).

It shows everything a domain needs to be distilled by Stratos (a subclass of
``Task`` in ``stratos/tasks/base.py``): questions with known answers made in
both directions, one prompt, a tolerant parser, a checker, a scorer, rules as
text, generation controls, and a checkable rationale. Load it into the CLI with ``--task-module``:

    stratos synth factor --task-module examples/custom_task/factor_task.py \
        --mode reverse --n 1000 --seed 0 --out factor.jsonl
"""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from stratos.tasks.base import Example, Task, register_task

PRIMES = [p for p in range(2, 100) if all(p % d for d in range(2, int(math.isqrt(p)) + 1))]


def factorise(n: int) -> list[int]:
    """Prime factors of ``n`` (>= 2) in ascending order, by trial division."""
    if n < 2:
        raise ValueError(f"can only factor integers >= 2, got {n}")
    out, d = [], 2
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1
    if n > 1:
        out.append(n)
    return out


class FactorTask(Task):
    """Factor an integer into primes. Difficulty = number of prime factors."""

    name = "factor"
    record_aliases = {"number": "question", "factors": "answer"}
    controls = {"max_factors": "reverse: at most this many prime factors", "max_value": "forward: largest number drawn"}

    def generate(self, n: int, seed: int, mode: str = "reverse", **controls: Any) -> list[Example]:
        """``reverse``: multiply random small primes (the answer is known by construction);
        ``forward``: draw a number and factor it. Controls: ``max_factors`` (reverse, default 5),
        ``max_value`` (forward, default 10000)."""
        if mode not in ("reverse", "forward"):
            raise ValueError(f"unknown mode {mode!r}; use 'reverse' or 'forward'")
        max_factors = int(controls.pop("max_factors", 5))
        max_value = int(controls.pop("max_value", 10_000))
        if controls:
            raise ValueError(f"unknown controls {sorted(controls)}; valid: max_factors, max_value")
        rng = random.Random(f"factor/{mode}/{seed}")
        out: list[Example] = []
        seen: set[int] = set()
        while len(out) < n:
            if mode == "reverse":
                factors = sorted(
                    rng.choice(PRIMES[:12]) for _ in range(rng.randint(1, max_factors))
                )
                value = math.prod(factors)
            else:
                value = rng.randint(2, max_value)
                factors = factorise(value)
            if value in seen:
                continue
            seen.add(value)
            out.append(
                Example(
                    id=f"factor-{mode}-{seed}-{len(out):06d}",
                    question=str(value),
                    answer=factors,
                    difficulty=f"{min(len(factors), 4)}{'+' if len(factors) >= 4 else ''}-factors",
                    source=mode,
                )
            )
        return out

    def prompt(self, question: str) -> str:
        return f"Factor {question} into primes. End with 'Answer: p1 p2 ...' in ascending order."

    def parse_answer(self, text: str) -> list[int] | None:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        if not lines:
            return None
        tail = next((ln for ln in reversed(lines) if "answer" in ln.lower()), lines[-1])
        nums = [int(x) for x in re.findall(r"\d+", tail.split(":", 1)[-1])]
        return sorted(nums) or None

    def format_answer(self, answer: Any) -> str:
        return "Answer: " + " ".join(str(p) for p in sorted(answer))

    def check(self, question: str, answer: Any) -> bool:
        return answer is not None and sorted(answer) == factorise(int(question))

    def score(
        self, examples: Sequence[Example], predictions: Sequence[Any | None]
    ) -> dict[str, Any]:
        by: dict[str, list[bool]] = defaultdict(list)
        for e, p in zip(examples, predictions, strict=True):
            by[e.difficulty].append(p is not None and sorted(p) == sorted(e.answer))
        hits = [h for v in by.values() for h in v]
        return {
            "n": len(hits),
            "accuracy": sum(hits) / len(hits) if hits else 0.0,
            "by_difficulty": {
                k: {"n": len(v), "accuracy": sum(v) / len(v)} for k, v in sorted(by.items())
            },
        }

    def knowledge(self) -> str:
        return (
            "Every integer above 1 is a product of primes in exactly one way. Divide by 2 while you can, "
            "then by 3, 5, 7 and so on; stop when the divisor squared exceeds what is left, which is then prime."
        )

    def rationale(self, question: str, answer: Any = None, style: str = "short") -> str:
        """Trial-division steps ``84 / 2 = 42``; every step is arithmetic a checker can redo."""
        n = int(question)
        steps = []
        for p in factorise(n):
            steps.append(f"{n} / {p} = {n // p}")
            n //= p
        body = "\n".join(steps) if style != "none" else ""
        return (body + "\n" if body else "") + self.format_answer(factorise(int(question)))

    def check_rationale(self, question: str, text: str) -> list[str]:
        """Every false step (wrong division, non-prime divisor, wrong answer)."""
        errs = []
        n = int(question)
        for line in text.splitlines()[:-1]:
            a, p, q = (int(x) for x in re.findall(r"\d+", line))
            if a != n or a != p * q or factorise(p) != [p]:
                errs.append(f"bad step {line!r}")
            n = q
        if n != 1:
            errs.append(f"steps stop at {n}, not 1")
        if not self.check(question, self.parse_answer(text)):
            errs.append("wrong answer")
        return errs


register_task("factor", FactorTask)
