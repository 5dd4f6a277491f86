"""CLI for ``stratos report RUN_DIR``: summarise a finished distillation run."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from stratos.distill.report import read_report
from stratos.exceptions import ArtifactError
from stratos.metrics import Latency


def _pct(x: object) -> str:
    return f"{100 * float(x):.1f}%" if isinstance(x, int | float) else "-"


def _usd(x: object) -> str:
    return f"${float(x):.4f}" if isinstance(x, int | float) else "unpriced"


def report(
    run_dir: Path = typer.Argument(..., help="the --out dir of `stratos distill`"),
    as_json: bool = typer.Option(False, "--json", help="print report.json as is"),
) -> None:
    """Metrics, mode decision, data sizes, times and cost of a run."""
    path = run_dir / "report.json"
    if not path.is_file():
        raise ArtifactError(
            f"{path} not found: the run in {run_dir} has not finished. "
            f"Rerun `stratos distill --config ... --out {run_dir}` to resume it."
        )
    if as_json:
        typer.echo(path.read_text())
        return
    r = read_report(path)
    m, tr, sv, cost = r.metrics, r.training, r.serving, r.cost
    t = Table(title=f"Stratos run {run_dir}", show_header=False)
    ev = r.evaluation.student
    rows = [
        ("task / mode", f"{r.task} / {r.mode} (plan: {r.plan.mode}; probe {_pct(r.probe.get('accuracy'))} "
                        f"vs threshold {r.probe.get('threshold')}, assumed {_pct(r.plan.assumed_teacher_accuracy)})"),
        ("teacher -> student", f"{r.teacher} -> {r.student.id} ({r.student.parameters:,} params)"),
        ("student accuracy", f"{_pct(ev.accuracy)} (predicted {_pct(r.plan.predicted_accuracy)})"),
        ("teacher zero-shot", _pct(m.get("teacher_accuracy"))),
        ("evaluation mix", _pct(ev.mix_accuracy)),
        *((k.replace("_", " "), _pct(v) if "accuracy" in k else str(v)) for k, v in ev.highlights.items()),
        ("by class", ", ".join(f"{k} {_pct(v.accuracy)}" for k, v in ev.by_class.items())),
        ("training", f"{tr.steps} steps ({tr.stopped}), {tr.train_s:.0f} s, {tr.tokens_per_s:.0f} tok/s"),
        ("data", f"{r.data.train_examples} train, acceptance {_pct(r.synthesis.get('acceptance_rate'))}"),
        ("latency p50", f"student {_ms(sv.student_latency)}, teacher {_ms(sv.teacher_latency)}"),
        ("job", f"{r.times.get('job_s', 0):.0f} s, {_usd(cost.job_usd)} on {cost.train_offering or '-'} "
                f"at {_usd(cost.train_usd_per_hour)}/h"),
    ]
    curves = run_dir / tr.curves
    rows.append(("curves", f"{curves} (train and validation loss, validation accuracy per step)" if curves.is_file() else f"{curves} missing"))
    for k, v in rows:
        t.add_row(k, v)
    Console().print(t)
    Console().print(predicted_vs_measured(json.loads(path.read_text())))


def _hours(x: object) -> str:
    return f"{float(x):.3f} h" if isinstance(x, int | float) else "-"


#: Rows of the predicted-vs-measured table: (field, label, format).
_COMPARED = {
    "accuracy": ("student accuracy", _pct),
    "train_tokens": ("training tokens (rate x cap)", lambda x: f"{float(x):,.0f}" if isinstance(x, int | float) else "-"),
    "train_hours": ("job (teacher work + training)", _hours),
    "synthesis_hours": ("teacher work (probe, rationales, evaluation)", _hours),
    "latency_ms": ("latency p50", lambda x: f"{float(x):.0f} ms" if isinstance(x, int | float) else "-"),
    "job_usd": ("job cost", _usd),
}


def predicted_vs_measured(report: dict) -> Table:
    """The plan's predictions beside the run's measurements (the point the job adds to the
    calibration cache): accuracy, training time, latency, cost, and measured/predicted."""
    from stratos.calibration import COMPARED, point_of

    point = point_of(report)
    pred, meas = point["predicted"], point["measured"]
    t = Table(title="predicted (plan) vs measured (this run)")
    for col in ("", "predicted", "measured", "measured / predicted"):
        t.add_column(col)
    for key in COMPARED:
        label, fmt = _COMPARED[key]
        if key == "latency_ms" and meas.get("latency_shape"):
            label += " (engine, {:.0f}+{:.0f} tokens)".format(*meas["latency_shape"])
        p, m = pred.get(key), meas.get(key)
        shown = fmt(p)
        if key == "accuracy" and p is not None:
            shown += f" ({_pct(pred.get('accuracy_low'))}-{_pct(pred.get('accuracy_high'))}, {pred.get('accuracy_basis')})"
        ratio = f"{m / p:.2f}x" if isinstance(p, int | float) and isinstance(m, int | float) and p > 0 else "-"
        t.add_row(label, shown, fmt(m), ratio)
    return t


def _ms(lat: Latency | None) -> str:
    return f"{lat.p50_ms:.0f} ms" if lat is not None and lat.p50_ms is not None else "-"
