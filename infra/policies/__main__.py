"""The Stratos policy pack: every rule in ``rules.py`` as a mandatory stack policy.

Run it with the official CLI::

    pulumi preview --stack mahjong-aws --policy-pack infra/policies

A stack policy sees every resource at once, which the rules need (a bucket and
its public access block are separate resources; the plan and the instances too).
During a preview some values are unknown; they reach the rules as ``None``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The analyzer runs this file with infra/policies as its working dir.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, _is_unknown  # noqa: E402
from pulumi_policy.secret import Secret  # noqa: E402

from infra.policies.rules import RULES, Res  # noqa: E402


def plain(value: Any) -> Any:
    """A policy SDK property value as plain dicts/lists: secrets unwrapped, and values
    unknown during a preview as None (the SDK raises when they are read)."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {k: _read(value, k) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_read(value, i) for i in range(len(value))]
    return None if _is_unknown(value) else value


def _read(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return None


def to_res(r: Any) -> Res:
    deps = {k: [d.urn for d in v] for k, v in (getattr(r, "property_dependencies", None) or {}).items()}
    return Res(type=r.resource_type, urn=r.urn, props=plain(r.props), deps=deps)


def _policy(name: str, description: str, rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule([to_res(r) for r in args.resources]):
            report_violation(message)

    return StackValidationPolicy(
        name=name, description=description, enforcement_level=EnforcementLevel.MANDATORY, validate=validate
    )


PolicyPack(
    name="stratos",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_policy(name, description, rule) for name, (description, rule) in RULES.items()],
)
