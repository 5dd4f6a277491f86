"""`stratos report RUN_DIR` on a report file, and its error for an unfinished run."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stratos.cli import app


def _report() -> dict:
    """A whole report.json as the job writes it (the models validate every field)."""
    from stratos.distill.report import (
        Cost,
        DataSizes,
        Evaluations,
        PlanCheck,
        RunReport,
        Serving,
        StudentInfo,
        Training,
    )
    from stratos.metrics import ClassScore, Evaluation, latency_of

    student = Evaluation(n=10, correct=9, accuracy=0.9, parsed=1.0, latency=latency_of([0.1, 0.12]),
                         by_class={"easy": ClassScore(n=10, correct=9, accuracy=0.9)},
                         highlights={"single_suit_accuracy": 0.5})
    return RunReport(
        task="mahjong", teacher="t", student=StudentInfo(id="s", parameters=1000, lora=False), mode="injection",
        plan=PlanCheck(mode="auto", predicted_accuracy=0.88, assumed_teacher_accuracy=0.0),
        probe={"accuracy": 0.02, "threshold": 0.5}, synthesis={"acceptance_rate": 1.0},
        data=DataSizes(train_examples=10, val=2, test=10, train_tokens=500),
        metrics={"student_accuracy": 0.91, "teacher_accuracy": 0.0},
        evaluation=Evaluations(student=student),
        training=Training(steps=5, planned_steps=5, stopped="steps", best_val=0.9, train_s=3.0, tokens_per_s=100.0,
                          logit_kd=False),
        serving=Serving(student_latency=student.latency),
        times={"probe_s": 1.0, "synth_s": 1.5, "eval_teacher_s": 1.1, "job_s": 9.0},
        cost=Cost(job_usd=0.001, train_offering="local:local", train_usd_per_hour=0.4, serve_offering="local:local",
                  serve_usd_per_hour=0.4, source="plan"),
        hardware="x86_64", config={"planned": {
            "accuracy": 0.88, "accuracy_low": 0.8, "accuracy_high": 0.93, "accuracy_basis": "prior",
            "train_hours": 0.004, "synthesis_hours": 0.001, "latency_ms": 100.0, "job_usd": 0.002, "train": {"accelerator": None},
        }},
    ).model_dump(mode="json")


def test_report_prints_summary_and_json(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(_report()))
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "90.0% (predicted 88.0%)" in out and "injection (plan: auto" in out and "single suit accuracy" in out
    assert "local:local" in out and "$0.0010" in out and "student 110 ms" in out
    r = CliRunner().invoke(app, ["report", str(tmp_path), "--json"])
    assert json.loads(r.output)["metrics"]["student_accuracy"] == 0.91


def test_report_sets_predicted_beside_measured(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(_report()))
    out = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["report", str(tmp_path)]).output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:5]]
            for line in out.splitlines() if line.count("│") >= 5}
    assert rows["student accuracy"] == ["88.0% (80.0%-93.0%, prior)", "91.0%", "1.03x"]
    assert rows["job (teacher work + training)"] == ["0.004 h", "0.003 h", "0.62x"]  # 9 s measured vs 14.4 s predicted
    assert rows["teacher work (probe, rationales, evaluation)"] == ["0.001 h", "0.001 h", "1.00x"]  # 3.6 s each
    # No request shape recorded and a student outside the zoo: no prediction to set beside it.
    assert rows["latency p50"] == ["-", "110 ms", "-"]
    assert rows["job cost"] == ["$0.0020", "$0.0010", "0.50x"]


def test_latency_is_predicted_at_the_shape_the_run_timed(tmp_path):
    """The plan's 100 ms is for the endpoint's 128+32 tokens over HTTP; the job timed 21+134-token
    answers in-process, so the prediction beside them is the plan's latency function at 21+134 on
    the offering the job ran on, less the request overhead."""
    from stratos.catalog.offering import Offering
    from stratos.metrics import latency_of
    from stratos.planner import estimators as est
    from stratos.planner.hardware import hardware_of
    from stratos.zoo import get_model

    local = Offering(cloud="local", instance_type="local", vcpus=2, memory_gb=24, price_per_hour=0.0,
                     gflops=200.0, bandwidth_gbps=40.0, read_gbps=(30.0, 30.0, 24.0, 15.0))
    timed = latency_of([0.010, 0.012], [(21, 130), (21, 138)]).model_dump(mode="json")
    report = _report()
    report["student"]["id"] = "scratch-llama-1m"
    report["serving"]["student_latency"] = timed
    report["config"]["planned"]["train"] = local.model_dump(mode="json")
    (tmp_path / "report.json").write_text(json.dumps(report))
    out = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["report", str(tmp_path)]).output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:5]]
            for line in out.splitlines() if line.count("│") >= 5}
    expected = float(est.model_latency_ms(get_model("scratch-llama-1m"), 21, 134, hardware_of(local)))
    expected -= est.REQUEST_OVERHEAD_MS
    assert 0 < expected < 100
    assert rows["latency p50 (engine, 21+134 tokens)"] == [f"{expected:.0f} ms", "11 ms", f"{11.0 / expected:.2f}x"]


def test_report_on_unfinished_run_fails_clearly(tmp_path):
    r = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert r.exit_code != 0
    assert "has not finished" in str(r.exception)


def test_report_names_the_curves_image(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({**_report(), "training": {**_report()["training"], "curves": "curves.png"}}))
    runner = CliRunner(env={"COLUMNS": "240"})
    assert "curves.png missing" in runner.invoke(app, ["report", str(tmp_path)]).output
    (tmp_path / "curves.png").write_bytes(b"\x89PNG")
    out = runner.invoke(app, ["report", str(tmp_path)]).output
    assert f"{tmp_path / 'curves.png'} (train and validation loss" in out
