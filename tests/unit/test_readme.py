"""The README documents every stack-config key with its unit and default.

Rows are rendered from ``stratos.spec.STACK_KEYS`` (the same source as
Pulumi.yaml's schema), so a key added to the request without documentation
fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stratos.spec import STACK_KEYS

README = Path(__file__).resolve().parents[2] / "README.md"


def _default(value: Any) -> str:
    return "—" if value is None else f"`{json.dumps(value)}`"


def rows() -> list[str]:
    """One markdown table row per key, nested keys as ``parent.child``."""
    out = []
    for key in STACK_KEYS:
        subs = key.get("properties")
        if key["type"] != "object":  # a plain key, or one that is also a string (stratos:teacher)
            out.append(f"| `stratos:{key['name']}` | {key['type']} | {_default(key['default'])} | {key['description']} |")
        if subs:
            for sub in subs:
                out.append(
                    f"| `stratos:{key['name']}.{sub['name']}` | {sub['type']} | {_default(sub['default'])} | {sub['description']} |"
                )
    return out


def test_every_stack_key_is_documented():
    text = README.read_text()
    missing = [r for r in rows() if r not in text]
    assert not missing, "README's stack-config table is out of date; expected rows:\n" + "\n".join(missing)


if __name__ == "__main__":  # print the table for the README
    print("| key | type | default | meaning (unit) |\n|---|---|---|---|")
    print("\n".join(rows()))
