"""Adaptive mode: probing, alignment (verified teacher outputs) and injection (verified rationales)."""

from __future__ import annotations

from collections.abc import Sequence

from stratos.synth.alignment import align
from stratos.synth.injection import RULES_PROMPT, inject
from stratos.synth.probe import choose_mode, probe_teacher
from stratos.synth.teachers import RuleTeacher
from stratos.tasks.base import get_task


class ScriptedTeacher:
    """Answers from a function of (prompt, call number); records what it was asked."""

    name = "scripted"
    tokenizer_id = None

    def __init__(self, fn) -> None:
        self.fn, self.calls, self.prompts = fn, 0, []

    def generate(self, prompts: Sequence[str], *, n=1, temperature=0.0, max_new_tokens=128, seed=0):
        self.calls += 1
        self.prompts.extend(prompts)
        return [[self.fn(p, self.calls, temperature)] * n for p in prompts]


TASK = get_task("mahjong")
EXAMPLES = TASK.generate(20, seed=5)
BY_PROMPT = {TASK.prompt(e.question): e for e in EXAMPLES}


def _hand(prompt: str):
    return next(e for p, e in BY_PROMPT.items() if p in prompt)


def test_choose_mode_threshold():
    assert choose_mode(0.6, 0.5) == "alignment"
    assert choose_mode(0.5, 0.5) == "alignment"
    assert choose_mode(0.1, 0.5) == "injection"


def test_probe_picks_alignment_for_a_solver_and_injection_for_a_guesser():
    good = probe_teacher(RuleTeacher(TASK), TASK, EXAMPLES, 0.5)
    assert good.accuracy == 1.0 and good.mode == "alignment" and good.n == 20
    bad = probe_teacher(ScriptedTeacher(lambda p, c, t: "Answer: 1m"), TASK, EXAMPLES, 0.5)
    assert bad.mode == "injection" and bad.accuracy < 0.5 and bad.parsed == 20
    assert bad.to_dict()["samples"] and "accuracy" in bad.to_dict()


def test_alignment_keeps_only_verified_outputs_and_retries_with_sampling():
    # right on the second call (a sampled retry) for even-indexed hands, never for odd ones
    idx = {e.question: i for i, e in enumerate(EXAMPLES)}

    def fn(p, call, temp):
        e = _hand(p)
        if call >= 2 and idx[e.question] % 2 == 0:
            assert temp > 0
            return "thinking...\n" + TASK.format_answer(e.answer)
        return "Answer: 9p"

    t = ScriptedTeacher(fn)
    rows, stats = align(t, TASK, EXAMPLES, samples_per_question=3)
    assert len(rows) == 10 and stats["accepted"] == 10 and stats["acceptance_rate"] == 0.5
    assert all(TASK.check(r.question, r.answer) and r.source == "teacher" for r in rows)
    assert stats["teacher_calls"] == 20 + 20 + 10  # retries only for the still-unverified ones


def test_injection_uses_verified_teacher_rationales_and_falls_back_to_the_task():
    def fn(p, call, temp):
        e = _hand(p)
        assert "The correct answer is given" in p  # answer-conditioned
        ok = EXAMPLES.index(e) < 3
        return f"Because melds.\n{TASK.format_answer(e.answer if ok else ['1m'])}"

    t = ScriptedTeacher(fn)
    rows, stats = inject(t, TASK, EXAMPLES, rationale_budget=6, knowledge_examples=2)
    assert stats["teacher_asked"] == 6 and stats["teacher_accepted"] == 3
    assert stats["teacher_acceptance_rate"] == 0.5 and stats["fallback_to_task_rationale"] == 3
    assert len(t.prompts) == 6
    task_rows = [r for r in rows if r.source != "knowledge"]
    assert len(task_rows) == 20
    for r in task_rows:
        assert TASK.check(r.question, TASK.parse_answer(r.rationale))
    assert sum("teacher_rationale" in r.source for r in rows) == 3
    knowledge = [r for r in rows if r.source == "knowledge"]
    assert len(knowledge) == 2 and knowledge[0].question == RULES_PROMPT and knowledge[0].rationale == TASK.knowledge()


def test_injection_without_teacher_uses_task_rationales():
    rows, stats = inject(None, TASK, EXAMPLES[:5], knowledge_examples=0)
    assert len(rows) == 5 and stats["teacher_asked"] == 0 and stats["acceptance_rate"] == 1.0
