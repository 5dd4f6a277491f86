"""Teachers that are not zoo ids: any OpenAI-compatible endpoint, and what the planner knows of it.

A stack names a teacher either by zoo id (``gpt-4o``) or as an endpoint::

    stratos:teacher:
      base_url: http://10.0.0.5:8000/v1      # a vLLM/TGI server, OpenAI, Together, ...
      model: Qwen/Qwen2.5-72B-Instruct
      api_key_env: VLLM_API_KEY               # optional: the env var holding its key
      batch: false                            # optional: OpenAI Batch API for synthesis
      usd_per_m_input: 0.9                    # optional: list price, USD per 1M tokens
      usd_per_m_output: 0.9

The same endpoint travels through the plan and the job as one string,
``<base_url>#<model>[&key=value...]`` (:meth:`TeacherEndpoint.spec`), so the plan stays
plain data and ``make_teacher`` reads it back. :func:`teacher_model` gives the planner a
``ModelSpec`` for either form: an endpoint serving a model the zoo knows (by its API name
or hub id) inherits that model's size and task coverage, and its price when the endpoint
is that model's own provider; anything else is an API-like teacher whose size, coverage
and price are unknown, and :func:`teacher_notes` says so in the plan's assumptions.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stratos.exceptions import ConfigError
from stratos.zoo.registry import ModelSpec, get_model, list_models

#: Where each API provider named in the zoo (``api:<provider>/<model>``) serves its models.
PROVIDER_BASES: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "together": "https://api.together.xyz/v1",
}
#: OpenAI's Batch API bills half the synchronous list price (results within 24 h).
BATCH_PRICE_FACTOR = 0.5
#: Size assumed for an endpoint model the zoo does not know (only the size-ratio rule reads it).
UNKNOWN_PARAMS_B = 70.0
UNKNOWN_CONTEXT = 8192
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPEC_KEYS = ("api_key_env", "batch", "usd_per_m_input", "usd_per_m_output")


class TeacherEndpoint(BaseModel):
    """An OpenAI-compatible chat-completions endpoint used as the teacher."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(description="API root ending in /v1 (http:// or https://)")
    model: str = Field(min_length=1, description="model name the server expects")
    api_key_env: str | None = Field(
        None, description="env var holding the key where the job runs; default STRATOS_TEACHER_API_KEY "
        "(filled from the stack secret stratos:teacherApiKey)"
    )
    batch: bool = Field(False, description="synthesise through the OpenAI Batch API (half price, results within 24 h)")
    usd_per_m_input: float | None = Field(None, ge=0, description="list price, USD per 1M prompt tokens")
    usd_per_m_output: float | None = Field(None, ge=0, description="list price, USD per 1M generated tokens")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url {v!r} is not an http(s) URL like https://api.openai.com/v1")
        if parts.fragment or parts.query:
            raise ValueError(f"base_url {v!r} must not carry '#' or '?'; give the model under `model`")
        return v.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError(f"api_key_env {v!r} is not an environment variable name (letters, digits, _)")
        return v

    @field_validator("usd_per_m_input", "usd_per_m_output")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("prices must be finite numbers of USD per 1M tokens")
        return v

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> TeacherEndpoint:
        """Validate the stack's mapping form; errors are one ``ConfigError`` line per problem."""
        from pydantic import ValidationError

        from stratos.names import did_you_mean

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                key = str(err["loc"][0]) if err["loc"] else "teacher"
                msg = err["msg"].removeprefix("Value error, ")
                if key in ("api_key", "key", "token"):
                    problems.append(
                        f"{key!r}: a key is a secret, not stack config; set it with `pulumi config set --secret "
                        "stratos:teacherApiKey ...` or name its environment variable in api_key_env"
                    )
                elif err["type"] == "extra_forbidden":
                    problems.append(f"unknown key {key!r}{did_you_mean(key, cls.model_fields)}")
                else:
                    problems.append(msg if msg.startswith(key) else f"{key}: {msg}")
            raise ConfigError(
                "; ".join(problems) + f" (endpoint keys: {', '.join(cls.model_fields)}; base_url and model are required)"
            ) from None

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def spec(self) -> str:
        """The one-string form the plan and the job carry: ``<base_url>#<model>[&key=value...]``."""
        extras = [f"{k}={_fmt(getattr(self, k))}" for k in _SPEC_KEYS if getattr(self, k) not in (None, False)]
        return "&".join([f"{self.base_url}#{self.model}", *extras])

    @classmethod
    def parse(cls, spec: str) -> TeacherEndpoint:
        """Read :meth:`spec`'s string back; a bad string raises ``ConfigError`` saying the form."""
        base, sep, fragment = spec.partition("#")
        model, *pairs = fragment.split("&")
        values: dict[str, Any] = {"base_url": base, "model": model}
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if key not in _SPEC_KEYS or not eq:
                raise ConfigError(
                    f"teacher {spec!r}: unknown option {pair!r}; the form is <base_url>#<model>"
                    f"[&{'=...&'.join(_SPEC_KEYS)}=...]"
                )
            values[key] = value.lower() in ("1", "true", "yes") if key == "batch" else value
        if not sep or not model:
            raise ConfigError(f"teacher {spec!r} names no model; write <base_url>#<model>, e.g. http://127.0.0.1:8000/v1#my-model")
        try:
            return cls.model_validate(values)
        except ValueError as exc:
            raise ConfigError(f"teacher {spec!r}: {exc}") from None


def _fmt(value: Any) -> str:
    return "true" if value is True else f"{value:g}" if isinstance(value, float) else str(value)


def is_endpoint_spec(teacher: str) -> bool:
    """True for ``http(s)://...`` teacher strings (zoo ids never contain '://')."""
    return teacher.startswith(("http://", "https://"))


def as_endpoint(teacher: str | TeacherEndpoint) -> TeacherEndpoint | None:
    """The endpoint a teacher names, or None for a zoo id."""
    if isinstance(teacher, TeacherEndpoint):
        return teacher
    return TeacherEndpoint.parse(teacher) if is_endpoint_spec(teacher) else None


def teacher_id(teacher: str | TeacherEndpoint) -> str:
    """The string the plan and the job carry: a zoo id, or the endpoint's spec string."""
    return teacher.spec() if isinstance(teacher, TeacherEndpoint) else teacher


def known_model(ep: TeacherEndpoint) -> ModelSpec | None:
    """The zoo's entry for the model an endpoint serves (API name or hub id), if any."""
    for m in list_models("teacher"):
        kind, _, rest = m.source.partition(":")
        names = {m.id, m.hf_id, rest.partition("/")[2] if kind == "api" else rest}
        if ep.model in names:
            return m
    return None


def _own_provider(ep: TeacherEndpoint, m: ModelSpec | None) -> bool:
    """Does the endpoint belong to the provider whose list price the zoo records for ``m``?"""
    if m is None or not m.is_api:
        return False
    provider = m.source.partition(":")[2].partition("/")[0]
    return urlsplit(PROVIDER_BASES.get(provider, "")).netloc == ep.host


def teacher_model(teacher: str | TeacherEndpoint) -> ModelSpec:
    """A ``ModelSpec`` the planner can price for a zoo id or an endpoint (id = :func:`teacher_id`)."""
    ep = as_endpoint(teacher)
    if ep is None:
        return get_model(str(teacher))
    known = known_model(ep)
    price_in, price_out = ep.usd_per_m_input, ep.usd_per_m_output
    if price_in is None and price_out is None and _own_provider(ep, known):
        price_in, price_out = known.usd_per_m_input, known.usd_per_m_output  # type: ignore[union-attr]
    factor = BATCH_PRICE_FACTOR if ep.batch else 1.0
    return ModelSpec(
        id=ep.spec(),
        family=known.family if known else "endpoint",
        source=f"api:endpoint/{ep.model}",
        params_b=known.params_b if known else UNKNOWN_PARAMS_B,
        tokenizer=known.tokenizer if known else "unknown",
        context=known.context if known else UNKNOWN_CONTEXT,
        licence=known.licence if known else "unknown",
        roles=["teacher"],
        usd_per_m_input=None if price_in is None else price_in * factor,
        usd_per_m_output=None if price_out is None else price_out * factor,
        coverage=dict(known.coverage) if known else {},
    )


def teacher_notes(teacher: str | TeacherEndpoint) -> list[str]:
    """What the plan assumed about an endpoint teacher, in words (empty for zoo ids)."""
    ep = as_endpoint(teacher)
    if ep is None:
        return []
    m = teacher_model(ep)
    known = known_model(ep)
    notes = [
        f"teacher endpoint {ep.model} at {ep.host}: "
        + (f"size and task coverage of zoo model {known.id}" if known else
           f"unknown model: size assumed {UNKNOWN_PARAMS_B:g}B, no task coverage assumed (injection unless probed)")
    ]
    if m.usd_per_m_input is None and m.usd_per_m_output is None:
        notes.append(
            "teacher price unknown: its synthesis tokens are priced at $0; set usd_per_m_input and "
            "usd_per_m_output under stratos:teacher to include them"
        )
    if ep.batch:
        notes.append(f"OpenAI Batch API: synthesis priced at {BATCH_PRICE_FACTOR:.0%} of the list price; results can take up to 24 h")
    return notes
