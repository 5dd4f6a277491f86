"""The Stratos Pulumi program: stack config -> request -> plan -> ``infra.program.build``.

``pulumi preview`` runs everything up to registering resources, so it prints the
plan and its estimated cost without running a job (the providers' ``create`` is
never called in a preview). This module only reads and plans; config is read in
``infra/config.py``, the wiring is ``infra/program.py`` (which the mock tests call too).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The engine runs this file with infra/ as the program dir; the package imports need the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pulumi  # noqa: E402

from infra.config import load_settings  # noqa: E402
from infra.program import build  # noqa: E402
from stratos.exceptions import StratosError  # noqa: E402
from stratos.planner import make_plan  # noqa: E402

try:
    settings = load_settings()
    result = make_plan(settings.request)
    plan = result.chosen
    deployment = build(settings, plan, result.to_json().get("pareto"))
except StratosError as exc:
    # A RunError is reported as a plain error message, without a Python traceback.
    raise pulumi.RunError(str(exc)) from None

job, endpoint = deployment.job, deployment.endpoint
