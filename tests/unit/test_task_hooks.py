"""The closed Task abstraction: declared abilities with generic defaults, and the hooks the job,
the report and `stratos eval` call (splits as a class mix, classes, evaluation mix, highlights,
a word-level student's units)."""

from __future__ import annotations

import random

import pytest
from helpers.configs import job_config

from stratos.distill.job import Run, data_phase
from stratos.distill.progress import JobProgress
from stratos.exceptions import ConfigError, TeacherError
from stratos.metrics import score_answers, score_examples
from stratos.synth.teachers import make_teacher
from stratos.tasks.base import CompactUnits, Example, Task, get_task, register_task


class Parity(Task):
    """The least a task can be: generate, prompt, parse, check."""

    name = "parity-test"

    def generate(self, n, seed, mode="reverse", **controls):
        rng = random.Random(seed)
        nums = rng.sample(range(10**6), n)
        return [Example(f"p{i}", str(x), x % 2, difficulty="odd" if x % 2 else "even") for i, x in enumerate(nums)]

    def prompt(self, question):
        return f"Is {question} odd? Answer 1 or 0."

    def parse_answer(self, text):
        return int(text[-1]) if text and text[-1] in "01" else None

    def check(self, question, answer):
        return answer == int(question) % 2


class MixedParity(Parity):
    """Splits made as a stated mix of classes, with a fixed evaluation mix and a headline figure."""

    name = "mixed-parity-test"
    eval_mix = {"small": 3, "large": 1}
    calls = 0

    def make_splits(self, n_train, n_val, n_test, seed):
        MixedParity.calls += 1
        rng = random.Random(seed)

        def part(n, tag):  # half small numbers, half large, each class named in meta
            out = []
            for i in range(n):
                x = rng.randrange(100) if i % 2 else rng.randrange(10**6, 10**7)
                out.append(Example(f"{tag}{i}", str(x), x % 2, meta={"class": "small" if x < 100 else "large"}))
            return out

        return {"train": part(n_train, "t"), "val": part(n_val, "v"), "test": part(n_test, "x")}

    def class_of(self, example):
        return example.meta["class"]

    def highlights(self, scores):
        return {"large_accuracy": scores.by_class["large"].accuracy if "large" in scores.by_class else None}


def test_a_minimal_task_gets_every_other_ability_by_default():
    t = Parity()
    items = t.generate(200, seed=1)
    assert t.format_answer(1) == "Answer: 1" and t.rationale("3", 1) == "Answer: 1" and t.knowledge() == ""
    assert not t.has_solver and t.question_from_prompt("x") is None and t.check_rationale("3", "y") == []
    assert t.vocabulary() == [] and t.controls == {} and t.compact_units is None and t.decision_marker is None
    assert t.class_of(items[0]) == items[0].difficulty and t.score(items, [None] * 200) == {}
    parts = t.splits(items)
    assert sum(map(len, parts.values())) == 200 and len(parts["train"]) > len(parts["test"])
    qs = {k: {e.question for e in v} for k, v in parts.items()}
    assert not (qs["train"] & qs["val"] or qs["train"] & qs["test"] or qs["val"] & qs["test"])
    sized = t.make_splits(400, 40, 40, seed=0)  # one pool, 10% slack over the largest split's need
    assert [len(sized[k]) for k in ("train", "val", "test")] == [400, 40, 40]
    with pytest.raises(TeacherError, match="no rule engine"):
        make_teacher("rules", t)


def test_only_task_subclasses_register_and_the_four_are_required():
    class Duck:
        name = "duck-test"

    register_task("duck-test", Duck)
    with pytest.raises(ConfigError, match="subclass Task"):
        get_task("duck-test")

    class Half(Task):
        name = "half-test"

        def prompt(self, question):
            return question

    with pytest.raises(TypeError, match="abstract"):
        Half()


def test_the_job_takes_the_tasks_splits_once(tmp_path):
    task = MixedParity()
    run = Run(job_config(task=task.name, n_train=40, n_val=10, n_test=20), tmp_path, JobProgress(None, quiet=True), task)
    splits = data_phase(run)
    again = data_phase(run)  # the phase's file exists: skipped, read back
    assert MixedParity.calls == 1 and again == splits
    assert [len(splits[k]) for k in ("train", "val", "test")] == [40, 10, 20]
    assert task.class_counts(splits["test"]) == {"large": 10, "small": 10}
    assert "data_s" in run.times


def test_scores_per_class_on_the_mix_with_the_tasks_highlights():
    task = MixedParity()
    test = task.make_splits(0, 0, 8, seed=3)["test"]
    preds = [e.answer if task.class_of(e) == "small" else 1 - e.answer for e in test]  # every large one wrong
    s = score_examples(task, test, preds)
    assert s.accuracy == 0.5 and s.by_class["small"].accuracy == 1.0 and s.by_class["large"].accuracy == 0.0
    assert s.mix == {"small": 0.75, "large": 0.25} and s.mix_accuracy == pytest.approx(0.75)
    assert s.highlights == {"large_accuracy": 0.0}
    partial = score_answers(task, ["3", "4"], [1, None], ["small", None])  # unlabelled questions count overall
    assert (partial.accuracy, partial.parsed, list(partial.by_class)) == (0.5, 0.5, ["small"])
    assert partial.mix_accuracy is None  # the mix's "large" class was not asked


def test_mahjong_declares_its_hooks():
    t = get_task("mahjong")
    assert t.has_solver and t.decision_marker == ":" and set(t.controls) >= {"chinitsu", "min_waits"}
    assert t.compact_units == CompactUnits(suffixes="mpsz")
    assert t.compact_units.expand("123m5z").split() == ["1m", "2m", "3m", "5z"]
    assert len(t.vocabulary()) == 34
    chin = t.generate(6, seed=1, chinitsu=True)
    s = score_examples(t, chin, [e.answer for e in chin[:3]] + [None] * 3)
    assert s.highlights["single_suit_accuracy"] == 0.5 and s.highlights["single_suit_n"] == 6
    assert s.task_metrics["by_waits"]  # the task's own breakdown rides along
