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

from stratos.distill.config import DistillConfig
from stratos.distill.student import ScratchArch
from stratos.exceptions import ConfigError


def load_config(path: str | Path, **overrides: Any) -> DistillConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass a plan JSON, request YAML or stack YAML.")
    if path.suffix == ".json":
        body = json.loads(path.read_text())
        if "chosen" in body:  # `stratos plan --json` output
            body = body["chosen"]
        if set(body) <= set(DistillConfig.model_fields):
            return DistillConfig(**{**body, **overrides})
        from stratos.planner.plan import Plan

        try:
            plan = Plan.model_validate(body)
        except ValueError as exc:
            raise ConfigError(f"{path} is neither a Plan nor a DistillConfig: {exc}") from exc
        return config_for_plan(plan, **overrides)
    try:
        from stratos.planner import make_plan  # type: ignore[attr-defined]
        from stratos.spec import load_request
    except ImportError as exc:  # pragma: no cover - while the planner is being built
        raise ConfigError(f"planning {path} needs stratos.planner.make_plan ({exc}); pass a plan JSON instead.") from exc
    result = make_plan(load_request(path))
    return config_for_plan(result.chosen, **overrides)


def config_for_plan(plan: Any, **overrides: Any) -> DistillConfig:
    """DistillConfig for a Plan, taking a scratch student's shape from the model zoo."""
    extra: dict[str, Any] = {}
    if str(plan.student).startswith("scratch"):
        try:
            from stratos.zoo import get_model

            m = get_model(plan.student)
            if plan.job.profile != "fast":
                extra["scratch"] = ScratchArch(
                    hidden_size=m.hidden, num_layers=m.layers, num_heads=m.heads,
                    num_kv_heads=m.kv_heads or m.heads, intermediate_size=m.intermediate or 4 * m.hidden,
                    max_positions=m.context,
                )
        except Exception:  # noqa: BLE001 - unknown scratch ids use the default shape
            pass
    return DistillConfig.for_plan(plan, **{**extra, **overrides})


def student_source(student: str) -> str:
    """What ``from_pretrained`` should load for a pretrained student zoo id (or the id itself)."""
    try:
        from stratos.zoo import get_model

        m = get_model(student)
    except Exception:  # noqa: BLE001 - a path or hub id
        return student
    kind, _, rest = m.source.partition(":")
    return (m.hf_id or rest) if kind == "pypi-gguf" else rest if kind == "hub" else student
