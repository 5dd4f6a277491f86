"""Teacher clients: rules and local HF (the OpenAI-compatible client: test_teacher_openai.py)."""

from __future__ import annotations

import pytest

from stratos.synth.teachers import LocalHFTeacher, OpenAITeacher, RuleTeacher, make_teacher
from stratos.tasks.base import get_task


def test_rule_teacher_and_make_teacher_specs():
    task = get_task("mahjong")
    ex = task.generate(3, seed=0)
    t = make_teacher("rules", task)
    assert isinstance(t, RuleTeacher)
    t.register([e.question for e in ex])
    out = t.generate([task.prompt(e.question) for e in ex])
    assert [task.parse_answer(o[0]) for o in out] == [e.answer for e in ex]
    assert isinstance(make_teacher("http://127.0.0.1:9/v1#gpt", task), OpenAITeacher)
    assert isinstance(make_teacher("gpt-4o", task), OpenAITeacher)  # zoo id with an api: source
    assert isinstance(make_teacher("/some/model/dir", task), LocalHFTeacher)


@pytest.mark.slow
def test_local_hf_teacher_batches_a_model_dir(tmp_path):
    from helpers.tiny_model import make_tiny_model_dir

    d = make_tiny_model_dir(tmp_path / "m", manifest=False)
    t = LocalHFTeacher(str(d), batch_size=2, threads=2)
    assert t._engine is None
    t.load()  # the job loads it before its first call, to time the calls alone
    loaded = t._engine
    assert loaded is not None
    out = t.generate(["a", "bb", "ccc"], max_new_tokens=5)
    again = t.generate(["ccc"], max_new_tokens=5)
    assert len(out) == 3 and all(len(o) == 1 for o in out)
    assert out[2] == again[0]  # greedy and batch-independent
    assert t._engine is loaded
    assert t.tokenizer_id and len(t.tokenizer_id) == 16
