"""The user's calibration cache: one JSON line per finished run, read by the next plan.

``$STRATOS_CACHE/calibration.jsonl`` (``~/.cache/stratos`` by default; ``$STRATOS_CALIBRATION``
names another file). The distillation
job appends its measured point after each run (``append_point``, from ``point_of``): the
hardware it ran on (kind, CPU model, accelerator, training tokens/s), the student, the
tokens it trained on, its accuracy and time, the teacher's measured probe accuracy and
rationale acceptance, and the plan's predictions beside them. The planner's accuracy
model fits these as measured rows (``accuracy_rows``); a teacher's measured acceptance
replaces its size prior (``rationale_acceptance``); ``stratos report`` shows predicted
vs measured from the same point.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

from stratos.catalog.sky_catalog import cache_dir
from stratos.device import cpu_model

FILE = "calibration.jsonl"


def cache_path() -> Path:
    """``$STRATOS_CALIBRATION`` when set (the test suite keeps its runs apart this way), else
    ``$STRATOS_CACHE/calibration.jsonl`` (``~/.cache/stratos/calibration.jsonl``)."""
    return Path(os.environ.get("STRATOS_CALIBRATION") or cache_dir() / FILE)


def append_point(point: dict[str, Any], path: Path | None = None) -> Path:
    """Append one measured point as a JSON line (created with its folder when missing)."""
    path = path or cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(point, sort_keys=True) + "\n")
    return path


def read_points(task: str | None = None, path: Path | None = None, request_key: str | None = None) -> list[dict[str, Any]]:
    """Points in the cache (lines that do not parse, or lack a field the model needs, are skipped),
    without the runs of ``request_key``: a stack re-planned with its config unchanged gets the plan
    it ran, not one its own run moved (which would make the next ``pulumi up`` retrain).
    Parsed once per file version: a plan asks for every teacher-student pair."""
    path = path or cache_path()
    try:
        st = path.stat()
    except OSError:
        return []
    return [dict(p) for p in _parsed(str(path), st.st_mtime_ns, st.st_size)
            if (task is None or p.get("task") == task) and (request_key is None or p.get("request_key") != request_key)]


def cpu_runs(cpu: str, threads: int, path: Path | None = None, request_key: str | None = None) -> list[dict[str, Any]]:
    """``read_points`` of runs on CPU model ``cpu`` with ``threads`` torch threads: what this host's
    training rate and teacher time are learned from."""
    def here(p: dict[str, Any]) -> bool:
        hw = p.get("hardware") or {}
        return (hw.get("kind"), hw.get("cpu_model"), hw.get("threads")) == ("cpu", cpu, threads)

    return list(filter(here, read_points(path=path, request_key=request_key)))


@lru_cache(maxsize=4)
def _parsed(path: str, _mtime_ns: int, _size: int) -> tuple[dict[str, Any], ...]:
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            p = json.loads(line)
            float(p["student_params"]), float(p["train_tokens"]), float(p["accuracy"])
        except (ValueError, KeyError, TypeError):
            continue
        out.append(p)
    return tuple(out)


#: A run that trained fewer tokens than this measured its start-up (compilation, warm-up), not its
#: step rate or what the data teaches (the fast profile's 12 steps are ~3k tokens, accuracy 0): the
#: cache keeps its point (``stratos report`` shows it), the planner never fits it.
MIN_POINT_TOKENS = 250_000


def teaches(point: dict[str, Any]) -> bool:
    """Whether a cached run trained long enough to be a point of the accuracy model and the host rate."""
    return float(point["train_tokens"]) >= MIN_POINT_TOKENS


def accuracy_rows(task: str, path: Path | None = None, request_key: str | None = None) -> tuple[dict[str, str], ...]:
    """The cache's points that :func:`teaches` as measured rows of the accuracy model
    (``accuracy.read_points`` shape)."""
    return tuple(
        {
            "task": task, "student_params": str(p["student_params"]), "train_tokens": str(p["train_tokens"]),
            "mode": p.get("mode") or "injection", "teacher_coverage": str(p.get("teacher_coverage") or 0.0),
            "accuracy": str(p["accuracy"]), "measured": "1", "source": f"calibration cache {p.get('time', '')}",
            "hardware": (p.get("hardware") or {}).get("kind") or "cpu",
            "teacher_share": str(p.get("teacher_share") or 0.0),
            "teacher_acceptance": str(p["teacher_acceptance"] if p.get("teacher_acceptance") is not None else 1.0),
        }
        for p in read_points(task, path, request_key)
        if teaches(p)
    )


def acceptance_prior(teacher_params: float, coverage: float) -> float:
    """Share of a teacher's answer-conditioned rationales that pass the checker, before any run.

    Rises with size (0.18 at 135M, 0.52 at 7B, 0.72 at 70B, capped at 0.95) and is never below
    the teacher's own accuracy on the task: a teacher that solves a question can justify its answer.
    """
    by_size = 0.15 + 0.2 * math.log10(max(teacher_params, 1e8) / 1e8)
    return float(min(0.95, max(coverage, by_size, 0.05)))


def rationale_acceptance(teacher: str, teacher_params: float, coverage: float, task: str,
                         path: Path | None = None, request_key: str | None = None) -> tuple[float, str]:
    """(acceptance, basis): the mean measured rate of ``teacher``'s earlier runs on ``task``
    (where it was asked for rationales), else ``acceptance_prior``."""
    rates = [float(p["teacher_acceptance"]) for p in read_points(task, path, request_key)
             if p.get("teacher") == teacher and p.get("teacher_acceptance") is not None and p.get("teacher_asked")]
    if rates:
        return sum(rates) / len(rates), "measured"
    return acceptance_prior(teacher_params, coverage), "prior"


def probe_accuracy(teacher: str, task: str, path: Path | None = None, request_key: str | None = None) -> float | None:
    """The mean probe accuracy ``teacher`` measured on ``task`` in earlier runs, or None."""
    rates = [float(p["teacher_coverage"]) for p in read_points(task, path, request_key)
             if p.get("teacher") == teacher and p.get("teacher_coverage") is not None]
    return sum(rates) / len(rates) if rates else None


def accelerator() -> tuple[str | None, int]:
    """The GPU this process trained on (name, count), or (None, 0) on a CPU host. Asks torch
    only when the job already imported it: the planner's process never pays for the import."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return torch.cuda.get_device_name(0), torch.cuda.device_count()
    return None, 0


def point_of(report: dict[str, Any], on_this_host: bool = True) -> dict[str, Any]:
    """The measured point of a finished run, from its ``report.json`` (as a mapping): what was
    measured, the hardware, and the plan's predictions (``config.planned``) beside them.

    ``on_this_host``: the run's process asks for its own CPU and GPU; otherwise (the Pulumi
    provider recording a cloud node's run) the hardware is the plan's training offering."""
    cfg, syn, tr = report.get("config") or {}, report.get("synthesis") or {}, report.get("training") or {}
    planned = cfg.get("planned") or {}
    train = planned.get("train") or {}
    student, data, metrics = report.get("student") or {}, report.get("data") or {}, report.get("metrics") or {}
    timed = (report.get("serving") or {}).get("student_latency") or {}
    gpu, n_gpu = accelerator() if on_this_host else (train.get("accelerator"), train.get("accelerator_count") or 0)
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "request_key": planned.get("request_key"),
        "task": report.get("task"), "student": student.get("id"), "student_params": student.get("parameters"),
        "teacher": report.get("teacher"), "mode": report.get("mode"), "train_tokens": data.get("train_tokens"),
        "accuracy": metrics.get("student_accuracy"),
        "teacher_coverage": (report.get("probe") or {}).get("accuracy"),
        "teacher_asked": syn.get("teacher_asked"), "teacher_acceptance": syn.get("teacher_acceptance_rate"),
        "teacher_share": (syn.get("teacher_asked") or 0) / max(int(data.get("train_examples") or 0), 1),
        "teacher_calls": teacher_calls(report), "teacher_max_new_tokens": cfg.get("teacher_max_new_tokens"),
        "teacher_load_s": (report.get("times") or {}).get("teacher_load_s"),
        "hardware": {
            "kind": "gpu" if gpu else "cpu", "cpu_model": cpu_model() if on_this_host else None,
            "cores": os.cpu_count() if on_this_host else train.get("vcpus"),
            "threads": cfg.get("threads"), "accelerator": gpu, "accelerator_count": n_gpu,
            "planned_offering": train.get("instance_type"), "tokens_per_s": tr.get("tokens_per_s"),
        },
        "measured": {
            "accuracy": metrics.get("student_accuracy"),
            "train_hours": (report.get("times") or {}).get("job_s", 0.0) / 3600,
            "synthesis_hours": teacher_hours(report.get("times") or {}),
            "latency_ms": timed.get("p50_ms"), "job_usd": (report.get("cost") or {}).get("job_usd"),
            "train_tokens": data.get("train_tokens"),
            "latency_shape": _shape(timed),
        },
        "predicted": {
            **{k: planned.get(k) for k in COMPARED + ("accuracy_low", "accuracy_high", "accuracy_basis")},
            "latency_ms": latency_at_run(planned, student.get("id"), timed),
        },
    }


#: The job's phases that wait on the teacher (``report.times`` keys): what a plan's ``synthesis_hours`` predicts.
TEACHER_PHASES = ("probe_s", "synth_s", "eval_teacher_s")


def teacher_hours(times: dict[str, float]) -> float | None:
    """Hours the run's teacher phases took (None: the run recorded none of them)."""
    spent = [times[k] for k in TEACHER_PHASES if k in times]
    return sum(spent) / 3600 if spent else None


def teacher_calls(report: dict[str, Any]) -> int:
    """Questions the run's teacher answered: its probe, the rationales it wrote, its zero-shot evaluation."""
    teacher_eval = ((report.get("evaluation") or {}).get("teacher") or {}).get("n") or 0
    return int((report.get("probe") or {}).get("n") or 0) + int((report.get("synthesis") or {}).get("teacher_calls") or 0) \
        + int(teacher_eval)


def _shape(timed: dict[str, Any]) -> list[float] | None:
    p, o = timed.get("prompt_tokens"), timed.get("completion_tokens")
    return [p, o] if p is not None and o is not None else None


def latency_at_run(planned: dict[str, Any], student: str | None, timed: dict[str, Any]) -> float | None:
    """The planner's latency for the requests the run timed, on the offering it timed them on.

    Why not the plan's own figure: that is for the endpoint's request shape (the constraints'
    prompt and output tokens, HTTP overhead included), while the job times its test questions
    through the engine in-process; a Mahjong answer of 134 tokens against the plan's 32 made
    the two agree only by chance. So the plan's latency function (``estimators.model_latency_ms``)
    is evaluated at the measured mean prompt and answer tokens, on the plan's training offering
    (where the job runs), less the request overhead. None when the run did not record its shape
    or the student is not in the zoo."""
    from pydantic import ValidationError

    from stratos.catalog.offering import Offering
    from stratos.exceptions import UnknownNameError
    from stratos.planner import estimators as est
    from stratos.planner.hardware import hardware_of
    from stratos.zoo import get_model

    shape, train = _shape(timed), planned.get("train")
    if shape is None or not train or not student:
        return None
    try:
        spec, offering = get_model(student), Offering.model_validate(train)
    except (UnknownNameError, ValidationError):
        return None
    hw = hardware_of(offering)
    return float(est.model_latency_ms(spec, *shape, hw)) - est.REQUEST_OVERHEAD_MS


#: What ``stratos report`` sets side by side: predicted (the plan) vs measured (the run).
COMPARED = ("accuracy", "train_tokens", "train_hours", "synthesis_hours", "latency_ms", "job_usd")


def record_run(report: dict[str, Any], path: Path | None = None, on_this_host: bool = True) -> Path | None:
    """Append a finished run's point to the calibration cache: the job's last step, and the cloud
    job provider's on the user's machine when a node finishes. A cache that cannot be written
    costs the next plan a data point, not the run: warn and go on."""
    try:
        return append_point(point_of(report, on_this_host), path)
    except OSError as exc:
        warnings.warn(f"calibration cache {path or cache_path()} not written ({exc}); the next plan will not "
                      "use this run. Set STRATOS_CACHE to a writable folder.", stacklevel=2)
        return None
