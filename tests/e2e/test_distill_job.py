"""`stratos distill` end to end on a tiny config: artifact, report, progress log, rerun, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.configs import TINY

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

def _write(tmp: Path, **over) -> Path:
    p = tmp / "cfg.json"
    p.write_text(json.dumps({**TINY, **over}))
    return p


def _cmd(cfg: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "stratos.cli", "distill", "--config", str(cfg), "--out", str(out), "--quiet"]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _history(out: Path) -> list[dict]:
    from stratos.distill.checkpoint import load_latest

    return load_latest(out / "ckpt")["history"]


def test_job_writes_a_loadable_artifact_report_and_log(tmp_path):
    cfg = _write(tmp_path)
    out = tmp_path / "run"
    log = tmp_path / "job.log"
    r = subprocess.run(_cmd(cfg, out) + ["--log-file", str(log)], env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]

    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "injection" and report["probe"]["accuracy"] == 1.0  # forced mode, probe still run
    assert report["plan"]["mode"] == "injection" and report["cost"]["job_usd"] is None  # no plan: unpriced
    assert report["metrics"]["teacher_accuracy"] == 1.0
    assert 0.0 <= report["metrics"]["student_accuracy"] <= 1.0
    student = report["evaluation"]["student"]
    assert report["data"]["test"] == 24 == sum(report["data"]["test_classes"].values())
    classes = {"reverse", "single-suit", "forward-ready", "not-ready"}  # the task's evaluation mix, 6 of each
    assert report["data"]["test_classes"] == dict.fromkeys(sorted(classes), 6) and set(student["by_class"]) == classes
    assert student["mix"] == dict.fromkeys(classes, 0.25) and student["mix_accuracy"] == pytest.approx(
        sum(c["accuracy"] for c in student["by_class"].values()) / 4)
    assert report["metrics"]["student_mix_accuracy"] == student["mix_accuracy"]
    flops = report["training"]["flops"]
    assert flops == 6 * report["student"]["parameters"] * report["data"]["train_tokens"] and report["training"]["max_flops"] is None
    assert student["accuracy"] == report["metrics"]["student_accuracy"] and "single_suit_accuracy" in report["metrics"]
    assert report["synthesis"]["acceptance_rate"] == 1.0 and report["synthesis"]["teacher_asked"] == 4
    from stratos.calibration import teacher_calls
    from stratos.distill.config import DistillConfig
    from stratos.planner.phases import teacher_work

    job = DistillConfig(**json.loads(cfg.read_text()))  # the teacher's calls are the ones a plan prices
    assert teacher_calls(report) == sum(teacher_work(job, report["mode"], report["probe"]["accuracy"])) == 4 + 8 + 24
    assert report["training"]["steps"] == 40 and report["training"]["tokens_per_s"] > 0
    assert report["serving"]["student_latency"]["p50_ms"] > 0
    assert (out / "curves.png").stat().st_size > 1000

    events = [json.loads(line) for line in log.read_text().splitlines()]
    phases = {e["phase"] for e in events}
    assert {"data", "probe", "synth", "train", "eval", "export"} <= phases
    train_ev = [e for e in events if e["phase"] == "train" and "loss" in e]
    assert train_ev and all(0 <= e["progress"] <= 1 for e in events) and "step" in train_ev[-1]

    # plain transformers loads the artifact and answers a chat request
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stratos.manifest import verify_manifest
    from stratos.tasks.base import get_task

    art = out / "artifact"
    verify_manifest(art)
    assert {"model.safetensors", "config.json", "generation_config.json", "README.md", "tokenizer.json"} <= {
        p.name for p in art.iterdir()
    }
    assert json.loads((art / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    tok = AutoTokenizer.from_pretrained(art)
    model = AutoModelForCausalLM.from_pretrained(art)
    task = get_task("mahjong")
    ids = tok.apply_chat_template(
        [{"role": "user", "content": task.prompt("123m456p789s1122z")}], add_generation_prompt=True, return_tensors="pt",
        return_dict=True,
    )
    gen = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert gen.shape[1] > ids["input_ids"].shape[1]
    assert "accuracy" in (art / "README.md").read_text()

    # rerunning a finished run is quick and changes nothing
    t0 = time.perf_counter()
    r2 = subprocess.run(_cmd(cfg, out), env=_env(), capture_output=True, text=True, timeout=120)
    assert r2.returncode == 0 and "already complete" in r2.stderr + r2.stdout
    assert time.perf_counter() - t0 < 60
    assert json.loads((out / "report.json").read_text()) == report


def test_sigkilled_run_resumes_to_the_same_result(tmp_path):
    cfg = _write(tmp_path, max_steps=160, eval_every=80)
    ref = tmp_path / "ref"
    r = subprocess.run(_cmd(cfg, ref), env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(cfg, out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = out / "ckpt" / "LATEST"
    deadline = time.time() + 240
    while time.time() < deadline:
        if latest.is_file() and int(latest.read_text().split("-")[1]) >= 20:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "report.json").exists(), "the run finished before it could be killed"
    killed_at = int(latest.read_text().split("-")[1])
    assert killed_at < 160

    r = subprocess.run(_cmd(cfg, out), env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _history(ref), _history(out)
    assert len(a) == len(b) == 160
    assert [h["loss"] for h in a] == pytest.approx([h["loss"] for h in b], rel=1e-6)
    assert [h.get("val_accuracy") for h in a] == [h.get("val_accuracy") for h in b]
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (ref, out))
    assert ra["metrics"]["student_accuracy"] == rb["metrics"]["student_accuracy"]
    assert ra["evaluation"]["student"]["by_class"] == rb["evaluation"]["student"]["by_class"]


def test_a_plan_from_the_planner_runs_as_planned(tmp_path):
    """`stratos distill --config plan.json`: the plan's mode (auto: the probe decides), its job
    settings (the fast profile, a seed) and its offerings' prices reach the run and its report."""
    from stratos.planner import make_plan
    from stratos.spec import parse_request

    catalog = str(Path(__file__).resolve().parents[1] / "fixtures" / "catalog")
    req = parse_request({"target": "aws", "student": "scratch-llama-3m", "mode": "auto",
                         "job": {"profile": "fast", "seed": 3, "n_train": 200, "n_test": 20, "teacher_eval": False}})
    plan = make_plan(req, catalog).chosen.model_copy(update={"teacher": "rules"})  # an instant, perfect teacher
    assert plan.mode == "auto"
    path = tmp_path / "plan.json"
    path.write_text(plan.model_dump_json())
    out = tmp_path / "run"
    cal = tmp_path / "calibration.jsonl"
    env = {**_env(), "STRATOS_CALIBRATION": str(cal)}
    r = subprocess.run(_cmd(path, out), env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["plan"]["mode"] == "auto" and report["mode"] == "alignment"  # the probe scored 100%
    # the run's measured point went to the calibration cache, the plan's predictions beside it
    (point,) = [json.loads(line) for line in cal.read_text().splitlines()]
    assert point["accuracy"] == report["metrics"]["student_accuracy"] and point["train_tokens"] > 0
    assert point["predicted"]["accuracy"] == plan.objectives.accuracy and point["hardware"]["tokens_per_s"] > 0
    assert report["probe"]["accuracy"] == 1.0 and report["synthesis"]["mode"] == "alignment"
    assert report["training"]["planned_steps"] <= plan.job.max_steps == 12 and report["data"]["test"] == 20
    assert report["config"]["seed"] == 3 and report["config"]["scratch"]["hidden_size"] == 32
    cost = report["cost"]
    assert cost["train_offering"] == plan.train.label and cost["train_usd_per_hour"] == plan.train.price_per_hour
    assert cost["job_usd"] == pytest.approx(report["times"]["job_s"] / 3600 * plan.train.price_per_hour)
    assert report["plan"]["predicted_accuracy"] == plan.objectives.accuracy


def test_bad_config_exits_nonzero_with_a_message(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"task": "mahjong", "what": 1}))
    r = subprocess.run(_cmd(bad, tmp_path / "o"), env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "neither a Plan nor a DistillConfig" in r.stderr


def test_lora_student_with_logit_kd_exports_merged_model_and_adapter(tmp_path):
    from helpers.tiny_model import make_tiny_model_dir

    model_dir = make_tiny_model_dir(tmp_path / "tiny", manifest=False)
    # Byte-level tokens: the teacher's injection prompt (the Mahjong rules as background, the hand,
    # the given answer) is ~3k of them.
    conf = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**conf, "max_position_embeddings": 4096}))
    cfg = _write(
        tmp_path, teacher=str(model_dir), student=str(model_dir), logit_kd=True, n_train=24, n_val=10, n_test=8,
        probe_size=4, max_steps=4, eval_every=4, eval_samples=2, seq_len=1024, teacher_max_new_tokens=8,
        eval_max_new_tokens=16, rationale_budget=2, knowledge_examples=0, mode="auto", lr=1e-3,
    )
    out = tmp_path / "run"
    r = subprocess.run(_cmd(cfg, out), env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "injection"  # a random teacher fails the probe
    assert report["student"]["lora"] and report["training"]["logit_kd"]
    assert report["synthesis"]["teacher_asked"] == 2
    art = out / "artifact"
    assert (art / "adapter" / "adapter_config.json").is_file()
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(art)  # no peft needed
    assert not hasattr(merged, "peft_config")
    assert "lora" not in " ".join(n for n, _ in merged.named_parameters())
