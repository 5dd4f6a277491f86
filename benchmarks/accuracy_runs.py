"""Calibration runs for the planner's accuracy model: short, real, time-capped Mahjong jobs across
student sizes, time caps and two host speeds, each appended as a measured row to
``stratos/planner/data/accuracy_calibration.csv`` (its ``tag`` column names the run).

    source scripts/env.sh offline
    flock -x /work/coord/cpu.lock python benchmarks/accuracy_runs.py --out runs/calib            # all of RUNS
    python benchmarks/accuracy_runs.py --out runs/calib --only c01 --per-class 10 --no-record   # one, tiny

Why time caps rather than FLOPs budgets: the planner prices a local job by its time cap and the
host's step rate, so these runs test both the accuracy model and the tokens it is fed. A second
host speed is made with 1 torch thread instead of 2; two 1-thread runs share the 2 cores at once
(each on its own core), so the 1-thread rows cost half the wall time. Each run goes through
``benchmarks/distill_bench.py`` (the whole job: data, rule-engine rationales, training to the cap,
evaluation on ``--per-class`` held-out questions of each of the task's four classes).

The data (seed 0, the default sizes) is the same for every run: the first run makes it, the others
start from a copy of its ``data/``, ``probe.json`` and ``synth.json`` (the job skips phases whose
files exist), so a run's wall time is its training, compiling and evaluation.

``python benchmarks/planner_calibrate.py --accuracy`` then checks the model's band on these rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "stratos" / "planner" / "data" / "accuracy_calibration.csv"
BENCH = ROOT / "benchmarks" / "distill_bench.py"
#: The data phases a later run copies from the first one (the job's ``once`` skips them).
SHARED = ("data", "probe.json", "synth.json")


@dataclass(frozen=True)
class CalRun:
    tag: str
    student: str
    threads: int
    minutes: float


#: Groups run one after another; the runs of a group run at the same time (1-thread pairs).
RUNS: tuple[tuple[CalRun, ...], ...] = (
    (CalRun("c01", "scratch-llama-3m", 2, 2.0),),
    (CalRun("c02", "scratch-llama-1m", 2, 2.0),),
    (CalRun("c03", "scratch-llama-10m", 2, 3.0),),
    (CalRun("c04", "scratch-llama-3m", 1, 2.0), CalRun("c05", "scratch-llama-1m", 1, 2.0)),
    (CalRun("c06", "scratch-llama-10m", 1, 3.0), CalRun("c07", "scratch-llama-3m", 1, 4.0)),
    (CalRun("c08", "scratch-llama-3m", 2, 6.0),),
    (CalRun("c09", "scratch-llama-3m", 1, 6.0), CalRun("c10", "scratch-llama-1m", 1, 6.0)),
    (CalRun("c11", "scratch-llama-1m", 2, 6.0),),
    (CalRun("c12", "scratch-llama-3m", 2, 10.0),),
)
#: Wall time a run takes besides its training (start, tokenising the data, evaluation, export), min.
OVERHEAD_MIN = 2.0
#: Job settings of every calibration run: eager steps (compiling costs 30-60 s of a 2-4 minute cap
#: on this host, where eager bf16 steps are about as fast as compiled ones, see issue 23).
SETTINGS = ("compile=false",)


def command(r: CalRun, out: Path, per_class: int) -> list[str]:
    sets = [a for s in (f"student={r.student}", *SETTINGS) for a in ("--set", s)]
    return [sys.executable, str(BENCH), "--out", str(out / r.tag), "--minutes", str(r.minutes),
            "--threads", str(r.threads), "--per-class", str(per_class), "--tag", r.tag, *sets]


def seed_data(src: Path | None, dst: Path) -> None:
    """Start ``dst``'s job from ``src``'s data phases (same seed and sizes, so the same files)."""
    if src is None:
        return
    for name in SHARED:
        s, d = src / name, dst / name
        if d.exists() or not s.exists():
            continue
        shutil.copytree(s, d) if s.is_dir() else shutil.copy2(s, d)


def run_group(group: tuple[CalRun, ...], out: Path, per_class: int, template: Path | None) -> list[dict]:
    """Start the group's runs together, wait for all; their bench rows."""
    procs = []
    for r in group:
        run_dir = out / r.tag / f"budget-{r.tag}"
        run_dir.mkdir(parents=True, exist_ok=True)
        seed_data(template, run_dir)
        log = (out / f"{r.tag}.log").open("w")
        procs.append((r, subprocess.Popen(command(r, out, per_class), stdout=log, stderr=subprocess.STDOUT,
                                          env=run_env(r.threads, out)), log))
    rows = []
    for r, p, log in procs:
        rc = p.wait()
        log.close()
        if rc != 0:
            print(f"[{r.tag}] FAILED (exit {rc}); see {out / f'{r.tag}.log'}")
            continue
        rows.append(json.loads((out / r.tag / "bench.json").read_text())["budget"][r.tag])
    return rows


def run_env(threads: int, out: Path) -> dict[str, str]:
    """The run's threads, and its calibration point kept in ``out`` (its row goes to the CSV instead,
    so a plan never counts it twice)."""
    import os

    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "STRATOS_CALIBRATION": str(out / "calibration.jsonl")}


def csv_row(row: dict, per_class: int, parallel: int) -> dict[str, str]:
    """The measured row the accuracy model fits (``stratos.planner.accuracy.read_points`` columns)."""
    by_class = " ".join(f"{k} {v:.3f}" for k, v in row["by_class"].items())
    shared = f"; ran beside {parallel - 1} other 1-thread run" if parallel > 1 else ""
    return {
        "task": "mahjong", "student_params": f"{row['parameters']:.4g}", "train_tokens": f"{row['tokens']:.4g}",
        "mode": "injection", "teacher_coverage": "0.0", "accuracy": f"{row['mix_accuracy']:.4f}", "measured": "1",
        "source": (f"benchmarks/accuracy_runs.py (issue 16) {datetime.now(UTC):%Y-%m-%d}: {row['student']} "
                   f"{row['max_train_minutes']:g}-min cap x {row['threads']} threads, {row['steps']} steps, stopped by "
                   f"{row['stopped']}; {' '.join(SETTINGS)}; 4-class mix (1/4 each) n={per_class} per class: "
                   f"{by_class}{shared}"),
        "hardware": "cpu", "teacher_share": "0", "teacher_acceptance": "1", "tag": row["tag"],
        "threads": str(row["threads"]), "tokens_per_s": f"{row['tokens_per_s']:.0f}", "cpu_model": row["cpu"],
        "train_minutes": f"{row['max_train_minutes']:g}",
    }


def append_rows(rows: list[dict[str, str]], path: Path = CSV) -> None:
    """Append ``rows`` under the CSV's header (its columns, in its order)."""
    with path.open() as f:
        header = next(line for line in f if not line.startswith("#")).strip().split(",")
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        for r in rows:
            w.writerow(r)


def fits_before(until: str, minutes: float) -> bool:
    """Whether ``minutes`` from now ends before ``until`` (HH:MM UTC, today)."""
    now = datetime.now(UTC)
    hh, mm = (int(x) for x in until.split(":"))
    return now.timestamp() + minutes * 60 <= now.replace(hour=hh, minute=mm, second=0).timestamp()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "calib")
    ap.add_argument("--per-class", type=int, default=50, help="held-out questions per class (4 classes)")
    ap.add_argument("--until", help="UTC time HH:MM: skip a group that would not end by then (its cap + overhead)")
    ap.add_argument("--only", action="append", help="run only these tags")
    ap.add_argument("--data-from", type=Path, help="an earlier run dir whose data phases the runs start from")
    ap.add_argument("--no-record", action="store_true", help="do not append rows to the calibration CSV")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    template = args.data_from
    for group in RUNS:
        group = tuple(r for r in group if not args.only or r.tag in args.only)
        if not group:
            continue
        if args.until and not fits_before(args.until, max(r.minutes for r in group) + OVERHEAD_MIN):
            print(f"skipped {[r.tag for r in group]}: would end after {args.until} UTC", flush=True)
            continue
        t0 = time.perf_counter()
        rows = run_group(group, args.out, args.per_class, template)
        for row in rows:
            print(f"[{row['tag']}] {row['student']} x{row['threads']} {row['max_train_minutes']:g} min: "
                  f"{row['tokens']:,} tokens at {row['tokens_per_s']:.0f} tok/s, mix {row['mix_accuracy']:.3f} "
                  f"{row['by_class']} (group {time.perf_counter() - t0:.0f} s)", flush=True)
        if not args.no_record:
            append_rows([csv_row(r, args.per_class, len(group)) for r in rows])
        if template is None and rows:
            template = args.out / rows[0]["tag"] / f"budget-{rows[0]['tag']}"


if __name__ == "__main__":
    main()
