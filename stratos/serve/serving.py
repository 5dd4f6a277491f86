"""The serving logic: check a request against the loaded model, run it, shape the reply.

Every failure a client can cause comes back as an ``ApiError`` value built by
``error()`` (OpenAI's error shape with an HTTP status), never as an exception
that would surface as a 500. Streaming replies are async iterators of SSE
``data:`` lines in OpenAI's chunk format, ending with ``data: [DONE]`` even
when generation fails (an error event comes first); a stream the client
abandons cancels its generation.

Chat templates and tokenisation run in worker threads: a long conversation
must not stall the event loop that every other client is waiting on.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from pydantic import BaseModel

from stratos.exceptions import RequestError
from stratos.serve.batcher import Batcher, QueueFull
from stratos.serve.decoding import GenerationResult, SamplingParams
from stratos.serve.engine_base import EngineBase
from stratos.serve.metrics import ServerMetrics
from stratos.serve.protocol import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionChoice,
    CompletionChunk,
    CompletionRequest,
    CompletionResponse,
    DeltaMessage,
    ErrorDetail,
    ErrorResponse,
    ModelCard,
    ModelList,
    StreamTextChoice,
    Usage,
)
from stratos.serve.questions import QuestionCheck

log = logging.getLogger("stratos.serve")

# Characters per token is rarely above ~8; anything this much longer than the context
# is rejected before it is tokenised, so a huge body cannot tie up the tokenizer.
_MAX_CHARS_PER_TOKEN = 16
# Prompts up to this many characters are counted on the event loop (well under a millisecond).
_INLINE_COUNT_CHARS = 4096
# What a 429 tells the client to wait, seconds: a full queue of short requests drains in about this.
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class ApiError:
    """An error reply: HTTP status + OpenAI's error body (+ headers such as Retry-After)."""

    status: int
    body: ErrorResponse
    headers: dict[str, str] | None = None


def error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> ApiError:
    """The one place error replies are built."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 429:
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return ApiError(
        status,
        ErrorResponse(error=ErrorDetail(message=message, type=type, param=param, code=code)),
        headers,
    )


def overloaded() -> ApiError:
    return error(
        429,
        f"the server's queue is full; retry after {RETRY_AFTER_S} s.",
        type="rate_limit_error",
        code="queue_full",
    )


@dataclass(frozen=True)
class Limits:
    """Per-request caps: ``max_tokens`` ceiling and the default when a request gives none."""

    max_tokens: int = 512
    default_max_tokens: int = 128


Stream = AsyncIterator[str]


class OpenAIServing:
    """Chat, completion and model-list logic over one engine and its batcher."""

    def __init__(
        self,
        engine: EngineBase,
        batcher: Batcher,
        metrics: ServerMetrics,
        *,
        model_name: str,
        limits: Limits = Limits(),
        questions: QuestionCheck | None = None,
    ):
        self.engine = engine
        self.batcher = batcher
        self.metrics = metrics
        self.model_name = model_name
        self.limits = limits
        self.questions = questions

    def models(self) -> ModelList:
        return ModelList(data=[ModelCard(id=self.model_name)])

    async def chat(self, req: ChatCompletionRequest) -> ChatCompletionResponse | Stream | ApiError:
        max_tokens = req.max_completion_tokens or req.max_tokens
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        try:
            prompt = await asyncio.to_thread(self.engine.render_chat, messages)
        except Exception as exc:  # noqa: BLE001 - a chat template rejecting the conversation is a client error
            return error(
                400, f"the model's chat template rejected these messages: {exc}", param="messages"
            )
        # The question is read from what the client wrote: a chat template may rewrite it.
        asked = next((m.text() for m in reversed(req.messages) if m.role == "user"), "")
        prepared = await self._prepare(req, prompt, max_tokens, asked)
        if isinstance(prepared, ApiError):
            return prepared
        params = prepared
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return self._stream(prompt, params, _ChatChunks(self.model_name), include_usage)
        result = await self._run(prompt, params)
        if isinstance(result, ApiError):
            return result
        return ChatCompletionResponse(
            model=self.model_name,
            choices=[
                ChatChoice(
                    message=AssistantMessage(content=result.text),
                    finish_reason=result.finish_reason,
                )
            ],
            usage=_usage(result),
        )

    async def completion(self, req: CompletionRequest) -> CompletionResponse | Stream | ApiError:
        prompt = req.prompt_text()
        prepared = await self._prepare(req, prompt, req.max_tokens, prompt)
        if isinstance(prepared, ApiError):
            return prepared
        params = prepared
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            chunks = _TextChunks(self.model_name, prefix=prompt if req.echo else "")
            return self._stream(prompt, params, chunks, include_usage)
        result = await self._run(prompt, params)
        if isinstance(result, ApiError):
            return result
        text = prompt + result.text if req.echo else result.text
        return CompletionResponse(
            model=self.model_name,
            choices=[CompletionChoice(text=text, finish_reason=result.finish_reason)],
            usage=_usage(result),
        )

    # ---------------------------------------------------------------- helpers
    async def _prepare(
        self, req: ChatCompletionRequest | CompletionRequest, prompt: str, max_tokens: int | None, asked: str
    ) -> SamplingParams | ApiError:
        """The request's sampling parameters, or the first error in it; ``asked`` is the client's own
        text (the last user message, or the completion prompt) that the served task's question is read from."""
        if req.model != self.model_name:
            return error(
                404,
                f"the model {req.model!r} does not exist; this server serves {self.model_name!r}.",
                param="model",
                code="model_not_found",
            )
        where = "messages" if isinstance(req, ChatCompletionRequest) else "prompt"
        problem = self.questions.problem(asked) if self.questions else None
        if problem is not None:
            return error(400, problem, param=where)
        if max_tokens is not None and max_tokens > self.limits.max_tokens:
            return error(
                400,
                f"max_tokens={max_tokens} is over this server's limit of {self.limits.max_tokens}.",
                param="max_tokens",
                code="max_tokens_exceeded",
            )
        max_new = max_tokens or min(self.limits.default_max_tokens, self.limits.max_tokens)
        context = self.engine.max_context
        too_long = error(
            400,
            f"the prompt plus max_tokens={max_new} exceeds the model's context of {context} tokens; "
            "shorten the prompt or lower max_tokens.",
            param=where,
            code="context_length_exceeded",
        )
        if len(prompt) > context * _MAX_CHARS_PER_TOKEN:
            return too_long
        if await self._count_tokens(prompt) + max_new > context:
            return too_long
        if self.batcher.full():
            return overloaded()
        try:
            return SamplingParams(
                max_new, float(req.temperature), float(req.top_p), req.stop_list(), req.seed
            )
        except RequestError as exc:
            return error(400, str(exc))

    async def _count_tokens(self, prompt: str) -> int:
        """Tokens in ``prompt``: a short one is counted here (faster than a hop to a worker thread,
        which costs more than tokenising a few KB), a long one off the event loop."""
        if len(prompt) <= _INLINE_COUNT_CHARS:
            return self.engine.count_tokens(prompt)
        return await asyncio.to_thread(self.engine.count_tokens, prompt)

    async def _run(self, prompt: str, params: SamplingParams) -> GenerationResult | ApiError:
        try:
            result = await self.batcher.submit(prompt, params)
        except RequestError as exc:
            return error(400, str(exc), code="context_length_exceeded")
        except QueueFull:
            return overloaded()
        self.metrics.observe_tokens(result.prompt_tokens, result.completion_tokens)
        return result

    async def _stream(
        self, prompt: str, params: SamplingParams, chunks: _Chunks, include_usage: bool
    ) -> Stream:
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        task = asyncio.ensure_future(self.batcher.submit(prompt, params, on_text=pieces.put_nowait))
        task.add_done_callback(lambda _: pieces.put_nowait(None))
        try:
            yield _sse(chunks.first())
            while (piece := await pieces.get()) is not None:
                yield _sse(chunks.delta(piece))
            failure = _stream_failure(task)
            if failure is not None:
                yield _sse(failure.body)
            else:
                result = task.result()
                self.metrics.observe_tokens(result.prompt_tokens, result.completion_tokens)
                yield _sse(chunks.final(result.finish_reason))
                if include_usage:
                    yield _sse(chunks.usage(_usage(result)))
            yield "data: [DONE]\n\n"
        finally:
            # The client went away (or the stream ended): stop decoding for nobody.
            task.cancel()


def _stream_failure(task: asyncio.Future) -> ApiError | None:
    """The error event for a stream whose generation failed (never a dropped connection)."""
    exc = task.exception()
    if exc is None:
        return None
    if isinstance(exc, RequestError):
        return error(400, str(exc), code="context_length_exceeded")
    if isinstance(exc, QueueFull):
        return overloaded()
    log.error("generation failed for a streamed request: %r", exc)
    return error(500, f"generation failed: {type(exc).__name__}", type="server_error")


def _usage(result: GenerationResult) -> Usage:
    return Usage(
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        total_tokens=result.prompt_tokens + result.completion_tokens,
    )


def _sse(model: BaseModel) -> str:
    return f"data: {model.model_dump_json(exclude_none=False)}\n\n"


class _Chunks:
    """Builds one stream's chunks (same id and timestamp throughout)."""

    def __init__(self, model: str, prefix: str = "", id_prefix: str = "chatcmpl"):
        self.model = model
        self.prefix = prefix
        self.id = f"{id_prefix}-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())

    first: Callable[[], BaseModel]
    delta: Callable[[str], BaseModel]
    final: Callable[[str], BaseModel]
    usage: Callable[[Usage], BaseModel]


class _ChatChunks(_Chunks):
    def _chunk(
        self, choices: list[ChatChunkChoice], usage: Usage | None = None
    ) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )

    def first(self) -> ChatCompletionChunk:
        return self._chunk([ChatChunkChoice(delta=DeltaMessage(role="assistant", content=""))])

    def delta(self, text: str) -> ChatCompletionChunk:
        return self._chunk([ChatChunkChoice(delta=DeltaMessage(content=text))])

    def final(self, reason: str) -> ChatCompletionChunk:
        return self._chunk([ChatChunkChoice(delta=DeltaMessage(), finish_reason=reason)])

    def usage(self, usage: Usage) -> ChatCompletionChunk:
        return self._chunk([], usage)


class _TextChunks(_Chunks):
    def __init__(self, model: str, prefix: str = ""):
        super().__init__(model, prefix, id_prefix="cmpl")

    def _chunk(
        self, choices: list[StreamTextChoice], usage: Usage | None = None
    ) -> CompletionChunk:
        return CompletionChunk(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )

    def first(self) -> CompletionChunk:
        return self._chunk([StreamTextChoice(text=self.prefix)])

    def delta(self, text: str) -> CompletionChunk:
        return self._chunk([StreamTextChoice(text=text)])

    def final(self, reason: str) -> CompletionChunk:
        return self._chunk([StreamTextChoice(text="", finish_reason=reason)])

    def usage(self, usage: Usage) -> CompletionChunk:
        return self._chunk([], usage)
