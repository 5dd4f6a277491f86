"""make_plan end to end on the fixture catalog and the local machine; `stratos plan` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.planning import PROFILE, write_local_profile

from stratos.exceptions import InfeasibleError, UnknownNameError
from stratos.planner import make_plan
from stratos.planner.pareto import brute_force_mask
from stratos.planner.plan import Plan
from stratos.spec import parse_request

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "catalog")


@pytest.fixture(autouse=True, scope="module")
def cache(tmp_path_factory):
    """Own cache dir with a pre-written local-machine profile (no measurement in tests)."""
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("stratos-cache")
        mp.setenv("STRATOS_CACHE", str(d))
        mp.setenv("STRATOS_CALIBRATION", str(d / "calibration.jsonl"))  # no measured runs but the CSV's
        write_local_profile()
        yield d


def plan(exhaustive: bool = False, **req):
    return make_plan(parse_request(req), FIXTURE, exhaustive=exhaustive)


def test_local_target_uses_this_machine_offline_teacher_and_scratch_student():
    r = plan(target="local")
    p = r.chosen
    assert p.train.cloud == "local" and p.serve.cloud == "local" and p.train.gflops == PROFILE["gflops"]
    assert p.teacher == "smollm2-135m-instruct" and p.student.startswith("scratch-llama-")
    assert p.mode == "injection" and not p.logit_kd  # SmolLM2 does not know Mahjong
    assert p.cost.total_usd == 0 and p.job.profile == "default" and p.job.n_train == 50000
    assert any("injection" in x for x in p.reasons)
    assert Plan.model_validate_json(p.model_dump_json()) == p


def test_local_fast_profile_and_price_and_overrides():
    r = plan(target="local", job={"profile": "fast", "seed": 7}, local={"price_per_hour": 2.0})
    p = r.chosen
    assert p.job.profile == "fast" and p.job.seed == 7 and p.job.n_train < 2000 and p.job.max_train_minutes <= 1
    assert p.cost.total_usd == pytest.approx(2.0 * (p.objectives.train_hours + 720))
    r2 = plan(target="local", student="scratch-llama-10m", job={"n_train": 500, "max_train_minutes": 3})
    assert r2.chosen.student == "scratch-llama-10m" and r2.chosen.job.n_train == 500
    assert r2.chosen.job.max_train_minutes == 3


def test_cloud_plan_front_baselines_and_json_contract():
    r = plan(target="aws", clouds=["aws", "gcp"], spot=True,
             constraints={"min_accuracy": 0.6, "max_latency_ms": 500, "budget_usd": 2000})
    feas = [c for c in r.candidates if c.feasible]
    obj = np.array([c.objectives() for c in feas]) * np.array([1, 1, -1, 1])
    brute = {id(feas[i]) for i in np.flatnonzero(brute_force_mask(obj))}
    # the epsilon-front: representatives of the exact front, covering all of it
    assert {id(c) for c in r.pareto} <= brute and r.stats["pareto_exact"] == len(brute) >= len(r.pareto)
    assert r.chosen_candidate in r.pareto
    assert r.chosen_score >= max(r.baseline_scores.values())
    acc_first, cost_first = r.baseline_candidates["accuracy_first"], r.baseline_candidates["cost_first"]
    assert acc_first.accuracy == max(c.accuracy for c in feas)
    assert cost_first.cost_usd == min(c.cost_usd for c in feas)
    for c in feas:
        assert c.cost_usd <= 2000 and c.latency_ms <= 500 and c.accuracy >= 0.6
    j = json.loads(json.dumps(r.to_json()))
    assert set(j) >= {"candidates", "pareto", "chosen", "baselines", "score"}
    assert set(j["baselines"]) == {"accuracy_first", "cost_first"}
    assert j["chosen"]["score"] == pytest.approx(r.chosen_score, abs=1e-4)
    assert all("score" in b for b in j["baselines"].values())
    assert all(c["score"] is not None for c in j["pareto"])
    assert len(j["candidates"]) == len(r.candidates)
    assert {"cost_usd", "latency_ms", "accuracy", "train_hours"} <= set(j["candidates"][0]["objectives"])


def test_spot_only_when_allowed_and_serving_never_on_spot():
    r = plan(target="aws")
    assert not any(c.train.spot or c.serve.spot for c in r.candidates)
    r = plan(target="aws", spot=True)
    assert any(c.train.spot for c in r.candidates) and not any(c.serve.spot for c in r.candidates)


def test_matching_rules_mode_and_logit_kd():
    from stratos.planner.matching import match
    from stratos.zoo import get_model

    gpt, qwen05 = get_model("gpt-4o"), get_model("qwen2.5-0.5b-instruct")
    m = match(gpt, qwen05, "mahjong", 0.5)
    assert m.modes == ("alignment", "injection") and not m.kd_possible
    assert match(get_model("smollm2-135m-instruct"), get_model("scratch-llama-3m"), "mahjong", 0.5).modes == (
        "injection",)
    r = plan(target="aws", teacher="gpt-4o", student="qwen2.5-0.5b-instruct", mode="alignment")
    assert {c.mode for c in r.candidates} == {"alignment"} and not any(c.logit_kd for c in r.candidates)
    assert r.chosen.cost.synthesis_usd > 0  # API tokens are paid for
    r = plan(target="aws", teacher="qwen2.5-7b-instruct", student="qwen2.5-0.5b-instruct", mode="alignment")
    assert all(c.logit_kd for c in r.candidates) and r.chosen.logit_kd
    r = plan(target="aws", teacher="llama-3.1-8b-instruct", student="qwen2.5-0.5b-instruct", mode="alignment")
    assert not any(c.logit_kd for c in r.candidates)  # different tokenizers
    with pytest.raises(InfeasibleError):
        plan(target="aws", teacher="qwen2.5-0.5b-instruct", student="qwen2.5-7b-instruct")


def test_latency_bounds_student_size():
    loose = plan(target="aws")
    tight = plan(target="aws", constraints={"max_latency_ms": 60})
    biggest = max(c.latency_ms for c in loose.candidates if c.feasible)
    assert biggest > 60
    assert all(c.latency_ms <= 60 for c in tight.pareto)


def test_infeasible_names_binding_constraints_and_nearest_options():
    with pytest.raises(InfeasibleError) as e:
        plan(target="aws", constraints={"min_accuracy": 0.9999, "budget_usd": 5})
    msg = str(e.value)
    assert "min_accuracy=0.9999" in msg and "budget_usd=5" in msg and "Nearest options" in msg
    assert e.value.exit_code == 2


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError, match="us-east-1"):
        plan(target="aws", regions=["mars-1"])
    with pytest.raises(UnknownNameError, match="L4"):
        plan(target="aws", gpus=["TPUv9"])
    with pytest.raises(UnknownNameError, match="qwen2.5-7b-instruct"):
        plan(target="aws", teacher="not-a-model")
    assert {c.train.accelerator for c in plan(target="aws", gpus=["L4"]).candidates} == {"L4"}


def _cli(*args, env_extra=None, cache=None):
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "stratos.cli", "plan", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_json_plot_and_exit_codes(tmp_path, cache):
    stack = tmp_path / "Pulumi.t.yaml"
    stack.write_text("config:\n  stratos:target: aws\n  stratos:constraints:\n    max_latency_ms: 400\n")
    png = tmp_path / "front.png"
    out = _cli("--config", str(stack), "--json", "--catalog", FIXTURE, "--plot", str(png),
               env_extra={"STRATOS_CACHE": str(cache)})
    assert out.returncode == 0, out.stderr
    j = json.loads(out.stdout)
    assert j["chosen"]["serve"]["cloud"] == "aws" and j["pareto"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("target: aws\nconstraints: {min_accuracy: 0.9999}\n")
    out = _cli("--config", str(bad), "--catalog", FIXTURE, env_extra={"STRATOS_CACHE": str(cache)})
    assert out.returncode == 2 and "min_accuracy" in out.stderr
    out = _cli("--config", str(stack), env_extra={"STRATOS_CACHE": str(cache), "STRATOS_CATALOG_DIR": "", "STRATOS_PROFILE": "offline"})
    assert out.returncode == 1 and "STRATOS_CATALOG_DIR" in out.stderr


def test_phase_pruning_never_changes_the_front():
    req = parse_request({"target": "aws", "clouds": ["aws", "gcp"], "spot": True,
                         "constraints": {"max_latency_ms": 800, "budget_usd": 3000}})
    fast = make_plan(req, FIXTURE)
    full = make_plan(req, FIXTURE, exhaustive=True)
    assert len(full.candidates) > 2 * len(fast.candidates)

    def front(r):
        return {tuple(round(v, 9) for v in c.objectives()) for c in r.pareto}

    assert front(fast) == front(full)
    assert fast.chosen_candidate.objectives() == pytest.approx(full.chosen_candidate.objectives())


def test_a_small_student_on_a_gpu_is_priced_at_its_step_floor_not_its_flops(monkeypatch):
    from stratos.planner import estimators as est
    from stratos.planner.hardware import hardware_of
    from stratos.zoo.registry import get_model

    def by_offering(result):
        return {(c.train, c.serve, c.teacher, c.mode): c for c in result.candidates if c.train.accelerator}

    r = plan(target="aws", student="scratch-llama-3m", exhaustive=True)
    j = r.chosen.job
    bound = est.gpu_launch_bound_tokens_per_s(get_model("scratch-llama-3m").layers, j.batch_blocks, j.micro_blocks,
                                              j.seq_len, compiled=True)  # a from-scratch student compiles
    assert r.chosen.train.accelerator
    assert any("GPU training step takes at least" in a for a in r.chosen.cost.assumptions)
    with monkeypatch.context() as mp:  # the same options priced at the FLOPs estimate alone
        mp.setattr(est, "gpu_launch_bound_tokens_per_s", lambda *a: float("inf"))
        flops_only = by_offering(plan(target="aws", student="scratch-llama-3m", exhaustive=True))
    floored = by_offering(r)
    assert floored.keys() == flops_only.keys()
    params = get_model("scratch-llama-3m").params
    for key, c in floored.items():
        flops_rate = est.train_tokens_per_s(params, hardware_of(c.train), lora=False)
        assert bound < flops_rate and c.train_nodes == 1 and not c.train.spot
        added_s = (c.train_hours - flops_only[key].train_hours) * 3600
        assert added_s == pytest.approx(c.tokens_seen / bound - c.tokens_seen / flops_rate, rel=0.01)


def test_a_compiled_gpu_job_is_priced_its_compiling_once(monkeypatch):
    from stratos.planner import estimators as est

    monkeypatch.setattr(est, "GPU_COMPILE_S", 300.0)  # large enough to see whatever the rest costs

    def by_offering(result):
        return {(c.train, c.serve, c.teacher, c.mode): c for c in result.candidates if c.train.accelerator}

    compiled = by_offering(plan(target="aws", student="scratch-llama-3m", exhaustive=True))
    eager = by_offering(plan(target="aws", student="scratch-llama-3m", exhaustive=True, job={"compile": False}))
    assert compiled.keys() == eager.keys()
    for key, c in compiled.items():  # the same data, at twice the step rate once compiled, after GPU_COMPILE_S
        e = eager[key]
        assert c.tokens_seen == pytest.approx(e.tokens_seen)
        train_s = (c.train_hours - c.synthesis_hours - est.PROVISION_HOURS_CLOUD) * 3600
        eager_s = (e.train_hours - e.synthesis_hours - est.PROVISION_HOURS_CLOUD) * 3600
        assert train_s == pytest.approx(est.GPU_COMPILE_S + eager_s * est.GPU_COMPILED_STEP, rel=0.05)
