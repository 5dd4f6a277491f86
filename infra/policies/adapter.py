"""Turn what the policy SDK hands a stack policy into the rules' plain ``Res`` values.

The SDK wraps properties in proxies that unwrap secrets and raise on values unknown
during a preview; the rules want plain dicts, with unknowns as ``rules.UNKNOWN`` (so a
rule reports what it could not see instead of reading it as absent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError, _is_unknown
from pulumi_policy.secret import Secret

from infra.policies.rules import UNKNOWN, Res


def plain(value: Any) -> Any:
    """A policy SDK property value as plain dicts/lists: secrets unwrapped, unknowns ``UNKNOWN``."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {k: _read(value, k) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_read(value, i) for i in range(len(value))]
    return UNKNOWN if _is_unknown(value) else value


def _read(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return UNKNOWN


def to_res(r: Any) -> Res:
    """A ``PolicyResource`` as a ``Res`` (property dependencies as URNs)."""
    deps = {k: [d.urn for d in v] for k, v in (getattr(r, "property_dependencies", None) or {}).items()}
    return Res(type=r.resource_type, urn=r.urn, props=plain(r.props), deps=deps)
