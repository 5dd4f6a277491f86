"""``TaskRef``: which task a request, a plan and a job mean, and ``load`` to get it anywhere.

A task is a registered name (built in, from a ``stratos.tasks`` entry point, or from
a ``taskModule``: a ``.py`` file or dotted module that calls ``register_task`` when
imported) or a dataset described in the stack config. The ref travels inside the
plan, so the job on a GPU node loads the same task the planner saw; the files it
names go to the node in the source archive (:meth:`TaskRef.files`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

from pydantic import Field

from stratos.exceptions import ConfigError
from stratos.strict import StrictModel
from stratos.tasks.base import Task, get_task
from stratos.tasks.dataset.spec import DatasetTaskSpec


def load_task_module(spec: str) -> None:
    """Import ``spec`` (a dotted module name or a path to a ``.py`` file) so it can register tasks."""
    if spec.endswith(".py") or os.sep in spec:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"taskModule {spec!r}: no such file; give a .py file or a dotted module name")
        name = f"stratos_task_{path.stem}"
        if name in sys.modules:
            return
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise ConfigError(f"taskModule {spec!r}: cannot load it as a Python module")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        try:
            mod_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(f"taskModule {spec!r} fails to import: {type(exc).__name__}: {exc}") from None
        return
    try:
        importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(f"taskModule {spec!r}: {exc}; is it on PYTHONPATH (or give the .py path)?") from None


def files_digest(names: list[str]) -> str:
    """sha256 over the named files' paths and bytes (files that do not exist count as empty)."""
    h = hashlib.sha256()
    for name in names:
        path = Path(name)
        h.update(name.encode() + b"\0")
        if path.is_file():
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


class TaskRef(StrictModel):
    """A registered task by name (after importing ``module``), or a dataset task."""

    name: str = Field("mahjong", description="the task's name (a dataset task's own name)")
    dataset: DatasetTaskSpec | None = Field(None, description="the dataset task, when the task is one")
    module: str | None = Field(None, description="a .py file or dotted module to import first (it registers the task)")
    digest: str | None = Field(
        None, description="sha256 of the task's local files: an edited dataset is a new plan, so a new run"
    )

    @classmethod
    def of(cls, task: str | DatasetTaskSpec, module: str | None = None) -> TaskRef:
        ref = (
            cls(name=task.task_name, dataset=task, module=module) if isinstance(task, DatasetTaskSpec)
            else cls(name=task, module=module)
        )
        return ref.model_copy(update={"digest": files_digest(ref.files())}) if ref.files() else ref

    def load(self) -> Task:
        """The task, its module imported or its dataset read and validated (``ConfigError`` naming the problem).

        A ref with a digest refuses files that changed since it was made (a job trains on what was planned)."""
        if self.digest is not None and files_digest(self.files()) != self.digest:
            raise ConfigError(
                f"task {self.name!r}: {', '.join(self.files())} changed since the plan was made; "
                "plan again (`stratos plan`, or `pulumi up`, which plans a new run for the new data)"
            )
        if self.dataset is not None:
            from stratos.tasks.dataset.task import dataset_task

            return dataset_task(self.dataset)
        if self.module:
            load_task_module(self.module)
        return get_task(self.name)

    def files(self) -> list[str]:
        """Local files the task reads, relative to the project root (shipped to cloud nodes)."""
        out = self.dataset.files() if self.dataset is not None else []
        if self.module and (self.module.endswith(".py") or os.sep in self.module):
            out.append(self.module)
        return out
