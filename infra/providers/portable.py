"""Make a dynamic provider loadable by the engine's provider process.

Pulumi pickles a dynamic provider with dill and unpickles it in a separate
process (``python -m pulumi.dynamic``) whose working directory is the program
folder (``infra/``), so the checkout root, and with it the ``infra`` package, is
not importable there. dill pickles an importable class by reference, which
would fail to load. ``portable(cls)`` returns a small shim whose class is local
to this function, so dill pickles it by value; its methods put the checkout root
on ``sys.path`` and delegate to ``cls``, imported by name. The real provider code
stays ordinary, importable, unit-testable modules.
"""

from __future__ import annotations

from pathlib import Path

from pulumi.dynamic import ResourceProvider

REPO_ROOT = str(Path(__file__).resolve().parents[2])


def portable(cls: type[ResourceProvider]) -> ResourceProvider:
    """A by-value shim for ``cls`` (an importable ``ResourceProvider`` subclass)."""
    root, module, name = REPO_ROOT, cls.__module__, cls.__qualname__

    def impl() -> ResourceProvider:
        import importlib
        import sys

        if root not in sys.path:
            sys.path.insert(0, root)
        return getattr(importlib.import_module(module), name)()

    class Shim(ResourceProvider):
        serialize_as_secret_always = False

        def check(self, olds, news):
            return impl().check(olds, news)

        def diff(self, id_, olds, news):
            return impl().diff(id_, olds, news)

        def create(self, props):
            return impl().create(props)

        def read(self, id_, props):
            return impl().read(id_, props)

        def update(self, id_, olds, news):
            return impl().update(id_, olds, news)

        def delete(self, id_, props):
            return impl().delete(id_, props)

    return Shim()
