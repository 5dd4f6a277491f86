"""Predicted student accuracy: a logistic model of size x data x mode, fitted to data.

    logit(acc) = b0 + b1·log10(student params) + b2·log10(training tokens)
                 + b3·[alignment] + b4·[alignment]·(1 - teacher coverage)

Why this shape: accuracy saturates (logistic); scaling-law studies show log-linear gains
in parameters and data; alignment learns only from what the teacher gets right, so its
ceiling falls with the teacher's coverage. The coefficients are a ridge fit (towards a
weak prior) to the rows of ``data/accuracy_calibration.csv``: measured runs weigh 4x the
prior rows. The uncertainty is the weighted residual spread in logit space (never below
``MIN_SIGMA``), reported as an 80% band. To refresh after a new run, append a row.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

_CSV = Path(__file__).with_name("data") / "accuracy_calibration.csv"
PRIOR = np.array([-4.0, 0.35, 0.9, -0.5, -2.0])
RIDGE = 0.5
MIN_SIGMA = 0.35
Z80 = 1.2816
MEASURED_WEIGHT = 4.0


def _features(params: float, tokens: float, mode: str, coverage: float) -> np.ndarray:
    align = 1.0 if mode == "alignment" else 0.0
    return np.array(
        [1.0, math.log10(max(params, 1.0)), math.log10(max(tokens, 1.0)), align, align * (1.0 - coverage)]
    )


@dataclass(frozen=True)
class AccuracyModel:
    """Fitted coefficients, residual sigma (logit units) and how many points they came from."""

    coef: tuple[float, ...]
    sigma: float
    n_points: int
    n_measured: int

    def predict(self, params: float, tokens: float, mode: str, coverage: float) -> tuple[float, float, float]:
        """(mean, low, high) predicted exact accuracy, low/high an 80% band."""
        z = float(np.dot(self.coef, _features(params, tokens, mode, coverage)))

        def sig(v: float) -> float:
            return 1.0 / (1.0 + math.exp(-v))

        return sig(z), sig(z - Z80 * self.sigma), sig(z + Z80 * self.sigma)


def read_points(path: Path = _CSV, task: str | None = None) -> list[dict]:
    """Calibration rows (comment lines starting with '#' skipped)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return [r for r in rows if task is None or r["task"] == task]


def fit(points: list[dict]) -> AccuracyModel:
    """Weighted ridge regression in logit space towards ``PRIOR``."""
    if not points:
        return AccuracyModel(tuple(PRIOR), 1.0, 0, 0)
    X = np.array([
        _features(float(p["student_params"]), float(p["train_tokens"]), p["mode"], float(p["teacher_coverage"]))
        for p in points
    ])
    acc = np.clip(np.array([float(p["accuracy"]) for p in points]), 0.01, 0.99)
    y = np.log(acc / (1 - acc))
    w = np.array([MEASURED_WEIGHT if str(p["measured"]) == "1" else 1.0 for p in points])
    W = np.diag(w)
    A = X.T @ W @ X + RIDGE * np.eye(X.shape[1])
    coef = np.linalg.solve(A, X.T @ W @ y + RIDGE * PRIOR)
    resid = y - X @ coef
    sigma = max(MIN_SIGMA, float(np.sqrt(np.sum(w * resid**2) / max(np.sum(w), 1e-9))))
    n_meas = int(sum(1 for p in points if str(p["measured"]) == "1"))
    return AccuracyModel(tuple(float(c) for c in coef), sigma, len(points), n_meas)


FIELDS = ("task", "student_params", "train_tokens", "mode", "teacher_coverage", "accuracy", "measured", "source")


def record_run(
    task: str, student_params: float, train_tokens: float, mode: str, teacher_coverage: float, accuracy: float,
    source: str, path: Path = _CSV,
) -> None:
    """Append one measured run (weighs ``MEASURED_WEIGHT``x in the next fit) and refit.

    For the distillation job's benchmark: student parameters, training tokens actually seen,
    mode, the teacher's probe accuracy, and the student's measured exact accuracy.
    """
    if mode not in ("alignment", "injection") or not 0 <= accuracy <= 1 or not 0 <= teacher_coverage <= 1:
        raise ValueError("mode must be alignment|injection and accuracy, teacher_coverage in [0, 1]")
    row = dict(zip(FIELDS, (task, f"{student_params:.4g}", f"{train_tokens:.4g}", mode, f"{teacher_coverage:.3f}",
                            f"{accuracy:.4f}", "1", source.replace(",", ";")), strict=True))
    with path.open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=FIELDS).writerow(row)
    model_for.cache_clear()


#: Logit-space sigma of a task with no calibration rows of its own: its prediction borrows the
#: other tasks' fit, so its 80% band is wide on purpose (about 13%-87% around a 50% mean).
UNCALIBRATED_SIGMA = 1.5


def uncalibrated_reason(task: str) -> str | None:
    """Why the accuracy predicted for ``task`` is only a guess, or None when the task has calibration rows."""
    if read_points(task=task):
        return None
    return (
        f"accuracy uncalibrated: no calibration rows for task {task!r} ({_CSV.name}), so the prediction borrows "
        f"the other tasks' fit with a wide band; a min_accuracy constraint is only a warning until a measured run "
        "is recorded (stratos.planner.accuracy.record_run)"
    )


@cache
def model_for(task: str) -> AccuracyModel:
    """The model fitted on ``task``'s calibration rows; a task with none gets all rows and a wide band."""
    own = read_points(task=task)
    if own:
        return fit(own)
    model = fit(read_points())
    return AccuracyModel(model.coef, max(model.sigma, UNCALIBRATED_SIGMA), model.n_points, model.n_measured)
