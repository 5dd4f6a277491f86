"""Dataset tasks (#22): checkers, file formats, splits, and bad input refused at plan time with file/line/field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from stratos.exceptions import ConfigError
from stratos.spec import parse_request
from stratos.tasks.dataset.checkers import make_checker
from stratos.tasks.dataset.spec import DatasetTaskSpec
from stratos.tasks.dataset.task import dataset_task
from stratos.tasks.loading import TaskRef

ROWS = [{"q": f"What is {i} + {i}?", "a": str(2 * i)} for i in range(200)]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def cwd(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # dataset paths are relative to the project root
    return tmp_path


def _task(**kw):
    return dataset_task(DatasetTaskSpec(**{"dataset": "d.jsonl", "question_field": "q", "answer_field": "a", **kw}))


# --- checkers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checker", "output", "reference", "right"),
    [
        ("exact", "Answer: Paris", "Paris", True),
        ("exact", "Answer: paris", "Paris", False),
        ("normalized", "Answer:  PARIS.", "Paris", True),
        ("normalized", "Answer: Lyon", "Paris", False),
        ("numeric", "3 + 4 is 7\nAnswer: 7.0", "7", True),
        ("numeric", "The total is 1,250 km.", "1250", True),
        ("numeric", "Answer: 7.1", "7", False),
        ("choice", "Answer: (b) because", "B", True),
        ("choice", "Answer: C", "B", False),
        ("regex:(\\d+) ?km", "it is about 12 km away", "12 km", True),
        ("regex:(\\d+) ?km", "it is 13 km", "12km", False),
        ("json", 'Answer: {"b": 2, "a": 1}', {"a": 1, "b": 2}, True),
        ("json", 'Answer: {"a": 2}', '{"a": 1}', False),
        ("none", "Answer: Yes", "yes", True),
    ],
)
def test_each_checker_decides_correctness(checker, output, reference, right):
    c = make_checker(checker)
    got = c.parse(output)
    assert (got is not None and c.same(got, c.reference(reference))) is right


def test_checker_reads_no_answer_in_empty_or_wordless_output():
    assert make_checker("numeric").parse("no idea") is None
    assert make_checker("choice").parse("Answer: 42") is None
    assert make_checker("json").parse("Answer: {oops") is None


def test_the_task_uses_its_checker_for_check_and_format(cwd):
    _jsonl(cwd / "d.jsonl", ROWS)
    task = _task(checker="numeric", instructions="Answer with a number only.")
    q = ROWS[3]["q"]
    assert task.prompt(q) == f"Answer with a number only.\n\n{q}"
    assert task.check(q, task.parse_answer("so... Answer: 6")) and not task.check(q, task.parse_answer("Answer: 7"))
    assert task.format_answer(6.0) == "Answer: 6"
    assert not task.check("a question not in the dataset", 6.0)


# --- formats -----------------------------------------------------------------------------------


def test_jsonl_json_csv_parquet_and_hub_dir_read_the_same_examples(cwd):
    import pyarrow as pa
    import pyarrow.parquet as pq

    _jsonl(cwd / "d.jsonl", ROWS)
    (cwd / "d.json").write_text(json.dumps(ROWS))
    with (cwd / "d.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["q", "a"])
        w.writeheader()
        w.writerows(ROWS)
    pq.write_table(pa.Table.from_pylist(ROWS), cwd / "d.parquet")
    (cwd / "hub").mkdir()
    _jsonl(cwd / "hub" / "train.jsonl", ROWS)
    got = {
        src: [(e.question, e.answer) for e in _task(dataset=src, checker="numeric").examples]
        for src in ("d.jsonl", "d.json", "d.csv", "d.parquet", f"hf:{cwd / 'hub'}:train")
    }
    assert len(got["d.jsonl"]) == 200
    assert all(v == got["d.jsonl"] for v in got.values())


def test_hash_splits_keep_every_question_in_one_split_and_are_stable(cwd):
    _jsonl(cwd / "d.jsonl", ROWS)
    task = _task()
    a = task.make_splits(1000, 1000, 1000, seed=0)
    b = task.make_splits(1000, 1000, 1000, seed=5)
    qs = [{e.question for e in a[k]} for k in ("train", "val", "test")]
    assert not (qs[0] & qs[1] or qs[0] & qs[2] or qs[1] & qs[2])
    assert sum(map(len, qs)) == len(ROWS) and a == b
    assert {e.question for e in task.generate(50, seed=1, mode="forward")} <= qs[0]


def test_own_splits_from_a_split_field(cwd):
    rows = [{**r, "split": ["train", "validation", "test"][i % 3]} for i, r in enumerate(ROWS)]
    _jsonl(cwd / "d.jsonl", rows)
    parts = _task(split_field="split").make_splits(1000, 1000, 1000, seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [67, 67, 66]


def test_repeated_rows_with_the_same_answer_count_once(cwd):
    _jsonl(cwd / "d.jsonl", ROWS + ROWS[:5])
    assert len(_task().examples) == 200


# --- bad input: one test each, each error naming file/line/field ------------------------------


def _refused(task: dict, *, student: str | None = None) -> str:
    body = {"task": task, **({"student": student} if student else {})}
    with pytest.raises(ConfigError) as e:
        parse_request(body)
    return str(e.value)


def test_missing_file(cwd):
    msg = _refused({"dataset": "data/nope.jsonl"})
    assert "'data/nope.jsonl': no such file" in msg and "key 'task'" in msg


def test_unknown_field(cwd):
    _jsonl(cwd / "d.jsonl", ROWS)
    msg = _refused({"dataset": "d.jsonl", "question_field": "question"})
    assert "d.jsonl:1: no field 'question' (task.question_field); the row has: q, a" in msg


def test_unknown_key_in_the_task_mapping(cwd):
    assert "unknown key task.answer (did you mean 'answer_field'?)" in _refused({"dataset": "d.jsonl", "answer": "a"})


def test_empty_dataset(cwd):
    (cwd / "d.jsonl").write_text("\n")
    assert "'d.jsonl' holds no rows" in _refused({"dataset": "d.jsonl"})


def test_non_utf8(cwd):
    (cwd / "d.jsonl").write_bytes(b'{"question": "ok"}\n{"question": "caf\xe9"}\n')
    msg = _refused({"dataset": "d.jsonl"})
    assert "d.jsonl:2: not UTF-8" in msg and "iconv" in msg


def test_duplicate_question_across_splits(cwd):
    rows = [{"q": "2+2?", "a": "4", "s": "train"}, {"q": "3+3?", "a": "6", "s": "train"}, {"q": "2+2?", "a": "4", "s": "test"}]
    _jsonl(cwd / "d.jsonl", rows)
    msg = _refused({"dataset": "d.jsonl", "question_field": "q", "answer_field": "a", "split_field": "s"})
    assert "d.jsonl:3: the question of d.jsonl:1 again, in split 'test' as well as 'train'" in msg


def test_same_question_with_two_answers(cwd):
    _jsonl(cwd / "d.jsonl", [{"q": "2+2?", "a": "4"}, {"q": "2+2?", "a": "5"}])
    msg = _refused({"dataset": "d.jsonl", "question_field": "q", "answer_field": "a", "checker": "numeric"})
    assert "d.jsonl:2: the question of d.jsonl:1 again with another answer" in msg


def test_answer_the_checker_cannot_parse(cwd):
    _jsonl(cwd / "d.jsonl", [{"q": "2+2?", "a": "4"}, {"q": "3+3?", "a": "six"}])
    msg = _refused({"dataset": "d.jsonl", "question_field": "q", "answer_field": "a", "checker": "numeric"})
    assert "d.jsonl:2: field 'a': the numeric checker reads no answer in 'six'" in msg


def test_question_longer_than_the_students_context(cwd):
    _jsonl(cwd / "d.jsonl", [{"q": "short?", "a": "1"}, {"q": "word " * 600, "a": "2"}])
    msg = _refused({"dataset": "d.jsonl", "question_field": "q", "answer_field": "a"}, student="scratch-llama-1m")
    assert "d.jsonl:2: field 'q' is about" in msg and "512-token context" in msg


def test_unknown_checker(cwd):
    assert "unknown checker 'numerc' (did you mean 'numeric'?)" in _refused({"dataset": "d.jsonl", "checker": "numerc"})


def test_regex_that_does_not_compile(cwd):
    msg = _refused({"dataset": "d.jsonl", "checker": "regex:(\\d+"})
    assert "task.checker: checker 'regex:(\\\\d+': the regex does not compile" in msg


def test_a_good_dataset_task_plans_under_its_own_name(cwd):
    _jsonl(cwd / "units.jsonl", ROWS)
    req = parse_request({"task": {"dataset": "units.jsonl", "question_field": "q", "answer_field": "a", "checker": "numeric"}})
    assert req.task_name == "units" and req.task_ref.dataset is not None
    assert TaskRef.model_validate_json(req.task_ref.model_dump_json()) == req.task_ref  # travels in the plan
    assert req.task_ref.files() == ["units.jsonl"]


def test_without_references_labels_are_adopted(cwd):
    _jsonl(cwd / "d.jsonl", [{"q": r["q"]} for r in ROWS])
    task = dataset_task(DatasetTaskSpec(dataset="d.jsonl", question_field="q", checker="none"))
    assert not task.has_references and task.score_name == "agreement with teacher"
    q = ROWS[0]["q"]
    assert not task.check(q, "0")
    from stratos.tasks.base import Example

    task.adopt_labels([Example(id="x", question=q, answer="0")])
    assert task.check(q, task.parse_answer("Answer: 0"))
    assert not dataset_task(task.spec).check(q, "0")  # another load starts without the adopted labels


def test_injection_gives_the_teacher_the_knowledge_and_the_reference(cwd):
    """The teacher's prompt holds the knowledge text and the reference; its rationale is kept only when
    it ends in the reference; a task without knowledge adds no empty rules examples."""
    from stratos.synth.injection import explain_prompt, inject

    _jsonl(cwd / "d.jsonl", ROWS)
    (cwd / "rules.md").write_text("To add two numbers, count on from the first.")
    task = _task(checker="numeric", knowledge="rules.md")
    ex = task.examples[0]
    prompt = explain_prompt(task, ex)
    assert "count on from the first" in prompt and f"Answer: {task.checker.show(ex.answer)}" in prompt

    class Teacher:
        name, tokenizer_id = "t", None

        def generate(self, prompts, **kw):  # right on the first question, wrong on the second
            return [[f"Because.\nAnswer: {ex.answer:g}"], ["Because.\nAnswer: -1"]][: len(prompts)]

    rows, stats = inject(Teacher(), task, task.examples[:2], rationale_budget=2, knowledge_examples=3)
    assert stats["teacher_accepted"] == 1 and rows[0].rationale.endswith(f"Answer: {ex.answer:g}")
    assert rows[1].rationale == task.format_answer(task.examples[1].answer)  # fell back to the reference
    assert [r.source for r in rows].count("knowledge") == 3
    _, bare = inject(Teacher(), _task(checker="numeric"), task.examples[:2], rationale_budget=2, knowledge_examples=3)
    assert bare["knowledge_examples"] == 0
