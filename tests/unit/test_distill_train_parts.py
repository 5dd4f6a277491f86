"""Trainer building blocks: LR schedule, deterministic data order, atomic checkpoints, step budget.

The plan -> config mapping is tested in test_job_settings.py."""

from __future__ import annotations

import pytest
import torch
from helpers.configs import job_config

from stratos.distill.checkpoint import load_latest, save_checkpoint
from stratos.distill.train import batch_indices, lr_factor


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    f = [lr_factor(s, 10, 100, 0.1) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False))
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)


def test_batches_are_a_pure_function_of_step_and_cover_each_epoch():
    n, b = 10, 4
    seq = [i for s in range(5) for i in batch_indices(s, n, b, seed=3)]  # 2 epochs exactly
    assert sorted(seq[:10]) == list(range(10)) and sorted(seq[10:20]) == list(range(10))
    assert batch_indices(3, n, b, seed=3) == batch_indices(3, n, b, seed=3)
    assert batch_indices(0, n, b, seed=3) != batch_indices(0, n, b, seed=4)


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    assert load_latest(tmp_path) is None
    for step in (5, 10, 15):
        save_checkpoint(tmp_path, step, {"step": step, "w": torch.ones(2) * step}, keep=2)
    assert load_latest(tmp_path)["step"] == 15
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-0000010", "step-0000015"]
    # a torn write (temp dir left by a killed process) is never picked up
    (tmp_path / ".tmp-step-0000020-1").mkdir()
    assert load_latest(tmp_path)["step"] == 15


def test_autocast_is_bf16_only_where_asked_or_supported():
    from stratos.device import bf16_supported
    from stratos.distill.train import autocast

    w = torch.randn(8, 8)
    with autocast("fp32"):
        assert (w @ w).dtype == torch.float32
    with autocast("bf16"):
        assert (w @ w).dtype == torch.bfloat16
    with autocast("auto"):
        assert (w @ w).dtype == (torch.bfloat16 if bf16_supported() else torch.float32)
    with pytest.raises(ValueError):
        job_config(precision="fp8")


def _train_on_a_fake_clock(tmp_path, monkeypatch, clock, eval_every: int):
    """A tiny model trained to a 1-minute cap on ``clock`` (the training loop reads it twice per step:
    after the step, then after any validation pass), with fits at steps 4 and 8."""
    from types import SimpleNamespace

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    import stratos.distill.train as T
    from stratos.distill.packing import Blocks

    monkeypatch.setattr(T, "time", SimpleNamespace(perf_counter=clock))
    monkeypatch.setattr(T, "FITS", ((1, 4), (4, 8)))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16))
    ids = torch.randint(0, 16, (4, 8))
    blocks = Blocks(ids, ids.clone(), torch.arange(8).repeat(4, 1))
    cfg = job_config(max_train_minutes=1.0, max_steps=10_000, epochs=1e4, eval_every=eval_every, ckpt_every=10_000,
                     patience=0, warmup_steps=0, batch_blocks=2, micro_blocks=2, seq_len=16, threads=1,
                     precision="fp32", compile=False)
    return T.train(model, blocks, blocks, cfg, tmp_path / "ckpt")


def test_step_budget_is_refitted_once_the_speed_settles(tmp_path, monkeypatch):
    """Steps that get faster after the first fit must not leave the time budget unused."""

    class Clock:  # each step makes 2 calls (start, end): 0.5 s per step up to step 4, then 0.25 s
        t, n = 0.0, 0

        def __call__(self) -> float:
            if self.n % 2:
                self.t += 0.5 if self.n // 2 + 1 <= 4 else 0.25
            self.n += 1
            return self.t

    r = _train_on_a_fake_clock(tmp_path, monkeypatch, Clock(), eval_every=10_000)
    # fit 1 at step 4: 2 s spent, 0.5 s/step -> 4 + 58 / 0.5 = 120; fit 2 at step 8: 3 s spent,
    # 0.25 s/step -> 8 + 57 / 0.25 = 236 steps, which fill the 60 s exactly
    assert (r.steps, r.total_steps) == (236, 236)
    assert r.train_seconds == 60.0


def test_validation_passes_come_out_of_the_time_cap(tmp_path, monkeypatch):
    """Validation and checkpoints are paid from the same cap: the refits after each validation pass
    shorten the run so it ends at the cap (before, steps alone filled it and validation ran on top)."""

    class Clock:  # odd calls end a step (0.25 s); even calls end an iteration: 2.5 s after a validation pass
        t, n = 0.0, 0

        def __call__(self) -> float:
            step = (self.n + 1) // 2
            if self.n % 2:
                self.t += 0.25
            elif self.n and step % 20 == 0:
                self.t += 2.5
            self.n += 1
            return self.t

    r = _train_on_a_fake_clock(tmp_path, monkeypatch, Clock(), eval_every=20)
    # steps alone would fit 8 + 58 / 0.25 = 240 steps; with 2.5 s per 20 steps about 160 fit in 60 s
    assert r.stopped == "steps" and 150 <= r.steps <= 165
    assert 60.0 - 0.25 <= r.train_seconds <= 60.0 + 2.5 + 0.25  # the last step's own validation may run over


@pytest.mark.slow
def test_compiled_training_follows_the_eager_loss_curve(tmp_path):
    """``compile=True`` (inductor, the default) trains the same model as eager, step for step."""
    from transformers import LlamaConfig, LlamaForCausalLM

    import stratos.distill.train as T
    from stratos.distill.packing import Blocks

    ids = torch.arange(8).repeat(4, 1)  # one learnable sequence: the loss must fall
    blocks = Blocks(ids, ids.clone(), torch.arange(8).repeat(4, 1))
    losses = {}
    for flag in (False, True):
        torch.manual_seed(0)
        model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16,
                                             attn_implementation="eager"))
        cfg = job_config(max_steps=6, epochs=100, eval_every=10_000, ckpt_every=10_000, patience=0, warmup_steps=0, lr=1e-2,
                         batch_blocks=2, micro_blocks=2, seq_len=16, threads=1, precision="fp32", compile=flag)
        r = T.train(model, blocks, blocks, cfg, tmp_path / f"ckpt-{flag}")
        losses[flag] = [h["loss"] for h in r.history]
    assert len(losses[True]) == 6
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)
    assert losses[True][-1] < losses[True][0]


def test_flops_budget_stops_training_at_the_budget_whatever_the_clock(tmp_path):
    """``max_train_flops`` caps steps at 6 x parameters x tokens; the time cap is far away."""
    from transformers import LlamaConfig, LlamaForCausalLM

    import stratos.distill.train as T
    from stratos.distill.packing import Blocks

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16))
    params = sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, 16, (4, 8))
    pos = torch.arange(8).repeat(4, 1)
    pos[:, 6:] = -1  # padding: 6 real tokens a block, 12 a 2-block step
    blocks = Blocks(ids, ids.clone(), pos)
    per_step = T.train_flops(params, 12)
    cfg = job_config(max_train_minutes=60.0, max_steps=10_000, epochs=100, max_train_flops=per_step * 7.5, eval_every=10_000,
                     ckpt_every=10_000, patience=0, warmup_steps=0, batch_blocks=2, micro_blocks=2, seq_len=16,
                     threads=1, precision="fp32", compile=False)
    r = T.train(model, blocks, blocks, cfg, tmp_path / "ckpt")
    assert (r.steps, r.total_steps, r.stopped) == (7, 7, "flops")
    assert r.tokens == 7 * 12 and r.flops == pytest.approx(7 * per_step) and r.flops <= cfg.max_train_flops
    assert T.step_cap(job_config(max_steps=5, epochs=100, batch_blocks=2, micro_blocks=2), params, blocks) == (5, "steps")
    assert T.step_cap(job_config(max_steps=5, epochs=100, max_train_flops=per_step * 100, batch_blocks=2, micro_blocks=2),
                      params, blocks) == (5, "steps")  # the step cap binds first
    # 4 blocks of 6 real tokens, 2 a step: 1.5 passes are 3 steps
    assert T.step_cap(job_config(max_steps=50, epochs=1.5, batch_blocks=2, micro_blocks=2), params, blocks) == (3, "epochs")


def test_the_planner_prices_the_tokens_the_job_trains():
    """One rule: the planner's training tokens for a plan are the job's cap on the same settings."""
    job = job_config(n_train=1000, epochs=2, max_steps=50_000, max_train_flops=None)
    assert job.train_token_cap(1000 * 120.0, 3e6) == (2 * 1000 * 120.0, "epochs")
    job = job_config(n_train=1000, epochs=2, max_steps=10, batch_blocks=8, micro_blocks=8, seq_len=256)
    assert job.train_token_cap(1000 * 120.0, 3e6) == (10 * 8 * 256, "steps")
    job = job_config(n_train=50_000, epochs=2, max_train_flops=1.3e14)
    tokens, binds = job.train_token_cap(50_000 * 120.0, 2.93e6)
    assert binds == "flops" and tokens == pytest.approx(1.3e14 / (6 * 2.93e6))


def test_max_train_flops_is_a_positive_number_or_unset():
    assert job_config().max_train_flops is None
    with pytest.raises(ValueError, match="max_train_flops"):
        job_config(max_train_flops=0)
