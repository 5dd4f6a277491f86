"""Target name -> backend. Adding a cloud is adding a module and one line here.

Modules are imported lazily, so the ``local`` target never imports ``pulumi_aws``
or ``pulumi_gcp`` (slow to import, and not needed on this machine).
"""

from __future__ import annotations

import importlib

from infra.backends.base import Backend
from stratos.exceptions import UnknownNameError

#: target -> "module:attribute" of a zero-argument factory returning a ``Backend``.
REGISTRY: dict[str, str] = {
    "local": "infra.backends.local:LocalBackend",
    "aws": "infra.backends.aws:AwsBackend",
    "gcp": "infra.backends.gcp:GcpBackend",
}


def get_backend(target: str) -> Backend:
    """The backend for ``target`` (``stratos:target``); raises naming the valid targets."""
    spec = REGISTRY.get(target)
    if spec is None:
        raise UnknownNameError(
            f"unknown target {target!r} (stack key stratos:target); valid targets: {', '.join(sorted(REGISTRY))}"
        )
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)()


__all__ = ["REGISTRY", "Backend", "get_backend"]
