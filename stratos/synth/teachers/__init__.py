"""Teacher clients behind one interface (``Teacher``) and ``make_teacher`` to pick one from a spec.

Specs: ``rules`` (the task's rule engine), ``http(s)://host/v1#model`` or
``openai:<model>`` (an OpenAI-compatible endpoint), a model dir, a ``.gguf``
file, an offline name (``smollm2-135m-instruct``), or a hub id.
"""

from __future__ import annotations

from typing import Any

from stratos.synth.teachers.base import Teacher
from stratos.synth.teachers.local_hf import LocalHFTeacher
from stratos.synth.teachers.openai_http import OpenAITeacher
from stratos.synth.teachers.rules import RuleTeacher
from stratos.tasks.base import Task

__all__ = ["Teacher", "LocalHFTeacher", "OpenAITeacher", "RuleTeacher", "make_teacher"]


API_BASES = {"openai": "https://api.openai.com/v1", "together": "https://api.together.xyz/v1"}


def _from_zoo(spec: str, task: Task, options: dict[str, Any]) -> Teacher | None:
    """The teacher for a model zoo id (``api:``, ``hub:`` or ``pypi-gguf:`` source), or None."""
    try:
        from stratos.zoo import get_model

        m = get_model(spec)
    except Exception:  # noqa: BLE001 - not a zoo id: the caller tries other readings
        return None
    kind, _, rest = m.source.partition(":")
    if kind == "api":
        provider, _, model = rest.partition("/")
        base = options.pop("base_url", None) or API_BASES.get(provider, API_BASES["openai"])
        return OpenAITeacher(base, model or provider, **options)
    if kind in ("hub", "pypi-gguf"):
        return LocalHFTeacher(m.hf_id or rest if kind == "pypi-gguf" else rest, **options)
    return None


def make_teacher(spec: str, task: Task, **options: Any) -> Teacher:
    """The teacher a spec names (see module docstring)."""
    if spec in ("rules", "rule", f"rules:{task.name}"):
        return RuleTeacher(task)
    if spec.startswith(("http://", "https://")):
        base, _, model = spec.partition("#")
        return OpenAITeacher(base, model or "default", **options)
    if spec.startswith("openai:"):
        return OpenAITeacher(options.pop("base_url", "https://api.openai.com/v1"), spec.split(":", 1)[1], **options)
    teacher = _from_zoo(spec, task, options)
    return teacher if teacher is not None else LocalHFTeacher(spec, **options)
