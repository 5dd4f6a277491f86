"""The planner's tokens per training example are the job's: the default plan's 50,000 Mahjong
examples measured 140.5 tokens each in the job, where sizing from reverse-synthesised questions
alone (longer rationales than the job's class mix) had said 159.7, and the plan's accuracy was
predicted at 14% more tokens than the job trained."""

from __future__ import annotations

import statistics

import pytest

from stratos.distill.packing import encode_pair
from stratos.distill.training_data import prompt_target, scratch_tokenizer
from stratos.planner.examples import example_tokens
from stratos.tasks.base import get_task
from stratos.tasks.loading import TaskRef


@pytest.mark.parametrize("style", ["short", "full"])
def test_a_scratch_students_tokens_per_example_are_what_the_job_tokenizes(style):
    task = get_task("mahjong")
    rows = task.make_splits(600, 0, 0, seed=3)["train"]
    pairs = [prompt_target(task, e, style) for e in rows]
    tokenizer = scratch_tokenizer(task, rows, pairs)
    measured = statistics.fmean(len(encode_pair(tokenizer, p, t).input_ids) for p, t in pairs)
    planned = example_tokens(TaskRef.of("mahjong"), style, word_level=True).total
    assert planned == pytest.approx(measured, rel=0.05)
