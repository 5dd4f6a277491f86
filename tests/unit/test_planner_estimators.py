"""Estimators, accuracy model, Pareto filter and deployment score as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from stratos.catalog.offering import Offering
from stratos.planner import estimators as est
from stratos.planner.accuracy import fit, model_for, read_points
from stratos.planner.hardware import Hardware, hardware_of
from stratos.planner.pareto import brute_force_mask, pareto_mask
from stratos.planner.score import deployment_score, make_scale, utilities


def gpu(name: str, n: int = 1) -> Hardware:
    return hardware_of(Offering(cloud="aws", region="r", instance_type="x", accelerator=name, accelerator_count=n,
                                vcpus=8, memory_gb=64, price_per_hour=1.0))


def test_hardware_from_table_and_measurement():
    h = gpu("A100-80GB", 8)
    assert (h.devices, h.memory_gb, h.tflops, h.bandwidth_gbps, h.is_gpu) == (8, 80, 312, 2039, True)
    cpu = hardware_of(Offering(cloud="local", instance_type="local", vcpus=2, memory_gb=16, price_per_hour=0,
                               gflops=50.0, bandwidth_gbps=10.0))
    assert not cpu.is_gpu and cpu.tflops == pytest.approx(0.05) and cpu.memory_gb == 16


def test_training_flops_lora_vs_full_and_kd():
    assert est.train_flops(1e9, 1e6, lora=False) == 6e15
    assert est.train_flops(1e9, 1e6, lora=True) == 4e15
    assert est.train_flops(1e9, 1e6, lora=True, kd_teacher_params=7e9) == 4e15 + 14e15


def test_training_memory_fit_rules_out_what_cannot_fit():
    full_7b = est.train_memory_gb(7.6e9, lora=False, devices=1)
    assert full_7b > 100 and not est.fits(full_7b, gpu("L4"))
    assert est.fits(est.train_memory_gb(7.6e9, lora=False, devices=8), gpu("A100-80GB", 8))
    assert est.fits(est.train_memory_gb(7.6e9, lora=True, devices=1), gpu("A100-80GB"))
    assert not est.fits(est.train_memory_gb(7.6e9, lora=True, devices=1), gpu("T4"))


def test_training_hours_scale_with_devices_and_spot():
    f = est.train_flops(1e9, 1e8, lora=False)

    def seconds(hw):
        return est.train_seconds(1e8, est.train_tokens_per_s(1e9, hw, lora=False))

    one, eight = est.train_hours(seconds(gpu("H100"))), est.train_hours(seconds(gpu("H100", 8)))
    assert one == pytest.approx(f / (989e12 * est.MFU_TRAIN_GPU) / 3600)
    assert eight == pytest.approx(one / 8)
    assert est.train_hours(seconds(gpu("H100")), spot=True) == pytest.approx(one * est.SPOT_SLOWDOWN)
    assert est.train_hours(7200.0, provision_h=0.25, synthesis_h=0.5) == pytest.approx(2.75)


def test_training_stops_at_the_time_budget():
    tps = est.train_tokens_per_s(1e9, gpu("H100"), lora=False)
    assert est.train_seconds(1e12, tps, max_s=600.0) == 600.0
    assert est.train_seconds(1e3, tps, max_s=600.0) == pytest.approx(1e3 / tps)


def test_teacher_memory_splits_weights_over_devices():
    one, eight = est.teacher_memory_gb(7e9, gpu("A100-80GB")), est.teacher_memory_gb(7e9, gpu("A100-80GB", 8))
    assert one == pytest.approx(7e9 * 2 * est.TEACHER_ACTIVATION_OVERHEAD / 1e9 + est.RUNTIME_RESERVE_GB)
    assert eight - est.RUNTIME_RESERVE_GB == pytest.approx((one - est.RUNTIME_RESERVE_GB) / 8)


def test_serving_latency_is_bandwidth_bound_for_big_models_and_floor_bound_for_tiny_ones():
    lat7_l4 = est.serve_latency_ms(7.6e9, 28, 57344, 128, 32, gpu("L4"))
    step = 2 * 7.6e9 / (300e9 * est.BW_EFFICIENCY) * 1e3
    assert lat7_l4 == pytest.approx(step * 32, rel=0.1)
    assert est.serve_latency_ms(7.6e9, 28, 57344, 128, 32, gpu("H100")) < lat7_l4 / 5
    tiny = est.serve_latency_ms(3e6, 4, 4096, 128, 32, gpu("H100"))
    floor = est.DECODE_FLOOR_MS_GPU + 4 * est.DECODE_FLOOR_MS_PER_LAYER_GPU
    assert tiny == pytest.approx(est.REQUEST_OVERHEAD_MS + 32 * floor, rel=0.01)
    longer = est.serve_latency_ms(7.6e9, 28, 57344, 128, 64, gpu("L4"))
    assert longer > 1.9 * lat7_l4


def test_cpu_decode_reads_the_weights_at_one_cores_rate_for_their_size():
    """A 3M student's 12 MB are read at the rate measured for a 16 MiB buffer (a cache), a 30M
    model's 110 MB at a rate between the 64 and 256 MiB ones (memory): each step is the floor plus
    those bytes over that rate at the fitted efficiency, whatever the matmul rate."""
    cpu = dict(name="cpu", devices=1, memory_gb=16.0, bandwidth_gbps=5.0, is_gpu=False,
               read_gbps=np.array([120.0, 120.0, 40.0, 10.0]))
    small, big = (3e6, 6, 4608, 128, 32), (3e7, 8, 16384, 128, 32)
    assert est.read_gbps_at(12e6, Hardware(**cpu, tflops=0.2)) == 120.0
    assert 10.0 < est.read_gbps_at(est.decode_step_bytes(3e7, 4.0, 16384, 128, 32), Hardware(**cpu, tflops=0.2)) < 40.0
    for shape in (small, big):
        slow_math, fast_math = (est.serve_latency_ms(*shape, Hardware(**cpu, tflops=t)) for t in (0.2, 2.0))
        decode = fast_math - est.serve_latency_ms(*shape[:4], 0, Hardware(**cpu, tflops=2.0))
        step_bytes = est.decode_step_bytes(shape[0], 4.0, shape[2], shape[3], shape[4])
        roof = step_bytes / (est.read_gbps_at(step_bytes, Hardware(**cpu, tflops=2.0)) * 1e9) * 1e3
        assert decode == pytest.approx(32 * (est.SERVE_DECODE_FLOOR_MS_CPU + roof / est.SERVE_READ_EFFICIENCY_CPU),
                                       rel=0.02)
        assert slow_math > fast_math  # prefill is what the matmul rate prices
    unmeasured = Hardware(name="cpu", devices=1, memory_gb=16.0, tflops=0.2, bandwidth_gbps=5.0, is_gpu=False)
    assert est.read_gbps_at(12e6, unmeasured) == 5.0


def test_a_cpu_step_splits_over_the_cores_when_their_shares_read_faster(monkeypatch):
    """Split over 2 cores, each core reads half the bytes at the rate for half the size, at the split
    efficiency (the threads meet and share memory); a stream decodes in the faster layout, as the
    engine measures."""
    monkeypatch.setattr(est, "SERVE_READ_EFFICIENCY_CPU", 0.8)
    monkeypatch.setattr(est, "SERVE_SPLIT_READ_EFFICIENCY_CPU", 0.35)
    cpu = dict(name="cpu", devices=1, memory_gb=16.0, tflops=0.2, bandwidth_gbps=5.0, is_gpu=False,
               read_gbps=np.array([120.0, 120.0, 40.0, 10.0]))
    one, two = Hardware(**cpu), Hardware(**cpu, cores=2)

    def step(nbytes: float, efficiency: float) -> float:
        return est.SERVE_DECODE_FLOOR_MS_CPU + float(est.one_core_read_ms(nbytes, one)) / efficiency

    big, cached = 400e6, 8 * 2**20  # memory-bound; cached: 8 and 4 MiB both read at 120 GB/s
    assert est.cpu_decode_step_ms(big, two) == pytest.approx(step(big / 2, 0.35))
    assert step(big / 2, 0.35) < step(big, 0.8)
    assert est.cpu_decode_step_ms(big, one) == pytest.approx(step(big, 0.8))
    assert est.cpu_decode_step_ms(cached, two) == pytest.approx(step(cached, 0.8))  # half the bytes at 0.35: slower


def test_serving_memory_includes_kv_cache():
    w_only = est.serve_memory_gb(72.7e9, 0, 160, gpu("H100"))
    with_kv = est.serve_memory_gb(72.7e9, 327680, 160, gpu("H100"))
    assert with_kv - w_only == pytest.approx(327680 * 160 * est.SERVE_CONCURRENCY / 1e9)
    assert not est.fits(w_only, gpu("H100")) and est.fits(est.serve_memory_gb(72.7e9, 327680, 160, gpu("H100", 4)),
                                                           gpu("H100", 4))


def test_synthesis_cost_api_and_self_hosted():
    s = est.synthesis_estimate(1000, 100, 50, api_usd_per_m=(2.5, 10.0), teacher_params=2e11, hw=gpu("L4"),
                               usd_per_hour=5.0)
    assert s.usd == pytest.approx(1000 * 100 * 2.5e-6 + 1000 * 50 * 10e-6)
    local = est.synthesis_estimate(1000, 100, 50, api_usd_per_m=None, teacher_params=7.6e9, hw=gpu("L4"),
                                   usd_per_hour=5.0)
    assert local.usd == pytest.approx(local.hours * 5.0) and local.hours > 0
    assert est.teacher_calls(1000, "alignment", 0.5, 16) == 2000
    assert est.teacher_calls(1000, "alignment", 0.01, 16) == 1000 * est.MAX_SAMPLES_PER_QUESTION
    assert est.teacher_calls(1000, "injection", 0.0, 16) == 16  # the job asks the teacher for 16 rationales
    assert est.teacher_calls(10, "injection", 0.0, 16) == 10
    assert est.serve_cost_usd(0.8, 720) == pytest.approx(576)


def test_accuracy_model_is_monotone_and_reports_a_band():
    m = model_for("mahjong")
    small = m.predict(3e6, 1e6, "injection", 0.0)
    big = m.predict(5e8, 1e6, "injection", 0.0, pretrained=True)
    more_data = m.predict(3e6, 1e7, "injection", 0.0)
    assert small[0] < big[0] and small[0] < more_data[0]
    assert small[1] < small[0] < small[2]
    weak = m.predict(5e8, 6e6, "alignment", 0.2, pretrained=True)
    strong = m.predict(5e8, 6e6, "alignment", 0.8, pretrained=True)
    assert weak[0] < strong[0]
    measured = [p for p in read_points(task="mahjong") if p["measured"] == "1"]
    inside = 0
    for p in measured:
        _, lo, hi = m.predict(float(p["student_params"]), float(p["train_tokens"]), p["mode"], 0.0)
        inside += lo <= float(p["accuracy"]) <= hi
    assert inside >= 0.8 * len(measured)  # an 80% band; the held-out check is benchmarks/planner_calibrate.py


def test_accuracy_fit_follows_the_data():
    pts = [dict(student_params=s, train_tokens=1e6, mode="injection", teacher_coverage=0, accuracy=a, measured="1")
           for s, a in ((1e6, 0.3), (1e7, 0.6), (1e8, 0.85))]
    m = fit(pts)
    assert m.predict(1e6, 1e6, "injection", 0)[0] == pytest.approx(0.3, abs=0.1)
    assert m.predict(1e8, 1e6, "injection", 0)[0] == pytest.approx(0.85, abs=0.1)


@pytest.mark.parametrize("n,k,hi", [(400, 2, 30), (600, 3, 8), (900, 4, 5), (300, 4, 1000)])
def test_pareto_mask_equals_brute_force(n, k, hi):
    pts = np.random.default_rng(n + k).integers(0, hi, (n, k)).astype(float)  # many ties and duplicates
    assert np.array_equal(pareto_mask(pts), brute_force_mask(pts))


def test_pareto_small_example():
    pts = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [6, 6]], dtype=float)
    assert pareto_mask(pts).tolist() == [True, True, True, False, True, False]


def test_score_normalises_inside_constraints_and_follows_weights():
    obj = np.array([[10.0, 100.0, 0.80, 1.0], [40.0, 50.0, 0.95, 2.0], [20.0, 60.0, 0.85, 1.0]])
    scale = make_scale(obj, budget=50, max_latency=200, min_accuracy=0.7, max_hours=10)
    u = utilities(obj, scale)
    assert u.min() >= 0 and u.max() <= 1
    assert u[0, 0] == 1 and u[1, 1] == 1 and u[1, 2] == 1  # best of each axis
    cheap = deployment_score(obj, scale, (1, 0, 0, 0)).argmax()
    accurate = deployment_score(obj, scale, (0, 0, 1, 0)).argmax()
    assert (cheap, accurate) == (0, 1)


def test_measured_runs_refit_the_model():
    rows = read_points(task="mahjong")
    before = fit(rows).predict(2.9e6, 1.1e6, "injection", 0.0)[0]
    run = {"task": "mahjong", "student_params": "2.9e6", "train_tokens": "1.1e6", "mode": "injection",
           "teacher_coverage": "0", "accuracy": "0.99", "measured": "1", "source": "test run", "hardware": "cpu"}
    after = fit(rows + [run] * 3)
    assert after.predict(2.9e6, 1.1e6, "injection", 0.0)[0] > before
    assert after.n_measured == sum(r["measured"] == "1" for r in rows) + 3


def test_a_gpu_steps_launch_floor_bounds_a_small_students_rate():
    # The default 1M student (4 layers) at the job's step of 8 blocks of 256: 2,048 tokens per 22.3 ms,
    # what the H200 run measured, against the FLOPs estimate's tens of millions.
    bound = est.gpu_launch_bound_tokens_per_s(4, 8, 8, 256)
    assert bound == pytest.approx(2048 / (est.GPU_STEP_S + 4 * est.GPU_STEP_S_PER_LAYER_PASS))
    assert 80_000 < bound < 100_000 < est.train_tokens_per_s(1.1e6, gpu("H200"), lora=False)
    # Gradient accumulation adds a pass per micro-batch; a deeper model, a launch per layer.
    assert est.gpu_launch_bound_tokens_per_s(4, 8, 2, 256) < bound / 3
    assert est.gpu_launch_bound_tokens_per_s(30, 8, 8, 256) < bound / 5
    assert est.gpu_launch_bound_tokens_per_s(None, 8, 8, 256) == float("inf")
    # Compiled, the same step took 10.2 ms there (2.0x eager's rate).
    assert est.gpu_launch_bound_tokens_per_s(4, 8, 8, 256, compiled=True) == pytest.approx(2 * bound)
