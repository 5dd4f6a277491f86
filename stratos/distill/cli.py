"""CLI for ``stratos distill``: run (or resume) the distillation job for a request or plan."""

from __future__ import annotations

from pathlib import Path

import typer


def distill(
    config: Path = typer.Option(..., "--config", "-c", help="plan.json | request.yaml | stacks/Pulumi.<stack>.yaml"),
    out: Path = typer.Option(..., "--out", "-o", help="run dir; rerunning with the same dir resumes"),
    log_file: Path | None = typer.Option(None, "--log-file", help="JSON-lines progress log (tailed by Pulumi)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    until: str | None = typer.Option(
        None, "--until", help="stop after a phase: 'synth' (data, probe, synthesis and the teacher's evaluation)"
    ),
    device: str | None = typer.Option(
        None, "--device",
        help="override job.device: auto (CUDA when present), cpu, cuda (under torchrun: each process's GPU), cuda:N",
    ),
    teacher_url: str | None = typer.Option(
        None, "--teacher-url",
        help="reach the plan's teacher at this OpenAI-compatible endpoint (http://host:port/v1#model), "
        "e.g. the vLLM server a GPU node starts for it; key from $STRATOS_TEACHER_API_KEY",
    ),
) -> None:
    """Synthesise data, distil a student, evaluate it, and write RUN_DIR/artifact and report.json."""
    import os

    from stratos.distill.job import run_job
    from stratos.distill.progress import JobProgress
    from stratos.distill.resolve import load_config

    if until not in (None, "synth"):
        raise typer.BadParameter(f"--until {until!r}: the only phase to stop after is 'synth'")
    if device is not None:
        from stratos.device import resolve_device

        resolve_device(device, setting="--device")  # one-line error before any work
    cfg = load_config(config)
    if device is not None:
        cfg = type(cfg).model_validate({**cfg.model_dump(), "device": device})
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports progress
    log = (log_file or out / "job.log") if main_rank else None
    with JobProgress(log, quiet=quiet or not main_rank) as progress:
        try:
            report = run_job(cfg, out, progress, until=until, teacher_url=teacher_url)
        except Exception as exc:
            progress.emit(event="error", error=f"{type(exc).__name__}: {exc}")
            raise
    if report:
        m = report["metrics"]
        typer.echo(
            f"student accuracy {m['student_accuracy']:.3f} (teacher {m['teacher_accuracy']}) "
            f"-> {out / 'artifact'}"
        )
