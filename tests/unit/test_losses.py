"""The distillation losses as pure functions on random tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stratos.distill.losses import distillation_loss, kd_divergence_sum, token_ce_sum

B, T, V = 2, 7, 11


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(B, T, V, generator=g)
    t = torch.randn(B, T, V, generator=g)
    labels = torch.randint(0, V, (B, T), generator=g)
    labels[:, :3] = -100  # prompt positions
    return s, t, labels


def test_ce_matches_torch_on_shifted_completion_tokens():
    s, _, labels = _data()
    total, n = token_ce_sum(s, labels)
    ref = F.cross_entropy(s[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
    assert int(n) == int((labels[:, 1:] != -100).sum())
    assert torch.allclose(total / n, ref, atol=1e-6)
    assert torch.allclose(distillation_loss(s, labels), ref, atol=1e-6)


@pytest.mark.parametrize("div", ["forward_kl", "jsd"])
def test_divergence_zero_for_identical_and_positive_otherwise(div):
    s, t, labels = _data(1)
    assert float(kd_divergence_sum(s, s.clone(), labels, divergence=div)) == pytest.approx(0.0, abs=1e-5)
    assert float(kd_divergence_sum(s, t, labels, divergence=div)) > 0.01


def test_forward_kl_matches_definition_and_temperature_scaling():
    s, t, labels = _data(2)
    tau = 2.0
    mask = labels[:, 1:] != -100
    ps = F.log_softmax(s[:, :-1][mask] / tau, -1)
    pt = F.log_softmax(t[:, :-1][mask] / tau, -1)
    ref = F.kl_div(ps, pt, log_target=True, reduction="sum") * tau**2
    assert torch.allclose(kd_divergence_sum(s, t, labels, temperature=tau), ref, atol=1e-5)


def test_jsd_is_symmetric_at_half_and_bounded():
    s, t, labels = _data(3)
    a = kd_divergence_sum(s, t, labels, divergence="jsd", beta=0.5)
    b = kd_divergence_sum(t, s, labels, divergence="jsd", beta=0.5)
    n = int((labels[:, 1:] != -100).sum())
    assert torch.allclose(a, b, atol=1e-5)
    assert float(a) / n <= torch.log(torch.tensor(2.0)) + 1e-6  # JSD <= ln 2 per token


def test_mixed_loss_interpolates_and_has_gradient():
    s, t, labels = _data(4)
    s.requires_grad_(True)
    ce = distillation_loss(s, labels)
    only_ce = distillation_loss(s, labels, t, alpha=1.0)
    only_kd = distillation_loss(s, labels, t, alpha=0.0, temperature=1.0)
    mid = distillation_loss(s, labels, t, alpha=0.3, temperature=1.0)
    assert torch.allclose(only_ce, ce)
    assert torch.allclose(mid, 0.3 * ce + 0.7 * only_kd, atol=1e-5)
    mid.backward()
    assert s.grad is not None and s.grad[:, :2].abs().sum() == 0  # no gradient from prompt positions
    assert s.grad[:, 3:-1].abs().sum() > 0


def test_invalid_arguments_are_refused():
    s, t, labels = _data()
    with pytest.raises(ValueError):
        kd_divergence_sum(s, t, labels, temperature=0)
    with pytest.raises(ValueError):
        kd_divergence_sum(s, t, labels, divergence="reverse")
    with pytest.raises(ValueError):
        distillation_loss(s, labels, t, alpha=1.5)


def test_weighted_ce_scales_each_token_and_ones_change_nothing():
    s, _, labels = _data(3)
    plain, n = token_ce_sum(s, labels)
    ones, n1 = token_ce_sum(s, labels, torch.ones(labels.shape))
    assert torch.allclose(plain, ones) and int(n) == int(n1)
    w = torch.ones(labels.shape)
    w[:, 5] = 3.0
    per = F.cross_entropy(s[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="none")
    expect = (per * w[:, 1:].reshape(-1)).sum()
    got, n2 = token_ce_sum(s, labels, w)
    assert torch.allclose(got, expect, atol=1e-5) and got > plain
    assert int(n2) == int(n)  # the count stays the number of labelled tokens
