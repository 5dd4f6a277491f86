"""The host's measured training rate: how points become a rate, and that a local plan follows it."""

from __future__ import annotations

import pytest
from helpers.planning import write_local_profile

from stratos import calibration
from stratos.device import cpu_model
from stratos.planner import host_rate, make_plan, phases
from stratos.planner.accuracy import AccuracyModel
from stratos.spec import parse_request
from stratos.zoo import get_model


@pytest.fixture(autouse=True, scope="module")
def module_cache(tmp_path_factory):
    """Own cache dir with a pre-written local-machine profile (no measurement in tests)."""
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("stratos-cache")
        mp.setenv("STRATOS_CACHE", str(d))
        write_local_profile()
        yield d


def test_rate_interpolates_between_sizes_and_extends_the_line_beyond_them():
    pts = [(1e6, 8000.0), (1e7, 1000.0), (1e7, 4000.0)]  # two runs of one size: geometric mean 2000
    assert host_rate.tokens_per_s(1e7, pts) == pytest.approx(2000.0)
    assert host_rate.tokens_per_s(1e6**0.5 * 1e7**0.5, pts) == pytest.approx((8000.0 * 2000.0) ** 0.5)
    assert host_rate.tokens_per_s(1e8, pts) == pytest.approx(500.0)  # the 1M-10M line: /4 per decade
    assert host_rate.tokens_per_s(1e5, pts) == pytest.approx(32000.0)
    assert host_rate.tokens_per_s(1e8, [(1e7, 2000.0)]) == pytest.approx(200.0)  # one size: same FLOPs/s
    steep = [(1e6, 100000.0), (1e7, 1000.0)]  # slower than constant FLOPs/s: held at -1 beyond
    assert host_rate.tokens_per_s(1e8, steep) == pytest.approx(100.0)
    assert host_rate.tokens_per_s(1e8, [(1e6, 1000.0), (1e7, 2000.0)]) == pytest.approx(2000.0)  # never faster
    assert host_rate.tokens_per_s(3e6, []) is None


def test_points_are_this_cpu_models_runs_with_the_jobs_thread_count(tmp_path):
    path = tmp_path / "calibration.jsonl"

    def point(cpu: str, threads: int, tps: float | None, kind: str = "cpu", tokens: float = 1e6) -> dict:
        return {"task": "mahjong", "student_params": 3e6, "train_tokens": tokens, "accuracy": 0.5,
                "hardware": {"kind": kind, "cpu_model": cpu, "threads": threads, "tokens_per_s": tps}}

    for p in (point(cpu_model(), 2, 4000.0), point(cpu_model(), 1, 2500.0), point("Other CPU", 2, 9000.0),
              point(cpu_model(), 2, None), point(cpu_model(), 2, 50000.0, kind="gpu"),
              point(cpu_model(), 2, 900.0, tokens=2925)):  # a fast-profile smoke run: start-up, not a rate
        calibration.append_point(p, path)
    assert host_rate.cache_points(2, cpu_model(), path) == [(3e6, 4000.0)]
    assert host_rate.cache_points(1, cpu_model(), path) == [(3e6, 2500.0)]
    calibration.append_point({**point(cpu_model(), 2, 8000.0), "request_key": "mine"}, path)
    assert host_rate.cache_points(2, cpu_model(), path, request_key="mine") == [(3e6, 4000.0)]
    assert host_rate.cache_points(2, cpu_model(), path, request_key="other") == [(3e6, 4000.0), (3e6, 8000.0)]
    rows = [{"measured": "1", "student_params": "1e6", "tokens_per_s": "7000", "cpu_model": "X", "threads": "1"},
            {"measured": "0", "student_params": "1e6", "tokens_per_s": "7000", "cpu_model": "X", "threads": "1"},
            {"measured": "1", "student_params": "1e6", "tokens_per_s": "", "cpu_model": "X", "threads": "1"}]
    assert host_rate.csv_points(rows, 1, "X") == [(1e6, 7000.0)] and host_rate.csv_points(rows, 2, "X") == []


def test_without_a_measurement_the_estimate_is_scaled_to_the_jobs_threads(monkeypatch):
    monkeypatch.setattr(host_rate, "host_points", lambda threads, request_key=None: [])
    monkeypatch.setattr(host_rate, "probe_points", lambda threads: [])
    assert host_rate.local_tokens_per_s(3e6, 1, 1000.0, 2.0) == (500.0, "estimate")
    assert host_rate.local_tokens_per_s(3e6, 4, 1000.0, 2.0) == (1000.0, "estimate")
    monkeypatch.setattr(host_rate, "host_points", lambda threads, request_key=None: [(3e6, 700.0 * threads)])
    assert host_rate.local_tokens_per_s(3e6, 1, 1000.0, 2.0) == (pytest.approx(700.0), "measured")


def test_a_cpu_model_with_no_run_is_priced_on_the_speed_probe_run_once(monkeypatch):
    """No run on this CPU model: the probe runs the job's training step for each scratch size in a
    fresh interpreter, once (cached per CPU model and threads), and prices the plan; a run replaces it."""
    import subprocess

    monkeypatch.setattr(host_rate, "cpu_model", lambda: "Unseen CPU 9000")
    monkeypatch.setattr(host_rate, "host_points", lambda threads, request_key=None: [])
    calls = []
    real_run = subprocess.run

    def counting_run(cmd, *a, **k):
        calls.append(cmd)
        return real_run([*cmd, "--steps", "1"], *a, **k)  # one timed step a size keeps the test short

    monkeypatch.setattr(subprocess, "run", counting_run)
    pts = host_rate.probe_points(1)
    assert [p for p, _ in pts] == [get_model(s).params for s in ("scratch-llama-1m", "scratch-llama-3m",
                                                                  "scratch-llama-10m")]
    assert all(r > 0 for _, r in pts) and pts[0][1] > pts[-1][1]  # a smaller student trains more tokens/s
    assert host_rate.probe_points(1) == pts and len(calls) == 1  # cached
    assert host_rate.probe_path(1).name == "speed-probe-Unseen-CPU-9000-1.json"
    rate, basis = host_rate.local_tokens_per_s(get_model("scratch-llama-3m").params, 1, 1.0, 2.0)
    assert basis == "probe" and rate == pytest.approx(pts[1][1])
    assert "speed probe" in host_rate.basis_note(1)
    monkeypatch.setattr(host_rate, "host_points", lambda threads, request_key=None: [(3e6, 700.0)])
    assert host_rate.local_tokens_per_s(3e6, 1, 1.0, 2.0) == (pytest.approx(700.0), "measured")


def test_a_failed_probe_leaves_the_estimate(monkeypatch):
    import subprocess

    monkeypatch.setattr(host_rate, "cpu_model", lambda: "Broken CPU")
    monkeypatch.setattr(host_rate, "host_points", lambda threads, request_key=None: [])

    def failing(cmd, *a, **k):
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(subprocess, "run", failing)
    assert host_rate.probe_points(2) == []
    assert host_rate.local_tokens_per_s(3e6, 1, 1000.0, 2.0) == (500.0, "estimate")


#: An accuracy model where data matters more than size (as the 4-class Mahjong runs measure): on a
#: slow host a time-capped big student sees too few tokens; on a fast one every student reaches the
#: data's 2 epochs and size wins.
DATA_HUNGRY = AccuracyModel((-9.0, 0.4, 1.0, -0.5, -2.0, -3.0, 1.0, 0.0), 0.4, 12, 12, ((6.5, "cpu", 1e9, 0.0),))


def local_plan(monkeypatch, tokens_per_s: float):
    """The local plan, chosen on accuracy, when this host measured ``tokens_per_s`` for the 3M student."""
    monkeypatch.setattr(host_rate, "host_points", lambda threads, request_key=None: [(get_model("scratch-llama-3m").params, tokens_per_s)])
    monkeypatch.setattr(phases, "model_for", lambda task, extra=(): DATA_HUNGRY)
    weights = {"accuracy": 1.0, "cost": 0.0, "latency": 0.0, "train_time": 0.0}
    return make_plan(parse_request({"target": "local", "weights": weights})).chosen


def test_a_slower_measured_rate_picks_a_smaller_or_equal_student_and_predicts_fewer_tokens(monkeypatch):
    plans = {tps: local_plan(monkeypatch, tps) for tps in (300.0, 3000.0, 30000.0, 300000.0)}
    sizes = [get_model(p.student).params for p in plans.values()]
    assert sizes == sorted(sizes)  # never a bigger student on a slower host
    assert sizes[0] < sizes[-1]  # and the rate does move the choice
    assert plans[300.0].student == "scratch-llama-1m"
    tokens = [p.objectives.train_tokens for p in plans.values()]
    assert tokens[0] == min(tokens) and plans[300.0].objectives.train_tokens < plans[300.0].job.max_train_minutes * 60 * 1000
    assert any("local training rate: measured" in a for a in plans[300.0].cost.assumptions)


def test_the_job_measures_its_rate_over_the_first_fit_steps_and_sets_it_beside_the_plan():
    from stratos.distill.config import DistillConfig
    from stratos.distill.job import host_check
    from stratos.distill.train import TrainState, fit_step_budget

    s = TrainState(total_steps=50_000)
    for step in range(1, 61):
        s.step, s.tokens = step, step * 2048
        s.train_seconds += 2.0 if step == 1 else 0.1  # the first step pays one-off costs, not counted
        fit_step_budget(s, 50_000, 60.0, 1)
    assert s.fitted == 1 and s.fit_tokens_per_s == pytest.approx(20480.0)
    assert abs(s.total_steps - (60 + (60.0 - s.train_seconds) / 0.1)) <= 1
    cfg = DistillConfig(task="mahjong", teacher="rules", student="scratch-llama-3m", mode="injection",
                        max_train_minutes=2.0)
    line = host_check(cfg, 20480.0)
    assert "20,480 training tokens/s" in line and "about 2,457,600 tokens in the 2-min cap" in line
    assert "predicted" not in line


def test_a_requests_own_run_does_not_move_its_re_plan_but_teaches_other_requests():
    """An unchanged stack's re-plan is the plan it ran (its next `pulumi up` changes nothing), as for
    accuracy and teacher time; another stack on this host is priced at the measured rate."""
    request = parse_request({"target": "local"})
    before = make_plan(request).chosen
    run = {"task": "mahjong", "student_params": get_model(before.student).params, "train_tokens": 1e8, "accuracy": 0.5,
           "request_key": request.key,
           "hardware": {"kind": "cpu", "cpu_model": cpu_model(), "threads": before.job.threads, "tokens_per_s": 100.0}}
    calibration.append_point(run)
    assert make_plan(parse_request({"target": "local"})).chosen.model_dump() == before.model_dump()
    other = make_plan(parse_request({"target": "local", "job": {"n_train": 40000}})).chosen
    assert any("local training rate: measured, 1 earlier run(s)" in a for a in other.cost.assumptions)
    assert not any("local training rate: measured" in a for a in before.cost.assumptions)
