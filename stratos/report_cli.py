"""CLI for ``stratos report RUN_DIR``: summarise a finished distillation run."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from stratos.exceptions import ArtifactError


def _pct(x: object) -> str:
    return f"{100 * float(x):.1f}%" if isinstance(x, int | float) else "-"


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
    r = json.loads(path.read_text())
    if as_json:
        typer.echo(json.dumps(r, indent=2))
        return
    m, tr, sv = r["metrics"], r["training"], r["serving"]
    t = Table(title=f"Stratos run {run_dir}", show_header=False)
    rows = [
        ("task / mode", f"{r['task']} / {r['mode']} (probe {_pct(r['probe']['accuracy'])} vs threshold {r['probe']['threshold']})"),
        ("teacher -> student", f"{r['teacher']} -> {r['student']['id']} ({r['student']['parameters']:,} params)"),
        ("student accuracy", _pct(m["student_accuracy"])),
        ("teacher zero-shot", _pct(m["teacher_accuracy"])),
        ("single-suit", _pct(m.get("single_suit_accuracy"))),
        ("4+ answers", _pct(m.get("four_plus_accuracy"))),
        ("by difficulty", ", ".join(f"{k} {_pct(v['accuracy'])}" for k, v in (m.get("by_difficulty") or {}).items())),
        ("training", f"{tr['steps']} steps ({tr['stopped']}), {tr['train_s']:.0f} s, {tr['tokens_per_s']:.0f} tok/s"),
        ("data", f"{r['data']['train_examples']} train, acceptance {_pct(r['synthesis'].get('acceptance_rate'))}"),
        ("latency p50", f"student {sv['student_p50_s']:.3f} s, teacher {sv['teacher_p50_s'] or 0:.3f} s"),
        ("job", f"{r['times'].get('job_s', 0):.0f} s, ${r['cost']['job_usd']:.4f}"),
    ]
    curves = run_dir / tr.get("curves", "curves.png")
    rows.append(("curves", f"{curves} (train and validation loss, validation accuracy per step)" if curves.is_file() else f"{curves} missing"))
    for k, v in rows:
        t.add_row(k, v)
    Console().print(t)
