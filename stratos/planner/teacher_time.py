"""Seconds per teacher call on this host, measured by earlier runs: what a local plan's teacher work is priced with.

Why measured: the first-order estimate (``estimators.synthesis_estimate``: batched decode at
the CPU's bandwidth roof) knows neither the engine the job picks for the teacher on this
CPU (CTranslate2 or transformers, measured per host) nor the prompt prefix a batch shares.
On a 2-core Xeon it priced the default job's 166 SmolLM2-135M calls (probe, rationales,
zero-shot evaluation) at 52 s; the job answered them in 46 s plus 6.5 s loading the teacher
(0.28 s a call), and in 79 s the first time, when the engine's setup was measured.

Every finished job records its teacher's calls, their token cap, the seconds its teacher
phases took and the part of them spent loading the teacher (``calibration.point_of``:
``teacher_calls``, ``teacher_max_new_tokens``, ``measured.synthesis_hours``,
``teacher_load_s``). Loading is left out of a call's time: it is a few seconds once a host
has measured the engine setup it remembers (``serve.ct2_tuning``), ~30 s the first time. A
local plan with the same teacher, the same cap, on the same CPU model and thread count is
priced at their median seconds per call; with none, the estimate stands.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from stratos import calibration
from stratos.device import cpu_model


def seconds_per_call(teacher: str, threads: int, max_new_tokens: int, cpu: str | None = None,
                     path: Path | None = None, request_key: str | None = None) -> float | None:
    """Median measured seconds per call of ``teacher`` answering at most ``max_new_tokens`` tokens,
    over earlier runs on CPU model ``cpu`` (default: this host's) with ``threads`` threads, other
    than the runs of ``request_key`` (a re-plan of an unchanged stack must not move: see
    ``calibration.read_points``); None when no run measured it."""
    rates = []
    for p in calibration.cpu_runs(cpu or cpu_model(), threads, path, request_key):
        calls, hours = p.get("teacher_calls"), (p.get("measured") or {}).get("synthesis_hours")
        if (p.get("teacher"), p.get("teacher_max_new_tokens")) == (teacher, max_new_tokens) and calls and hours:
            rates.append(max(hours * 3600.0 - (p.get("teacher_load_s") or 0.0), 0.0) / calls)
    return statistics.median(rates) if rates else None


def basis_note(teacher: str, threads: int, max_new_tokens: int, path: Path | None = None,
               request_key: str | None = None) -> str | None:
    """The plan's assumption about its local teacher's time, in words (None: no run measured it)."""
    per_call = seconds_per_call(teacher, threads, max_new_tokens, path=path, request_key=request_key)
    if per_call is None:
        return None
    return (f"local teacher: {per_call:.2f} s a call of up to {max_new_tokens} tokens (probe, rationales, zero-shot "
            f"evaluation), measured by earlier runs of {teacher} on this CPU ({cpu_model()}) with {threads} threads")
