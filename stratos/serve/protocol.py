"""The OpenAI wire format: request and response models only (no logic).

Field bounds live here so FastAPI validates them and the OpenAPI spec
(which schemathesis fuzzes) states them; limits that depend on the loaded
model (context length, the server's max_tokens cap) are checked in
``serving.py`` and documented in the field descriptions.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from stratos.serve.decoding import SEED_MAX, SEED_MIN


class _Request(BaseModel):
    # OpenAI clients send fields we don't use (logprobs, presence_penalty...); ignore them
    # rather than rejecting every such client.
    model_config = ConfigDict(extra="ignore")


class TextPart(BaseModel):
    """One text part of a multi-part message (images are not supported)."""

    type: Literal["text"]
    text: StrictStr


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[TextPart]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class StreamOptions(BaseModel):
    include_usage: StrictBool = False


def _whole_number(value: object) -> object:
    """JSON Schema's ``integer`` includes ``3.0``; accept it as 3, but never a bool or a string."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Int = Annotated[StrictInt, BeforeValidator(_whole_number)]
# Every integer field has both bounds in the schema (clients and fuzzers see them; an
# unbounded seed of 2**64 used to reach torch and fail a whole batch).
INT32_MAX = 2**31 - 1
MAX_MESSAGES = 256
Temperature = Annotated[StrictFloat, Field(ge=0, le=2, description="0 is greedy decoding.")]
TopP = Annotated[StrictFloat, Field(gt=0, le=1, description="Nucleus probability mass.")]
MaxTokens = Annotated[
    Int,
    Field(
        ge=1, le=INT32_MAX, description="Capped by the server's limit and the model's context (else 400)."
    ),
]
Seed = Annotated[Int, Field(ge=SEED_MIN, le=SEED_MAX, description="Reproducible sampling (int64).")]
Stop = StrictStr | Annotated[list[StrictStr], Field(max_length=4)] | None


class _Sampling(_Request):
    model: StrictStr
    max_tokens: MaxTokens | None = None
    temperature: Temperature = 1.0
    top_p: TopP = 1.0
    n: Annotated[Int, Field(ge=1, le=1, description="Only n=1 is supported.")] = 1
    stop: Stop = None
    seed: Seed | None = None
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    user: StrictStr | None = None

    def stop_list(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatCompletionRequest(_Sampling):
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]
    max_completion_tokens: MaxTokens | None = None


class CompletionRequest(_Sampling):
    prompt: StrictStr | Annotated[list[StrictStr], Field(min_length=1, max_length=1)]
    echo: StrictBool = False

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


# ---------------------------------------------------------------- responses
def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _now() -> int:
    return int(time.time())


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletionResponse(BaseModel):
    id: str = Field(default_factory=lambda: _id("chatcmpl"))
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=_now)
    model: str
    choices: list[ChatChoice]
    usage: Usage


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class CompletionResponse(BaseModel):
    id: str = Field(default_factory=lambda: _id("cmpl"))
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=_now)
    model: str
    choices: list[CompletionChoice]
    usage: Usage


class DeltaMessage(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: DeltaMessage
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


class StreamTextChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class CompletionChunk(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[StreamTextChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=_now)
    owned_by: str = "stratos"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    model: str
    verified: bool = Field(description="True when the artifact's manifest checksums were verified.")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""

    error: ErrorDetail
