"""Predicted student accuracy: a logistic model of size x data x mode x teacher, fitted to data.

    logit(acc) = b0 + b1·log10(student params) + b2·log10(training tokens)
                 + b3·[alignment] + b4·[alignment]·(1 - teacher coverage)
                 + b5·[injection]·(share the teacher explains)·(1 - teacher rationale acceptance)
                 + b6·[pretrained student (LoRA on a language model) rather than from scratch]
                 + b7·(training tokens / 1e7)

Why this shape: accuracy saturates (logistic); scaling-law studies show log-linear gains
in parameters and data; alignment learns only from what the teacher gets right, so its
ceiling falls with the teacher's coverage. In injection mode every label comes from the
task's rule engine, and the teacher is asked to explain at most ``rationale_budget``
questions (the rest get the task's own rationale): a teacher whose explanations often fail
the checker (low acceptance) writes poorer ones even where they pass, and hurts in
proportion to the share of the training questions it explains. A pretrained student starts
from a language model; a from-scratch one learns the task's tokens from nothing, and on the
measured CPU runs a larger scratch student learned no faster per token than a smaller one, so
size alone cannot carry the difference (the pretrained term does; its weight comes from the
prior rows until a pretrained student is measured). The linear token term is there because the
measured curve is steeper at the top than log-linear: the 3M student went from 33% at 4.2M tokens
to 90% at 7.4M (the task's procedure is learned late, then fast); with log tokens alone the fit
predicted 57% for the default job that measured 93.5%.

Because that term grows without bound, a prediction is never carried past the data: where measured
runs support a size (``measured_near``), tokens beyond ``EXTRAPOLATE`` x the most any of them trained
are predicted as if trained that far only, and marked ``prior`` (wider band); a size no run measured
(on any hardware) is held to the most tokens any calibration row trained. The planner does not promise what a longer
run might reach, only what was measured; the band's top still reaches what the unclamped curve says, since a
longer run usually does learn more (the 1M student's 14M-token run, held out, was predicted at 0.78 from its
5M-token run and measured 0.968).

The coefficients are a ridge fit (towards a weak prior) to the rows of
``data/accuracy_calibration.csv`` plus the user's calibration cache (measured runs,
``stratos.planner.calibration``): a measured run weighs ``MEASURED_WEIGHT`` prior rows, so
where runs were measured they decide the fit and the priors (written for the reverse-only
task, mostly GPU-sized students) speak only where none was. Where measured runs of the same size
trained nearly the same tokens, the prediction also moves by their residuals (``anchor``), since
one logistic surface cannot pass through every cluster of runs. The uncertainty
is the weighted residual spread in logit space (never below ``MIN_SIGMA``), reported as
an 80% band. A prediction with no measured run near it (within ``NEAR_DECADES`` of the
student's size, on the same kind of hardware) rests on priors: it is marked ``prior`` and
its band is ``PRIOR_BAND_FACTOR`` times wider.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

_CSV = Path(__file__).with_name("data") / "accuracy_calibration.csv"
PRIOR = np.array([-4.0, 0.35, 0.9, -0.5, -2.0, -3.0, 1.0, 0.0])
#: Rows written before the ``student_kind`` column: the zoo's from-scratch students are at most 30M
#: parameters and its pretrained ones at least 135M, so a row's size tells its kind.
PRETRAINED_FROM = 1e8
#: The linear token term's unit.
TOKEN_UNIT = 1e7
#: How far past a size's most-trained measured run (x its tokens) a prediction may go, and how
#: close in size (decades) a run must be to count as that size's (the zoo's sizes are 0.4 apart).
EXTRAPOLATE = 1.25
SAME_SIZE_DECADES = 0.2
RIDGE = 0.5
MIN_SIGMA = 0.35
Z80 = 1.2816
#: The residual spread is measured on the runs the model was fitted to, so it understates the error
#: on a run it has not seen; the band is widened by the smallest factor (in steps of 0.05) that puts
#: at least 80% of held-out runs inside it (``benchmarks/planner_calibrate.py --accuracy``, leave-one-out:
#: 12 of 16 at 1.0, 13 of 16 at 1.15), as split-conformal calibration does.
BAND_SCALE = 1.15
#: Chosen by ``benchmarks/planner_calibrate.py --accuracy`` (leave-one-out over the measured
#: four-class runs) among 4, 10, 20 and 100: at 4 the priors flattened the token effect
#: (10 of 12 held-out runs inside bands of about +-0.24), at 20 11 of 12 inside bands of
#: about +-0.13; 100 leaves the band to the ``MIN_SIGMA`` floor.
MEASURED_WEIGHT = 20.0
#: A measured run supports predictions for students within this many decades of its size.
NEAR_DECADES = 0.5
#: Measured runs within ``SAME_SIZE_DECADES`` of a prediction's size and within this factor of its
#: tokens anchor it: it moves by their residuals (measured minus fitted logit), weighted by how close
#: their tokens are and shrunk towards none by ``ANCHOR_PRIOR`` runs' worth of weight. The global fit
#: cannot pass through every measured run (it over-predicted the default 1M, 14M-token job, measured
#: 96.8, 96.4, 95.2 and 94.8%, at 97.3%), and a run the user will repeat is best predicted by its
#: repeats, as a Gaussian process on the fit's residuals would.
ANCHOR_SPAN = 1.25
ANCHOR_PRIOR = 1.0
#: How much wider (in logit units) the band of a prediction resting on priors is.
PRIOR_BAND_FACTOR = 2.0
#: Hardware kinds a calibration row can name; a measured row without one ran on a CPU host.
HARDWARE = ("cpu", "gpu")


def features(
    params: float, tokens: np.ndarray | float, mode: str, coverage: float, teacher_share: float = 0.0,
    acceptance: float = 1.0, pretrained: bool = False,
) -> np.ndarray:
    """The model's feature rows, shape (n, 7) for n token counts."""
    t = np.atleast_1d(np.asarray(tokens, dtype=float))
    align = 1.0 if mode == "alignment" else 0.0
    cols = [
        np.ones_like(t), np.full_like(t, math.log10(max(params, 1.0))), np.log10(np.maximum(t, 1.0)),
        np.full_like(t, align), np.full_like(t, align * (1.0 - coverage)),
        np.full_like(t, (1.0 - align) * teacher_share * (1.0 - acceptance)),
        np.full_like(t, 1.0 if pretrained else 0.0),
        t / TOKEN_UNIT,
    ]
    return np.stack(cols, axis=1)


@dataclass(frozen=True)
class Prediction:
    """Predicted exact accuracy per token count: mean, 80% band, and whether it rests on priors."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    prior: np.ndarray


def _sig(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


@dataclass(frozen=True)
class AccuracyModel:
    """Fitted coefficients, residual sigma (logit units), the points they came from, and where
    measured runs support them: (log10 student params, hardware, training tokens, residual logit)
    per measured run."""

    coef: tuple[float, ...]
    sigma: float
    n_points: int
    n_measured: int
    support: tuple[tuple[float, str, float, float], ...] = ()
    max_tokens: float = math.inf  # the most tokens any row of the fit trained

    def measured_near(self, params: float, hardware: str) -> bool:
        """Whether a measured run on ``hardware`` had a student within ``NEAR_DECADES`` of ``params``."""
        return self.tokens_near(params, hardware, NEAR_DECADES) is not None

    def tokens_near(self, params: float, hardware: str | None, decades: float = SAME_SIZE_DECADES) -> float | None:
        """The most tokens a measured run within ``decades`` of ``params`` on ``hardware`` (None: any)
        trained (None: no such run)."""
        lp = math.log10(max(params, 1.0))
        near = [t for p, hw, t, _ in self.support if abs(lp - p) <= decades and hardware in (None, hw)]
        return max(near) if near else None

    def anchor(self, params: float, tokens: np.ndarray) -> np.ndarray:
        """The logit shift measured runs of this size and nearly these tokens ask for (``ANCHOR_SPAN``),
        on any hardware: the model has no hardware term, only a wider band where none was measured."""
        lp, span = math.log10(max(params, 1.0)), math.log(ANCHOR_SPAN)
        shift, weight = np.zeros(tokens.shape), np.full(tokens.shape, ANCHOR_PRIOR)
        for p, _, t, resid in self.support:
            if abs(lp - p) <= SAME_SIZE_DECADES:
                w = np.clip(1.0 - np.abs(np.log(np.maximum(tokens, 1.0) / t)) / span, 0.0, None)
                shift, weight = shift + w * resid, weight + w
        return shift / weight

    def predict_many(
        self, params: float, tokens: np.ndarray | float, mode: str, coverage: float, *,
        teacher_share: float = 0.0, acceptance: float = 1.0, is_gpu: np.ndarray | bool = False,
        pretrained: bool = False,
    ) -> Prediction:
        """Vectorised over token counts (and hardware kinds): the planner's call."""
        tokens = np.atleast_1d(np.asarray(tokens, dtype=float))
        gpu = np.broadcast_to(np.asarray(is_gpu, dtype=bool), tokens.shape)
        near = {hw: self.measured_near(params, hw) for hw in HARDWARE}
        limit = (self.tokens_near(params, None) or self.max_tokens) * EXTRAPOLATE
        coef, shift = np.asarray(self.coef), self.anchor(params, tokens)
        z = features(params, np.minimum(tokens, limit), mode, coverage, teacher_share, acceptance, pretrained) @ coef
        z = z + shift
        beyond = features(params, tokens, mode, coverage, teacher_share, acceptance, pretrained) @ coef + shift
        prior = np.where(gpu, not near["gpu"], not near["cpu"]) | (tokens > limit)
        half = Z80 * BAND_SCALE * self.sigma * np.where(prior, PRIOR_BAND_FACTOR, 1.0)
        return Prediction(_sig(z), _sig(np.minimum(z, beyond) - half), _sig(np.maximum(z, beyond) + half), prior)

    def predict(
        self, params: float, tokens: float, mode: str, coverage: float, *, teacher_share: float = 0.0,
        acceptance: float = 1.0, is_gpu: bool = False, pretrained: bool = False,
    ) -> tuple[float, float, float]:
        """(mean, low, high) predicted exact accuracy for one option, low/high an 80% band."""
        p = self.predict_many(params, tokens, mode, coverage, teacher_share=teacher_share, acceptance=acceptance,
                              is_gpu=is_gpu, pretrained=pretrained)
        return float(p.mean[0]), float(p.low[0]), float(p.high[0])


#: Columns added later; rows written before them read as: hardware "cpu" (measured runs so far
#: ran on the 2-core CPU host), teacher_share 0 and acceptance 1 (the task's own rationales), and
#: no run facts (tag, threads, tokens/s, CPU model, time cap: ``stratos.planner.host_rate`` reads them).
OPTIONAL = {"hardware": "cpu", "teacher_share": "0", "teacher_acceptance": "1", "tag": "", "threads": "",
            "tokens_per_s": "", "cpu_model": "", "train_minutes": "", "student_kind": ""}


def read_points(path: Path = _CSV, task: str | None = None) -> list[dict]:
    """Calibration rows (comment lines starting with '#' skipped), optional columns filled in."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    rows = [{**r, **{k: r.get(k) or v for k, v in OPTIONAL.items()}} for r in rows]
    return [r for r in rows if task is None or r["task"] == task]


def is_pretrained(p: dict) -> bool:
    """Whether a calibration row or cache point trained a pretrained student: its ``student_kind``,
    else its zoo id (``scratch-*``), else its size (``PRETRAINED_FROM``)."""
    if p.get("student_kind"):
        return p["student_kind"] == "pretrained"
    if p.get("student"):
        return not str(p["student"]).startswith("scratch")
    return float(p["student_params"]) >= PRETRAINED_FROM


def _row_features(p: dict) -> np.ndarray:
    return features(
        float(p["student_params"]), float(p["train_tokens"]), p["mode"], float(p["teacher_coverage"]),
        float(p.get("teacher_share") or 0.0), float(p.get("teacher_acceptance") or 1.0), is_pretrained(p),
    )[0]


def fit(points: list[dict]) -> AccuracyModel:
    """Weighted ridge regression in logit space towards ``PRIOR``."""
    if not points:
        return AccuracyModel(tuple(PRIOR), 1.0, 0, 0)
    X = np.array([_row_features(p) for p in points])
    acc = np.clip(np.array([float(p["accuracy"]) for p in points]), 0.01, 0.99)
    y = np.log(acc / (1 - acc))
    measured = [str(p["measured"]) == "1" for p in points]
    w = np.where(measured, MEASURED_WEIGHT, 1.0)
    A = X.T @ (w[:, None] * X) + RIDGE * np.eye(X.shape[1])
    coef = np.linalg.solve(A, X.T @ (w * y) + RIDGE * PRIOR)
    resid = y - X @ coef
    sigma = max(MIN_SIGMA, float(np.sqrt(np.sum(w * resid**2) / max(np.sum(w), 1e-9))))
    support = tuple(
        (math.log10(max(float(p["student_params"]), 1.0)), str(p.get("hardware") or "cpu"), float(p["train_tokens"]),
         float(r))
        for p, m, r in zip(points, measured, resid, strict=True) if m
    )
    return AccuracyModel(tuple(float(c) for c in coef), sigma, len(points), int(sum(measured)), support,
                         max(float(p["train_tokens"]) for p in points))


#: Logit-space sigma of a task with no calibration rows of its own, at least: its prediction borrows
#: the other tasks' fit, so its band is wide on purpose (about 13%-87% around a 50% mean), and never
#: narrower than a prediction resting on priors (``PRIOR_BAND_FACTOR`` x the fit's sigma).
UNCALIBRATED_SIGMA = 1.5


def uncalibrated_reason(task: str, request_key: str | None = None) -> str | None:
    """Why the accuracy predicted for ``task`` is only a guess, or None when the task has calibration rows."""
    from stratos import calibration

    if read_points(task=task) or calibration.accuracy_rows(task, request_key=request_key):
        return None
    return (
        f"accuracy uncalibrated: no calibration rows for task {task!r} ({_CSV.name}), so the prediction borrows "
        f"the other tasks' fit with a wide band; a min_accuracy constraint is only a warning until a measured run "
        "is recorded (each finished job appends one to the calibration cache)"
    )


def model_for(task: str, extra: tuple[dict, ...] = ()) -> AccuracyModel:
    """The model fitted on ``task``'s calibration rows plus ``extra`` measured points (the user's
    calibration cache); a task with no rows of its own borrows all rows, with a wide band."""
    own = read_points(task=task)
    model = _fit_cached(tuple(tuple(sorted(p.items())) for p in [*(own or read_points()), *extra]))
    if own or extra:
        return model
    return replace(model, sigma=max(PRIOR_BAND_FACTOR * model.sigma, UNCALIBRATED_SIGMA))


@lru_cache(maxsize=32)
def _fit_cached(key: tuple) -> AccuracyModel:
    return fit([dict(p) for p in key])


@dataclass(frozen=True)
class HeldOut:
    """One measured run predicted by a model fitted without it (``leave_one_out``)."""

    row: dict
    mean: float
    low: float
    high: float
    prior: bool

    @property
    def measured(self) -> float:
        return float(self.row["accuracy"])

    @property
    def inside(self) -> bool:
        return self.low <= self.measured <= self.high


def leave_one_out(points: list[dict]) -> list[HeldOut]:
    """Each measured row of ``points`` predicted by the model fitted on all the other rows
    (priors and the remaining measured runs), with its 80% band: the honest check of the band,
    since a run never helps predict itself. A calibrated model has ~80% of runs inside."""
    out = []
    for i, p in enumerate(points):
        if str(p["measured"]) != "1":
            continue
        model = fit(points[:i] + points[i + 1 :])
        pred = model.predict_many(
            float(p["student_params"]), float(p["train_tokens"]), p["mode"], float(p["teacher_coverage"]),
            teacher_share=float(p.get("teacher_share") or 0.0), acceptance=float(p.get("teacher_acceptance") or 1.0),
            is_gpu=(p.get("hardware") or "cpu") == "gpu", pretrained=is_pretrained(p),
        )
        out.append(HeldOut(p, float(pred.mean[0]), float(pred.low[0]), float(pred.high[0]), bool(pred.prior[0])))
    return out
