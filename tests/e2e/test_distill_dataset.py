"""A dataset task through `stratos distill` (fast profile) in both modes, with a stand-in teacher
that is right on a known set of questions (#22)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers.standin_teacher import StandInTeacher
from typer.testing import CliRunner

from stratos.cli import app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _dataset(tmp: Path, n: int = 1500) -> tuple[Path, dict[str, float]]:
    rows = [{"question": f"What is {a} plus {b}?", "answer": a + b} for a in range(50) for b in range(n // 50)]
    path = tmp / "sums.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, {r["question"]: float(r["answer"]) for r in rows}


def _run(tmp: Path, monkeypatch, task: dict, answers: dict[str, float], right: float, unsure: float = 0.0) -> dict:
    teachers: list[StandInTeacher] = []

    def stand_in(cfg, task_obj, out, url=None):
        teachers.append(StandInTeacher(task_obj, answers, right, unsure))
        return teachers[-1]

    monkeypatch.setattr("stratos.distill.job.make_job_teacher", stand_in)
    request = tmp / "request.yaml"
    request.write_text(yaml.safe_dump({
        "task": task, "mode": "auto", "student": "scratch-llama-1m",
        "job": {"profile": "fast", "threads": 1, "probe_threshold": 0.5, "samples_per_question": 3,
                "teacher_eval_size": 100},
    }))
    res = CliRunner().invoke(app, ["distill", "--config", str(request), "--out", str(tmp / "run"), "--quiet"])
    assert res.exit_code == 0, f"{res.output}\n{res.exception!r}"
    return json.loads((tmp / "run" / "report.json").read_text())


def _right_share(questions: list[str], teacher_right) -> float:
    return sum(map(teacher_right, questions)) / len(questions)


def test_with_references_the_probe_picks_alignment_and_keeps_only_right_outputs(tmp_path, monkeypatch):
    path, answers = _dataset(tmp_path)
    task = {"dataset": str(path), "checker": "numeric", "answer_field": "answer", "instructions": "Answer with a number."}
    report = _run(tmp_path, monkeypatch, task, answers, right=0.75)
    probe, synth = report["probe"], report["synthesis"]
    assert report["task"] == "sums" and report["mode"] == "alignment" and probe["mode"] == "alignment"
    teacher = StandInTeacher(None, answers, 0.75)
    kept = [json.loads(line) for line in (tmp_path / "run" / "data" / "train_synth.jsonl").read_text().splitlines()]
    # alignment kept exactly the questions the teacher answers right, each with the reference answer
    assert kept and all(teacher.is_right(r["question"]) and r["answer"] == answers[r["question"]] for r in kept)
    assert synth["accepted"] == len(kept) and synth["questions"] == 1000
    assert synth["acceptance_rate"] == pytest.approx(0.75, abs=0.05)  # the teacher's known share of right answers
    wrong = synth["questions"] - synth["accepted"]
    assert synth["rejection_rate"] == pytest.approx(3 * wrong / (synth["questions"] + 2 * wrong))
    test_qs = [json.loads(line)["question"] for line in (tmp_path / "run" / "data" / "test.jsonl").read_text().splitlines()]
    assert report["metrics"]["teacher_accuracy"] == pytest.approx(_right_share(test_qs[:100], teacher.is_right))
    assert "agreement_with_teacher" not in report["metrics"]
    card = (tmp_path / "run" / "artifact" / "README.md").read_text()
    assert "Answer with a number.\\n\\nWhat is" in card  # the usage snippet asks a dataset question
    assert (tmp_path / "run" / "dataset" / "train.jsonl").is_file()  # TRL `messages` export with its card


def test_without_references_the_teachers_majority_is_the_label(tmp_path, monkeypatch):
    path, answers = _dataset(tmp_path)
    task = {"dataset": str(path), "checker": "none"}
    report = _run(tmp_path, monkeypatch, task, answers, right=0.6, unsure=0.2)
    labels = json.loads((tmp_path / "run" / "labels.json").read_text())
    teacher = StandInTeacher(None, answers, 0.6, 0.2)
    test_qs = [json.loads(line) for line in (tmp_path / "run" / "data" / "test.jsonl").read_text().splitlines()]
    # unsure questions (no majority over 3 samples) are dropped; the rest carry the teacher's answer, right or not
    assert test_qs and not any(teacher.is_unsure(r["question"]) for r in test_qs)
    wrong = [r for r in test_qs if not teacher.is_right(r["question"])]
    assert wrong and all(float(r["answer"]) == answers[r["question"]] + 1 for r in wrong)
    assert 0.7 < labels["test"]["label_rate"] < 0.9
    assert report["metrics"]["teacher_accuracy"] == 1.0  # agreement of the teacher with its own labels
    assert report["metrics"]["agreement_with_teacher"] == report["metrics"]["student_accuracy"]
    assert report["mode"] == "alignment"
