"""Read ``--config``: a Plan JSON, a DistillConfig JSON, a request YAML or a Pulumi stack YAML.

Plans come from the planner (``stratos plan --json``'s ``chosen``, or the file
the Pulumi program writes); request and stack files are planned here first, so
``stratos distill --config stacks/Pulumi.local.yaml`` does what ``pulumi up`` would.
A JSON object whose keys are DistillConfig fields is taken as-is (tests, power users).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stratos.distill.config import DistillConfig
from stratos.exceptions import ConfigError


def load_config(path: str | Path, **overrides: Any) -> DistillConfig:
    """The job's config from ``path`` (see module docstring); ``overrides`` replace fields (benchmarks)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass a plan JSON, request YAML or stack YAML.")
    if path.suffix == ".json":
        body = json.loads(path.read_text())
        if "chosen" in body:  # `stratos plan --json` output
            body = body["chosen"]
        if set(body) <= set(DistillConfig.model_fields):
            try:
                return DistillConfig(**{**body, **overrides})
            except ValidationError as exc:
                raise ConfigError(f"{path} is not a valid DistillConfig: {exc}") from None
        from stratos.planner.plan import Plan

        try:
            plan = Plan.model_validate(body)
        except ValueError as exc:
            raise ConfigError(f"{path} is neither a Plan nor a DistillConfig: {exc}") from exc
        return DistillConfig.for_plan(plan, **overrides)
    from stratos.planner import make_plan
    from stratos.spec import load_request

    return DistillConfig.for_plan(make_plan(load_request(path)).chosen, **overrides)


def student_source(student: str) -> str:
    """What ``from_pretrained`` should load for a pretrained student zoo id (or the id itself)."""
    try:
        from stratos.zoo import get_model

        m = get_model(student)
    except Exception:  # noqa: BLE001 - a path or hub id
        return student
    kind, _, rest = m.source.partition(":")
    return (m.hf_id or rest) if kind == "pypi-gguf" else rest if kind == "hub" else student
