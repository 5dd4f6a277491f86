"""Honest accuracy predictions: priors marked and widened, example length from the task's data,
injection depending on the teacher, the user's calibration cache used by the next plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from infra.outputs import one_line
from stratos import calibration
from stratos.planner import make_plan
from stratos.planner.accuracy import PRIOR_BAND_FACTOR, model_for
from stratos.planner.examples import example_tokens, knowledge_tokens, teacher_prompt_tokens
from stratos.spec import parse_request
from stratos.tasks.base import get_task
from stratos.tasks.loading import TaskRef

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "catalog")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATOS_CACHE", str(tmp_path))
    monkeypatch.delenv("STRATOS_CALIBRATION", raising=False)
    return tmp_path


def aws(**req):
    base = {"target": "aws", "gpus": ["L4"], "regions": ["us-east-1"], "student": "qwen2.5-0.5b-instruct",
            "teacher": "qwen2.5-7b-instruct", "mode": "injection", "constraints": {"serving_hours": 24}}
    return make_plan(parse_request({**base, **req}), FIXTURE)


def test_gpu_predictions_rest_on_priors_and_are_marked_with_a_wider_band():
    m = model_for("mahjong")
    cpu = m.predict_many(2.9e6, np.array([1e6]), "injection", 0.0, is_gpu=False)
    gpu = m.predict_many(2.9e6, np.array([1e6]), "injection", 0.0, is_gpu=True)
    assert not cpu.prior[0] and gpu.prior[0]  # the measured runs were 3M students on a CPU
    assert gpu.mean[0] == pytest.approx(cpu.mean[0])
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    width = lambda p: logit(p.high[0]) - logit(p.low[0])  # noqa: E731
    assert width(gpu) == pytest.approx(PRIOR_BAND_FACTOR * width(cpu))

    r = aws()
    j = json.loads(json.dumps(r.to_json()))
    assert r.chosen.objectives.accuracy_basis == "prior" and j["chosen"]["objectives"]["accuracy_basis"] == "prior"
    assert all(c["objectives"]["accuracy_basis"] == "prior" for c in j["pareto"])
    assert "prior" in one_line(r.chosen)  # what `pulumi preview` logs
    assert any("prior: no measured run" in x for x in r.chosen.reasons)


def test_training_length_comes_from_the_task_not_the_latency_settings():
    short = aws()
    long = aws(constraints={"serving_hours": 24, "prompt_tokens": 1024, "output_tokens": 256})
    assert long.chosen.objectives.accuracy == short.chosen.objectives.accuracy
    assert long.chosen.objectives.train_hours == pytest.approx(short.chosen.objectives.train_hours)
    assert long.chosen.objectives.latency_ms > short.chosen.objectives.latency_ms  # serving does use them
    size = get_task("mahjong").example_size("short")
    tok = example_tokens(TaskRef.of("mahjong"), "short", False)
    assert tok.total == pytest.approx((size.prompt_chars + size.target_chars) / 4 + 6)
    assert example_tokens(TaskRef.of("mahjong"), "full", False).total > tok.total  # a longer target style trains on more
    assert any(f"x {tok.total:.0f} tokens" in a for a in short.chosen.cost.assumptions)


def test_injection_teacher_prompts_carry_the_task_background():
    mahjong = TaskRef.of("mahjong")
    bare = example_tokens(mahjong, "short", False).prompt
    assert knowledge_tokens(mahjong) > bare  # the rules text is longer than a question
    assert teacher_prompt_tokens(mahjong, "short", "alignment", 900, 100) == pytest.approx(bare)
    assert teacher_prompt_tokens(mahjong, "short", "injection", 900, 100) == pytest.approx(bare + 0.9 * knowledge_tokens(mahjong))


def _injection_accuracy(teacher: str, **job) -> float:
    return aws(teacher=teacher, job=job).chosen.objectives.accuracy


def test_injection_predictions_depend_on_the_teacher():
    # the teacher writes every rationale: a 7B teacher's are accepted far more often than a 0.5B's
    full = {"n_train": 2000, "rationale_budget": 2000}
    strong, weak = _injection_accuracy("qwen2.5-7b-instruct", **full), _injection_accuracy("qwen2.5-1.5b-instruct", **full)
    assert strong > weak + 0.01
    # a rate measured in an earlier run replaces the size prior
    assert calibration.rationale_acceptance("qwen2.5-1.5b-instruct", 1.5e9, 0.0, "mahjong")[1] == "prior"
    calibration.append_point({"task": "mahjong", "teacher": "qwen2.5-1.5b-instruct", "student_params": 4.9e8,
                              "train_tokens": 1e6, "accuracy": 0.5, "teacher_asked": 50, "teacher_acceptance": 0.95})
    assert calibration.rationale_acceptance("qwen2.5-1.5b-instruct", 1.5e9, 0.0, "mahjong") == (0.95, "measured")
    assert _injection_accuracy("qwen2.5-1.5b-instruct", **full) > weak


def test_acceptance_prior_rises_with_size_and_coverage():
    p = calibration.acceptance_prior
    assert p(1.35e8, 0.0) < p(7e9, 0.0) < p(7e10, 0.0) <= 0.95
    assert p(1.35e8, 0.9) == 0.9


def test_a_measured_run_in_the_cache_makes_the_next_plan_measured(cache):
    before = aws().chosen.objectives
    calibration.append_point({
        "task": "mahjong", "student": "qwen2.5-0.5b-instruct", "student_params": 4.9e8, "train_tokens": 2e7,
        "mode": "injection", "teacher_coverage": 0.0, "accuracy": 0.55, "hardware": {"kind": "gpu"},
    })
    after = aws().chosen.objectives
    assert (before.accuracy_basis, after.accuracy_basis) == ("prior", "measured")
    assert after.accuracy < before.accuracy  # the fit follows the measured point
    (cache / "calibration.jsonl").write_text((cache / "calibration.jsonl").read_text() + "not json\n{}\n")
    assert len(calibration.read_points("mahjong")) == 1  # damaged lines are skipped


def test_a_requests_own_run_does_not_move_its_re_plan_but_teaches_other_requests(cache):
    """The same stack config re-planned after its run gets the plan it ran (a moved plan would make the
    next `pulumi up` a new run that retrains); any other request learns from the point."""
    plan = aws().chosen
    assert plan.request_key == parse_request({"target": "aws", "gpus": ["L4"], "regions": ["us-east-1"],
                                              "student": "qwen2.5-0.5b-instruct", "teacher": "qwen2.5-7b-instruct",
                                              "mode": "injection", "constraints": {"serving_hours": 24}}).key
    calibration.append_point({
        "task": "mahjong", "student": "qwen2.5-0.5b-instruct", "student_params": 4.9e8, "train_tokens": 2e7,
        "mode": "injection", "teacher_coverage": 0.0, "accuracy": 0.55, "hardware": {"kind": "gpu"},
        "request_key": plan.request_key,
    })
    assert aws().chosen.objectives == plan.objectives
    other = aws(constraints={"serving_hours": 48}).chosen.objectives
    assert other.accuracy_basis == "measured" and other.accuracy < plan.objectives.accuracy


def _row(params: float, tokens: float, acc: float) -> dict:
    return {"task": "t", "student_params": str(params), "train_tokens": str(tokens), "mode": "injection",
            "teacher_coverage": "0", "accuracy": str(acc), "measured": "1", "source": "synthetic",
            "hardware": "cpu", "teacher_share": "0", "teacher_acceptance": "1"}


def test_leave_one_out_checks_each_run_against_a_model_fitted_without_it():
    from stratos.planner.accuracy import leave_one_out

    rng = np.random.default_rng(0)
    rows = []
    for params in (1e6, 3e6, 1e7):
        for tokens in (1e6, 3e6, 1e7, 3e7):
            z = -9.0 + 0.6 * np.log10(params) + 0.9 * np.log10(tokens) + rng.normal(0, 0.3)
            rows.append(_row(params, tokens, float(1 / (1 + np.exp(-z)))))
    held = leave_one_out(rows)
    assert len(held) == 12 and sum(h.inside for h in held) >= 8  # a model of the data's own shape holds
    outlier = leave_one_out([*rows, _row(3e6, 1e7, 0.02)])[-1]
    assert outlier.measured == 0.02 and not outlier.inside
    assert leave_one_out([{**r, "measured": "0"} for r in rows]) == []  # priors are not held-out runs


def test_a_measured_probe_accuracy_replaces_the_zoo_prior_coverage(monkeypatch):
    """Two plans that differ only in the teacher's measured probe accuracy (the fit is the same):
    alignment to a teacher measured at 95% is predicted above the zoo's prior coverage (gpt-4o 55%)."""
    aligned = {"teacher": "gpt-4o", "mode": "alignment"}
    before = aws(**aligned).chosen.objectives.accuracy
    real = calibration.probe_accuracy
    monkeypatch.setattr(calibration, "probe_accuracy", lambda t, task, **kw: 0.95 if t == "gpt-4o" else real(t, task, **kw))
    assert aws(**aligned).chosen.objectives.accuracy > before


def test_a_finished_runs_probe_accuracy_is_what_the_planner_reads():
    calibration.append_point({"task": "mahjong", "teacher": "gpt-4o", "student_params": 4.9e8, "train_tokens": 2e7,
                              "accuracy": 0.9, "mode": "injection", "teacher_coverage": 0.95})
    assert calibration.probe_accuracy("gpt-4o", "mahjong") == 0.95


def test_a_rows_student_kind_comes_from_its_column_its_id_or_its_size():
    from stratos.planner.accuracy import is_pretrained

    assert is_pretrained({"student_kind": "pretrained", "student_params": "3e6"})
    assert not is_pretrained({"student": "scratch-llama-30m", "student_params": "3e7"})
    assert is_pretrained({"student": "smollm2-135m-instruct", "student_params": "1.35e8"})
    assert not is_pretrained({"student_params": "1.1e7"}) and is_pretrained({"student_params": "4.9e8"})


def test_a_prediction_is_not_carried_past_the_tokens_a_size_was_measured_at():
    """Beyond EXTRAPOLATE x the most tokens a same-size measured run trained, the prediction is the
    one at that limit, marked prior with the wider band; within it, the model's own."""
    from stratos.planner.accuracy import EXTRAPOLATE

    m = model_for("mahjong")
    most = m.tokens_near(2.93e6, "cpu")
    assert most is not None and m.tokens_near(2.93e6, "gpu") is None
    p = m.predict_many(2.93e6, [most, most * EXTRAPOLATE, most * 10], "injection", 0.0)
    assert list(p.prior) == [False, False, True]
    assert p.mean[2] == pytest.approx(p.mean[1]) and p.high[2] - p.low[2] > p.high[1] - p.low[1]


def test_measured_runs_anchor_predictions_at_their_size_and_tokens():
    from dataclasses import replace

    from stratos.planner.accuracy import ANCHOR_SPAN, AccuracyModel

    m = model_for("mahjong")
    plain = replace(m, support=tuple((p, hw, t, 0.0) for p, hw, t, _ in m.support))  # residuals ignored
    # The shipped 1M runs at 14.05M tokens measured 96.8% and 96.4%; the global fit says more.
    measured = 0.966
    anchored, unanchored = (x.predict(1.09e6, 14.05e6, "injection", 0.0)[0] for x in (m, plain))
    assert unanchored > measured and abs(anchored - measured) < abs(unanchored - measured)
    # Nothing moves where no run of that size trained nearly those tokens.
    for params, tokens in ((1.09e6, 14.05e6 * ANCHOR_SPAN * 1.01), (27.5e6, 14.05e6)):
        assert m.predict(params, tokens, "injection", 0.0) == plain.predict(params, tokens, "injection", 0.0)
    # One run at exactly these tokens weighs as much as the prior of no shift: half its residual.
    one = AccuracyModel(m.coef, m.sigma, 1, 1, ((6.0, "cpu", 1e7, -1.0),))
    none = AccuracyModel(m.coef, m.sigma, 1, 1, ((6.0, "cpu", 1e7, 0.0),))
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    shifted = logit(one.predict(1e6, 1e7, "injection", 0.0)[0]) - logit(none.predict(1e6, 1e7, "injection", 0.0)[0])
    assert shifted == pytest.approx(-0.5)
