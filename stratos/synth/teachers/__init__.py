"""Teacher clients behind one interface (``Teacher``) and ``make_teacher`` to pick one from a spec.

Specs: ``rules`` (the task's rule engine); an OpenAI-compatible endpoint as
``http(s)://host/v1#model[&api_key_env=...&batch=true]`` or a
:class:`~stratos.zoo.endpoint.TeacherEndpoint`; ``openai:<model>`` (OpenAI's API, or
``OPENAI_BASE_URL``); a zoo id (API models go to their provider, hub models load
locally); a model dir, a ``.gguf`` file, an offline name (``smollm2-135m-instruct``),
or a hub id.
"""

from __future__ import annotations

from typing import Any

from stratos.synth.teachers.base import Teacher
from stratos.synth.teachers.keys import openai_base_url
from stratos.synth.teachers.local_hf import LocalHFTeacher
from stratos.synth.teachers.openai_http import OpenAITeacher
from stratos.synth.teachers.rules import RuleTeacher
from stratos.tasks.base import Task
from stratos.zoo.endpoint import PROVIDER_BASES, TeacherEndpoint, as_endpoint

__all__ = ["Teacher", "LocalHFTeacher", "OpenAITeacher", "RuleTeacher", "make_teacher"]

#: Options only a local model teacher takes (dropped for HTTP teachers), and the reverse:
#: the job passes both kinds and each teacher keeps its own.
LOCAL_ONLY = ("threads", "batch_size", "dtype", "device")
HTTP_ONLY = ("cache_dir", "api_key", "api_key_env", "concurrency", "max_retries", "timeout_s", "batch")


def _http(base_url: str, model: str, options: dict[str, Any], **spec_options: Any) -> OpenAITeacher:
    opts = {k: v for k, v in options.items() if k not in LOCAL_ONLY}
    return OpenAITeacher(base_url, model, **{**spec_options, **opts})


def _local(source: str, options: dict[str, Any]) -> LocalHFTeacher:
    return LocalHFTeacher(source, **{k: v for k, v in options.items() if k not in HTTP_ONLY})


def _provider_base(provider: str) -> str:
    return openai_base_url() if provider == "openai" else PROVIDER_BASES.get(provider, openai_base_url())


def _from_zoo(spec: str, options: dict[str, Any]) -> Teacher | None:
    """The teacher for a model zoo id (``api:``, ``hub:`` or ``pypi-gguf:`` source), or None."""
    try:
        from stratos.zoo import get_model

        m = get_model(spec)
    except Exception:  # noqa: BLE001 - not a zoo id: the caller tries other readings
        return None
    kind, _, rest = m.source.partition(":")
    if kind == "api":
        provider, _, model = rest.partition("/")
        return _http(options.pop("base_url", None) or _provider_base(provider), model or provider, options)
    if kind in ("hub", "pypi-gguf"):
        return _local(m.hf_id or rest if kind == "pypi-gguf" else rest, options)
    return None


def make_teacher(spec: str | TeacherEndpoint, task: Task, **options: Any) -> Teacher:
    """The teacher a spec names (see module docstring)."""
    if isinstance(spec, str) and spec in ("rules", "rule", f"rules:{task.name}"):
        return RuleTeacher(task)
    endpoint = as_endpoint(spec)
    if endpoint is not None:
        return _http(endpoint.base_url, endpoint.model, options, api_key_env=endpoint.api_key_env, batch=endpoint.batch)
    spec = str(spec)
    if spec.startswith("openai:"):
        return _http(options.pop("base_url", None) or openai_base_url(), spec.split(":", 1)[1], options)
    teacher = _from_zoo(spec, options)
    return teacher if teacher is not None else _local(spec, options)
