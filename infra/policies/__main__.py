"""The Stratos policy pack: every rule in ``rules.py`` as a mandatory stack policy.

Run it with the official CLI::

    pulumi preview --stack mahjong-aws --policy-pack infra/policies

A stack policy sees every resource at once, which the rules need (a bucket and
its public access block are separate resources; the plan and the instances too).
Constructing the ``PolicyPack`` serves the analyzer protocol until the engine is done.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The analyzer runs this file with infra/policies as its working dir.
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# The official CLI's analyzer runs the venv's Python, which lacks pulumi-policy
# (it pins protobuf 5; scripts/build_pulumi.sh lays it out beside the venv).
sys.path.append(str(ROOT / ".tools" / "pulumi" / "pulumi-policy"))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policies.adapter import to_res  # noqa: E402
from infra.policies.rules import RULES  # noqa: E402


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
