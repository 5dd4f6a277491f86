"""Distillation losses as pure functions of tensors (testable without a trainer).

Shapes: ``student_logits`` and ``teacher_logits`` are ``(batch, seq, vocab)``
over the same vocabulary; ``labels`` is ``(batch, seq)`` with ``-100`` where no
loss is taken (prompt tokens, padding). Logits at position ``t`` predict the
token at ``t + 1``; the shift happens here so callers pass model outputs as-is.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

IGNORE = -100
Divergence = Literal["forward_kl", "jsd"]


def _shift(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return logits[:, :-1, :], labels[:, 1:]


def token_ce_sum(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy over labelled positions, and how many there were.

    Returning the sum (not the mean) lets data-parallel callers normalise by the
    token count of the whole global batch, so 1 and N processes give the same loss.
    ``weights`` (same shape as ``labels``) scales each labelled token's term.
    """
    lg, lb = _shift(logits, labels)
    per_tok = F.cross_entropy(lg.reshape(-1, lg.size(-1)).float(), lb.reshape(-1), ignore_index=IGNORE, reduction="none")
    if weights is not None:
        per_tok = per_tok * weights[:, 1:].reshape(-1)
    return per_tok.sum(), (lb != IGNORE).sum()


def decision_weights(input_ids: torch.Tensor, labels: torch.Tensor, marker_ids: list[int], weight: float) -> torch.Tensor:
    """Per-token loss weights: ``weight`` on each labelled token that follows a marker token, else 1.

    Why: in a step-by-step rationale nearly every token is a copy the model
    learns in minutes; the few tokens right after a decision marker (Mahjong's
    ``try 5p :`` -> ``x`` or a split) decide the answer and carry almost all of
    the remaining loss. Weighting them spends more of a short budget there
    (numbers in ``DistillConfig.decision_weight``).
    """
    w = torch.ones(labels.shape, dtype=torch.float32)
    if weight == 1.0 or not marker_ids:
        return w
    after = torch.zeros(labels.shape, dtype=torch.bool)
    after[:, 1:] = torch.isin(input_ids[:, :-1], torch.tensor(marker_ids))
    w[after & (labels != IGNORE)] = weight
    return w


def kd_divergence_sum(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 1.0,
    divergence: Divergence = "forward_kl",
    beta: float = 0.5,
) -> torch.Tensor:
    """Summed per-token divergence between teacher and student at labelled positions.

    ``forward_kl`` is KL(teacher || student) (Hinton et al.); ``jsd`` is the
    generalised Jensen-Shannon divergence with mixture weight ``beta`` (GKD,
    Agarwal et al.). Scaled by ``temperature**2`` so its gradient magnitude does
    not shrink as the temperature softens the distributions.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    s, lb = _shift(student_logits, labels)
    t, _ = _shift(teacher_logits, labels)
    mask = lb != IGNORE
    s = s[mask].float() / temperature  # (n_tokens, vocab)
    t = t[mask].float() / temperature
    s_logp = F.log_softmax(s, dim=-1)
    t_logp = F.log_softmax(t, dim=-1)
    if divergence == "forward_kl":
        per_tok = (t_logp.exp() * (t_logp - s_logp)).sum(-1)
    elif divergence == "jsd":
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1) for jsd, got {beta}")
        log_beta = torch.log(torch.tensor(beta))
        log_1mb = torch.log(torch.tensor(1.0 - beta))
        m_logp = torch.logsumexp(torch.stack([s_logp + log_1mb, t_logp + log_beta]), dim=0)
        kl_t = (t_logp.exp() * (t_logp - m_logp)).sum(-1)
        kl_s = (s_logp.exp() * (s_logp - m_logp)).sum(-1)
        per_tok = beta * kl_t + (1.0 - beta) * kl_s
    else:
        raise ValueError(f"unknown divergence {divergence!r}; use 'forward_kl' or 'jsd'")
    return per_tok.sum() * temperature**2


def distillation_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None = None,
    *,
    alpha: float = 0.5,
    temperature: float = 2.0,
    divergence: Divergence = "forward_kl",
    beta: float = 0.5,
) -> torch.Tensor:
    """Mean per-token loss: ``alpha * CE + (1 - alpha) * divergence`` (plain CE without a teacher).

    Returns a scalar; ``0`` (with grad) when no position is labelled.
    """
    ce_sum, n = token_ce_sum(student_logits, labels)
    denom = n.clamp(min=1).to(ce_sum.dtype)
    if teacher_logits is None:
        return ce_sum / denom
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    kd = kd_divergence_sum(
        student_logits, teacher_logits, labels, temperature=temperature, divergence=divergence, beta=beta
    )
    return (alpha * ce_sum + (1.0 - alpha) * kd) / denom
