"""Tags/labels the cloud backends put on every GPU instance so the policy pack can
check them: the node's role and the plan's cost against the request's budget.

Money is written in whole cents because GCP label values may not contain '.'; the
same keys and format on AWS keep one reader for both clouds.
"""

from __future__ import annotations

import re

ROLE = "stratos-role"
STACK = "stratos-stack"
ESTIMATED_CENTS = "stratos-estimated-total-cents"
BUDGET_CENTS = "stratos-budget-cents"
#: AWS only: the ID of the availability zone the instance was placed in (the plan names
#: zones by ID, which map to different zone names in different accounts).
ZONE_ID = "stratos-zone-id"


def label_value(text: str) -> str:
    """A string as a valid GCP label value (lowercase, digits, '-', '_', at most 63)."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def cost_tags(role: str, stack: str, estimated_total_usd: float, budget_usd: float | None) -> dict[str, str]:
    """The tags for one instance; ``budget_usd`` None means the request set no budget."""
    tags = {
        ROLE: role,
        STACK: label_value(stack),
        ESTIMATED_CENTS: str(round(estimated_total_usd * 100)),
    }
    if budget_usd is not None:
        tags[BUDGET_CENTS] = str(round(budget_usd * 100))
    return tags
