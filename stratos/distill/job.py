"""The distillation job, top to bottom: data -> probe -> synthesis -> the teacher's evaluation ->
student -> training -> the student's evaluation -> artifact.

``run_job`` reads as the list of phases. Every phase leaves a file in the run dir
before the next starts (datasets, ``probe.json``, ``synth.json``, checkpoints,
``eval_*.json``, ``artifact/``, ``report.json``) and ``once`` skips a phase whose
file exists, so rerunning the same command resumes; training resumes from its
latest checkpoint. Under ``torchrun`` rank 0 prepares data and evaluates; every
rank trains. The teacher is only needed up to its own evaluation, so a GPU node can
run ``until="synth"`` against a vLLM server for a hub teacher (``teacher_url``), stop
the server, and free every GPU for training.

The job runs the plan's mode: it probes the teacher in every mode (the measured
accuracy goes into the report beside the planner's assumption), but only a plan
whose mode is ``auto`` lets the probe decide.

Deterministic under ``cfg.seed``: data, splits, initialisation and batch order
all derive from it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stratos.distill.config import DistillConfig
from stratos.distill.progress import JobProgress
from stratos.distill.report import (
    DataSizes,
    Evaluations,
    RunReport,
    StudentInfo,
    Training,
    cost_section,
    headline,
    plan_check,
    serving,
)
from stratos.exceptions import ArtifactError, StratosError
from stratos.io import atomic_write_json, read_json
from stratos.metrics import Evaluation
from stratos.synth.dataset import read_jsonl, write_jsonl
from stratos.tasks.base import Example, Task

LATENCY_QUESTIONS = 10
SPLITS = ("train", "val", "test")
#: Phases a run may stop after (``stratos distill --until``): ``synth`` = everything that needs the teacher.
StopAfter = Literal["synth"]


@dataclass
class Run:
    """One job's shared state: its config, run dir, progress, task, phase times and teacher.

    ``teacher_url`` reaches the plan's teacher at an OpenAI-compatible endpoint instead of
    loading it (the config, and so the report, still name the plan's teacher)."""

    cfg: DistillConfig
    out: Path
    progress: JobProgress
    task: Task
    rank: int = 0
    world: int = 1
    times: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    teacher_url: str | None = None
    _teacher: Any = None

    @property
    def data(self) -> Path:
        return self.out / "data"

    def teacher(self) -> Any:
        """The teacher, built on first use (a resumed run that needs none never loads it)."""
        if self._teacher is None:
            t0 = time.perf_counter()
            teacher = make_job_teacher(self.cfg, self.task, self.out, self.teacher_url)
            teacher.load()
            self._teacher = teacher
            # Part of the first teacher phase's time; the planner's per-call time leaves it out.
            self.times["teacher_load_s"] = time.perf_counter() - t0
        return self._teacher


def run_job(
    cfg: DistillConfig, out_dir: str | Path, progress: JobProgress, *, until: StopAfter | None = None,
    teacher_url: str | None = None,
) -> dict[str, Any]:
    """Run (or resume, or confirm finished) the job into ``out_dir``; returns the report (rank 0).

    ``until="synth"`` stops once every phase that needs the teacher is on disk (returns ``{}``);
    ``teacher_url`` is where the teacher answers (see :class:`Run`)."""
    from stratos.distill.train import leave_group

    try:
        return _run_phases(open_run(cfg, Path(out_dir), progress, teacher_url), until)
    finally:
        leave_group()


def _run_phases(run: Run, until: StopAfter | None) -> dict[str, Any]:
    finished = finished_report(run)
    if finished is not None:
        return finished
    if run.rank == 0:
        splits = data_phase(run)
        probe = probe_phase(run, splits["val"])
        synth_phase(run, splits, decide_mode(run.cfg.mode, probe))
        teacher_eval_phase(run)  # while the teacher is reachable: a node stops its server before training
        atomic_write_json(run.out / "times.json", run.times)
    if until == "synth":
        run.progress.message(f"stopped after synthesis as asked (--until synth); data in {run.data}")
        return {}
    barrier(run.world)
    student = student_phase(run)
    result = train_phase(run, student)
    if run.rank != 0:
        return {}
    ev_student = student_eval_phase(run, student)
    return export_phase(run, student, result, ev_student, teacher_eval_phase(run))


# --- the shared rules ------------------------------------------------------------------------


def once(run: Run, name: str, done: Path, make: Callable[[], dict[str, Any] | None], **start: Any) -> None:
    """Run phase ``name`` unless ``done`` exists (a previous run finished it).

    ``make`` writes the phase's files (``done`` last) and returns the progress summary.
    """
    if done.exists():
        return
    run.progress.start(name, **start)
    t0 = time.perf_counter()
    summary = make() or {}
    run.times[f"{name}_s"] = time.perf_counter() - t0
    run.progress.done(**summary)


def decide_mode(planned: str, probe: dict[str, Any]) -> str:
    """The plan's mode; only a plan that says ``auto`` lets the probe of the teacher decide."""
    return probe["mode"] if planned == "auto" else planned


def barrier(world: int) -> None:
    """Wait for every rank (rank 0 prepares the data the others read)."""
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def make_job_teacher(cfg: DistillConfig, task: Task, out: Path, url: str | None = None) -> Any:
    """The plan's teacher, or the endpoint at ``url`` serving it (a GPU node's vLLM server): a local
    model gets the job's thread count, an API or endpoint teacher keeps the answers it paid for in
    the run dir (resumed and uploaded with it)."""
    from stratos.synth.teachers import make_teacher

    return make_teacher(
        url or cfg.teacher, task, threads=cfg.threads, device=cfg.device, cache_dir=out / "teacher_answers"
    )


# --- phases ----------------------------------------------------------------------------------


def open_run(cfg: DistillConfig, out: Path, progress: JobProgress, teacher_url: str | None = None) -> Run:
    """The run in ``out``; refuses a dir holding a run of a different config."""
    from stratos.distill.train import dist_info

    out.mkdir(parents=True, exist_ok=True)
    rank, world = dist_info()
    config = json.loads(cfg.model_dump_json())
    saved = read_json(out / "config.json")
    if saved is not None and _what_must_match(saved) != _what_must_match(config):
        raise StratosError(
            f"{out} holds a run with a different config; use a new --out dir or delete {out} to start over."
        )
    if rank == 0:
        atomic_write_json(out / "config.json", config)
    times = read_json(out / "times.json") or {}
    return Run(cfg, out, progress, cfg.load_task(), rank, world, times, teacher_url=teacher_url)


#: Settings a resumed run may change: where and how it runs, not what it computes.
RUNTIME_SETTINGS = ("device", "threads", "compile")


def _what_must_match(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in RUNTIME_SETTINGS}


def finished_report(run: Run) -> dict[str, Any] | None:
    """The report of a run that already finished with a verified artifact, else None."""
    from stratos.manifest import verify_manifest

    done = read_json(run.out / "report.json")
    if done is None or not (run.out / "artifact" / "manifest.json").is_file():
        return None
    try:
        verify_manifest(run.out / "artifact")
    except ArtifactError:
        run.progress.message("artifact failed verification: re-exporting")
        return None
    run.progress.message(f"run in {run.out} is already complete: nothing to do")
    return done


def data_phase(run: Run) -> dict[str, list[Example]]:
    """The task's train/val/test questions with known answers (no question in two splits).

    A task without references gets the teacher's majority answers as its labels
    (``labels.json`` says how many questions the teacher answered consistently)."""
    cfg = run.cfg

    def make() -> dict[str, Any]:
        splits = run.task.make_splits(cfg.n_train, cfg.n_val, cfg.n_test, cfg.seed)
        if not run.task.has_references:
            splits = label_splits(run, splits)
        for name in SPLITS:  # test last: it marks the phase done
            write_jsonl(run.data / f"{name}.jsonl", splits[name])
        return {k: len(v) for k, v in splits.items()}

    once(run, "data", run.data / "test.jsonl", make)
    splits = {k: read_jsonl(run.data / f"{k}.jsonl") for k in SPLITS}
    adopt_labels(run.task, [e for k in SPLITS for e in splits[k]])
    return splits


def label_splits(run: Run, splits: dict[str, list[Example]]) -> dict[str, list[Example]]:
    """Every split labelled by the teacher's majority over ``samples_per_question`` samples."""
    from stratos.synth.labels import teacher_labels

    cfg, out, stats = run.cfg, {}, {}
    for name in SPLITS:
        out[name], stats[name] = teacher_labels(
            run.teacher(), run.task, splits[name], k=max(cfg.samples_per_question, 3),
            max_new_tokens=cfg.teacher_max_new_tokens, seed=cfg.seed,
        )
        if not out[name]:
            raise StratosError(
                f"the teacher {cfg.teacher} agreed with itself on none of the {len(splits[name])} {name} questions "
                "(majority over samples); use a stronger teacher or give reference answers (task.answer_field)"
            )
    atomic_write_json(run.out / "labels.json", stats)
    return out


def adopt_labels(task: Task, examples: list[Example]) -> None:
    """A task without references takes the run's teacher labels as its references."""
    if not task.has_references:
        task.adopt_labels(examples)


def probe_phase(run: Run, val: list[Example]) -> dict[str, Any]:
    """The teacher's accuracy on validation questions, and the mode that accuracy suggests."""
    from stratos.synth.probe import probe_teacher

    cfg = run.cfg

    def make() -> dict[str, Any]:
        res = probe_teacher(
            run.teacher(), run.task, val[: cfg.probe_questions], cfg.probe_threshold,
            max_new_tokens=cfg.teacher_max_new_tokens,
        )
        atomic_write_json(run.out / "probe.json", {**res.to_dict(), "configured_mode": cfg.mode})
        return {"accuracy": res.accuracy, "mode": res.mode}

    once(run, "probe", run.out / "probe.json", make, teacher=cfg.teacher)
    return read_json(run.out / "probe.json")


def synth_phase(run: Run, splits: dict[str, list[Example]], mode: str) -> None:
    """Verified training data for ``mode``: ``data/train_synth.jsonl`` and ``synth.json``."""

    def make() -> dict[str, Any]:
        rows, stats = synthesise(run, splits, mode)
        if not rows:
            raise StratosError(
                f"synthesis kept no training examples in {mode} mode (teacher {run.cfg.teacher}); "
                "use a stronger teacher or mode 'injection'."
            )
        atomic_write_json(run.out / "synth.json", {**stats, "mode": mode})
        write_jsonl(run.data / "train_synth.jsonl", rows)
        return {k: v for k, v in stats.items() if isinstance(v, int | float)}

    once(run, "synth", run.data / "train_synth.jsonl", make, mode=mode)


def synthesise(run: Run, splits: dict[str, list[Example]], mode: str) -> tuple[list[Example], dict[str, Any]]:
    """Alignment: the teacher's verified answers to fresh forward questions; injection: the
    task's verified questions with rule knowledge and (a budget of) teacher rationales."""
    cfg, task = run.cfg, run.task
    if mode == "alignment":
        from stratos.synth.alignment import align

        exclude = {e.question for e in splits["val"] + splits["test"]}
        return align(
            run.teacher(), task, forward_questions(task, cfg, exclude), samples_per_question=cfg.samples_per_question,
            max_new_tokens=cfg.teacher_max_new_tokens, seed=cfg.seed,
        )
    from stratos.synth.injection import inject

    return inject(
        run.teacher(), task, splits["train"], rationale_budget=cfg.rationale_budget, style=cfg.target_style,
        knowledge_examples=cfg.knowledge_examples, max_new_tokens=cfg.teacher_max_new_tokens * 2,
    )


def forward_questions(task: Task, cfg: DistillConfig, exclude: set[str]) -> list[Example]:
    """Forward-sampled questions (no known answers needed) for alignment, disjoint from val/test."""
    out = [e for e in task.generate(cfg.n_train * 2, seed=cfg.seed + 7, mode="forward") if e.question not in exclude]
    return out[: cfg.n_train]


@dataclass
class Student:
    """The model being trained and what it is trained and judged on."""

    model: Any
    tokenizer: Any
    blocks: Any
    val_blocks: Any
    kd_teacher: Any
    rows: list[Example]
    val: list[Example]
    test: list[Example]
    mode: str
    max_new_tokens: int  # decode budget: the longest training completion + 8


def student_phase(run: Run) -> Student:
    """The student (from scratch or LoRA) and its packed training data, built on every rank."""
    from stratos.distill.training_data import build_student_and_blocks

    cfg, t0 = run.cfg, time.perf_counter()
    rows = read_jsonl(run.data / "train_synth.jsonl")
    val, test = (read_jsonl(run.data / f"{k}.jsonl") for k in ("val", "test"))
    adopt_labels(run.task, val + test)
    mode = read_json(run.out / "synth.json")["mode"]
    model, tokenizer, blocks, val_blocks, kd = build_student_and_blocks(run.task, cfg, rows, val, run.out, mode)
    max_new = min(cfg.eval_max_new_tokens, longest_completion(tokenizer, run.task, rows, cfg) + 8)
    run.times["student_s"] = time.perf_counter() - t0
    return Student(model, tokenizer, blocks, val_blocks, kd, rows, val, test, mode, max_new)


def train_phase(run: Run, s: Student) -> Any:
    """Train (resuming from ``ckpt/``), validating on decoded answers when ``eval_samples`` > 0."""
    from stratos.distill.evaluation import evaluate_engine
    from stratos.distill.train import train
    from stratos.serve.engines import engine_for_model

    cfg = run.cfg
    val_q = s.val[: cfg.eval_samples]

    def val_accuracy(m: Any) -> float:
        eng = engine_for_model(m, s.tokenizer, name="student", threads=run.cfg.threads)
        return evaluate_engine(eng, run.task, val_q, max_new_tokens=s.max_new_tokens).accuracy if val_q else 0.0

    run.progress.start("train", steps=cfg.max_steps)
    result = train(
        s.model, s.blocks, s.val_blocks, cfg, run.out / "ckpt",
        evaluate=val_accuracy if cfg.eval_samples else None, teacher_model=s.kd_teacher,
        progress=lambda rec: on_step(run, rec),
    )
    if result.model is not None:  # a sharded run: rank 0 evaluates and exports the gathered weights
        s.model = result.model
    run.progress.done(steps=result.steps, stopped=result.stopped)
    run.times["train_s"] = result.train_seconds
    return result


def on_step(run: Run, rec: dict[str, Any]) -> None:
    """Progress of one training step; at the first step-budget fit, the host check's line."""
    run.progress.update(rec["progress"], **{k: v for k, v in rec.items() if k != "progress"})
    if "fit_tokens_per_s" in rec:
        run.progress.message(host_check(run.cfg, rec["fit_tokens_per_s"]))


def host_check(cfg: DistillConfig, measured_tps: float) -> str:
    """This host's measured training rate beside what the plan assumed (its predicted tokens over the time cap)."""
    cap_s = cfg.max_train_minutes * 60
    line = (f"host check: {measured_tps:,.0f} training tokens/s measured in the first steps ({cfg.threads} threads): "
            f"about {measured_tps * cap_s:,.0f} tokens in the {cfg.max_train_minutes:g}-min cap")
    planned = cfg.planned.train_tokens if cfg.planned is not None else None
    if planned:
        line += f"; the plan predicted {planned:,.0f} (or fewer where its data or a FLOPs cap binds)"
    return line + ("; the run's point teaches other requests' plans this host's rate (this one's re-plan stays "
                   "the plan it ran: stratos.planner.host_rate)")


def student_eval_phase(run: Run, s: Student) -> Evaluation:
    """The student on the held-out test split: scores, then latency one question at a time."""
    from stratos.distill.evaluation import evaluate_engine, latency
    from stratos.serve.engines import engine_for_model

    path = run.out / "eval_student.json"

    def make() -> dict[str, Any]:
        eng = engine_for_model(s.model, s.tokenizer, name="student", threads=run.cfg.threads)
        ev = evaluate_engine(eng, run.task, s.test, max_new_tokens=s.max_new_tokens)
        lat = latency(eng, run.task, [e.question for e in s.test[:LATENCY_QUESTIONS]], max_new_tokens=s.max_new_tokens)
        atomic_write_json(path, ev.model_copy(update={"latency": lat}).model_dump(mode="json"))
        return {"accuracy": ev.accuracy}

    once(run, "eval", path, make)
    return Evaluation.model_validate(read_json(path))


def teacher_eval_phase(run: Run) -> Evaluation | None:
    """The teacher zero-shot on (a prefix of) the same test split, when ``teacher_eval``.

    Runs right after synthesis (the last phase that needs the teacher); the report reads it back."""
    if not run.cfg.teacher_eval:
        return None
    path = run.out / "eval_teacher.json"
    test = read_jsonl(run.data / "test.jsonl")[: run.cfg.teacher_eval_questions]

    def make() -> dict[str, Any]:
        ev = teacher_eval(run.teacher(), run.task, test, run.cfg)
        atomic_write_json(path, ev.model_dump(mode="json"))
        return {"accuracy": ev.accuracy}

    once(run, "eval_teacher", path, make, teacher=run.cfg.teacher)
    return Evaluation.model_validate(read_json(path))


def teacher_eval(teacher: Any, task: Task, test: list[Example], cfg: DistillConfig) -> Evaluation:
    """The teacher's zero-shot scores on ``test`` (and its per-question latency when local)."""
    from stratos.distill.evaluation import latency
    from stratos.metrics import score_examples
    from stratos.synth.probe import ask

    texts = [t[0] for t in ask(teacher, task, [e.question for e in test], max_new_tokens=cfg.teacher_max_new_tokens)]
    scores = score_examples(task, test, [task.parse_answer(t) for t in texts])
    samples = [{"question": e.question, "output": t[-300:]} for e, t in list(zip(test, texts, strict=True))[:3]]
    engine = getattr(teacher, "engine", None)  # local teachers expose their engine; API teachers have none
    lat = None
    if engine is not None:
        lat = latency(engine, task, [e.question for e in test[:LATENCY_QUESTIONS]], max_new_tokens=cfg.teacher_max_new_tokens)
    return Evaluation(**scores.model_dump(), latency=lat, samples=samples)


def export_phase(run: Run, s: Student, result: Any, ev_s: Evaluation, ev_t: Evaluation | None) -> dict[str, Any]:
    """The artifact (merged weights, tokenizer, card, manifest), the curves and ``report.json``."""
    from stratos.calibration import record_run
    from stratos.distill.export import export_artifact
    from stratos.distill.hf_dataset import export_run_dataset
    from stratos.distill.report import plot_curves, write_report

    run.progress.start("export")
    run.times["job_s"] = time.perf_counter() - run.started
    report = build_report(run, s, result, ev_s, ev_t)
    plot_curves(result.history, run.out / "curves.png")
    export_artifact(s.model, s.tokenizer, run.out / "artifact", model_card_facts(report, s, run.task), max_new_tokens=s.max_new_tokens)
    export_run_dataset(run.out)  # the data in TRL's `messages` format + dataset card, for the Hub
    write_report(run.out, report)
    record_run(report.model_dump(mode="json"))  # the next plan's calibration point
    run.progress.done(accuracy=ev_s.accuracy)
    return report.model_dump(mode="json")


def longest_completion(tokenizer: Any, task: Task, rows: list[Example], cfg: DistillConfig) -> int:
    """Tokens in the longest training completion (of the first 3000): the decode budget."""
    from stratos.distill.training_data import prompt_target

    lens = [
        len(tokenizer(prompt_target(task, e, cfg.target_style)[1], add_special_tokens=False)["input_ids"]) + 1
        for e in rows[:3000]
        if e.source != "knowledge"
    ]
    return max(lens, default=64)


# --- the report --------------------------------------------------------------------------------


def build_report(run: Run, s: Student, result: Any, ev_s: Evaluation, ev_t: Evaluation | None) -> RunReport:
    """Everything a reader of the run wants, in one validated object."""
    cfg = run.cfg
    return RunReport(
        task=cfg.task, teacher=cfg.teacher,
        student=StudentInfo(id=cfg.student, parameters=sum(p.numel() for p in s.model.parameters()),
                            lora=hasattr(s.model, "peft_config")),
        mode=s.mode, plan=plan_check(cfg), probe=read_json(run.out / "probe.json"),
        synthesis=read_json(run.out / "synth.json"),
        data=DataSizes(train_examples=len(s.rows), val=cfg.n_val, test=len(s.test), train_tokens=result.tokens,
                       test_classes=run.task.class_counts(s.test)),
        metrics=headline(cfg, ev_s, ev_t),
        evaluation=Evaluations(student=ev_s, teacher=ev_t),
        training=Training(steps=result.steps, planned_steps=result.total_steps, stopped=result.stopped,
                          best_val=result.best_val, train_s=result.train_seconds, tokens_per_s=result.tokens_per_s,
                          fit_tokens_per_s=result.fit_tokens_per_s,
                          flops=result.flops, max_flops=cfg.max_train_flops, logit_kd=s.kd_teacher is not None),
        serving=serving(cfg, ev_s, ev_t), times=run.times, cost=cost_section(cfg, run.times.get("job_s", 0.0)),
        hardware=hardware_line(cfg, run.world),
        config=json.loads(cfg.model_dump_json()),
    )


def hardware_line(cfg: DistillConfig, world: int) -> str:
    """Where the student trained: the GPU and process count, or the CPU and its threads."""
    from stratos.device import resolve_device

    dev = resolve_device(cfg.device, setting="job.device")
    if dev != "cpu":
        import torch

        return f"{torch.cuda.get_device_name(dev)} x {world} process(es)"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, torch threads {cfg.threads}"


def model_card_facts(report: RunReport, s: Student, task: Task) -> dict[str, Any]:
    """What the artifact's model card and ``stratos.json`` say about the run."""
    return {
        "task": report.task, "teacher": report.teacher, "student": report.student.id, "mode": report.mode,
        "parameters": report.student.parameters, "metrics": report.metrics, "data": report.data.model_dump(),
        "hardware": report.hardware, "wall_s": report.times.get("job_s"), "cost_usd": report.cost.job_usd,
        "priced_as": report.cost.train_offering, "seed": report.config["seed"], "max_new_tokens": s.max_new_tokens,
        "table": {k.replace("_", " "): v for k, v in report.evaluation.student.highlights.items()},
        "example_prompt": task.prompt(s.test[0].question) if s.test else None,  # the card's usage snippet
    }


__all__ = ["run_job", "decide_mode"]
