"""SIGTERM during training: checkpoint at the next step boundary, then exit 143.

Why: a spot VM gets a short notice before it is reclaimed (AWS: 2 minutes, through
the metadata service; GCP: 30 s, an ACPI shutdown); the node's watcher
(``infra/bootstrap/templates/preempt.sh``) turns that notice into a SIGTERM to the
job, and systemd sends one at shutdown. Killed mid-step, the job would lose
everything since the last periodic checkpoint; stopping at the step boundary keeps
the optimizer, scheduler and RNG state consistent, so the restarted node resumes
at exactly that step. Outside the training loop SIGTERM keeps its default action
(every other phase either skips when its output exists or is cheap to redo).

The training loop calls :func:`defer` before its first step, :func:`requested`
once per step (rank 0's answer is broadcast, so every rank stops at the same step),
:func:`exit_now` after the checkpoint, and :func:`restore` when it returns.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, NoReturn

#: What a shell reports for a process ended by SIGTERM (128 + 15): the node script treats
#: it as an interruption (save and power off), not as a failed job.
EXIT_CODE = 143

_state: dict[str, Any] = {"requested": False, "previous": None}


def _on_term(signum: int, frame: Any) -> None:
    _state["requested"] = True


def defer() -> None:
    """From now on SIGTERM only asks the loop to stop at the next step boundary."""
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers belong to the main thread; elsewhere SIGTERM keeps its default
    _state["requested"] = False
    _state["previous"] = signal.signal(signal.SIGTERM, _on_term)


def requested() -> bool:
    """Whether a SIGTERM arrived since :func:`defer`."""
    return bool(_state["requested"])


def exit_now(step: int) -> NoReturn:
    """Leave the job after the step-``step`` checkpoint was written."""
    print(f"[stratos] SIGTERM: checkpoint at step {step} saved; exiting {EXIT_CODE}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_CODE)


def restore() -> None:
    """Give SIGTERM its previous action back; a request that came after the last step exits now
    (the final checkpoint is written by then)."""
    previous, _state["previous"] = _state["previous"], None
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
    if _state["requested"]:
        _state["requested"] = False
        raise SystemExit(EXIT_CODE)
