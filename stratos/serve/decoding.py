"""What every engine shares: a request's sampling parameters, its result, and per-row text state.

Why one module: the transformers, CTranslate2 and vLLM engines must give the
same answers for the same request (stop strings cut the same way, streamed
pieces held back the same way, tokens counted the same way), so the rules live
here once and each engine only produces token ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from stratos.exceptions import RequestError

# Below this temperature, logits / T overflows to inf (NaN probabilities); sampling at such a
# temperature is argmax anyway, so decode greedily. (Found by the schemathesis run.)
GREEDY_BELOW = 1e-4
# torch.Generator.manual_seed accepts [-2**63, 2**64); the API takes JSON's int64 range.
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1
# "cancelled": the caller went away (a client disconnected mid-stream); nobody reads the result.
FinishReason = Literal["stop", "length", "cancelled"]
Message = dict[str, str]
# Called as on_text(row_index, new_text) whenever a row has new, final text.
TextCallback = Callable[[int, str], None]


@dataclass(frozen=True)
class SamplingParams:
    """How one prompt is decoded. ``temperature == 0`` means greedy; ``top_p`` is nucleus mass."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise RequestError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}.")
        if not 0.0 <= self.temperature <= 2.0:
            raise RequestError(f"temperature must be in [0, 2], got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise RequestError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.seed is not None and not SEED_MIN <= self.seed <= SEED_MAX:
            raise RequestError(f"seed must be in [-2**63, 2**63 - 1], got {self.seed}.")

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW


@dataclass(frozen=True)
class GenerationResult:
    """One prompt's output: the text (stop string excluded) and token accounting."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Request:
    """One prompt to decode: its token ids, parameters, a caller's tag and optional hooks.

    ``on_text`` receives the row's new final text; ``cancelled`` is polled every
    step (True ends the row at once); ``on_done`` gets the result as soon as the
    row finishes, for engines that finish rows inside a longer call.
    """

    ids: Sequence[int]
    params: SamplingParams
    tag: Any = None
    on_text: Callable[[str], None] | None = None
    cancelled: Callable[[], bool] | None = None
    on_done: Callable[[GenerationResult], None] | None = None


@dataclass
class Row:
    """Mutable per-row decode state."""

    tag: Any
    params: SamplingParams
    prompt_tokens: int
    ids: list[int] = field(default_factory=list)
    emitted: int = 0  # characters of text already passed to the callback
    text: str = ""
    finish: FinishReason | None = None
    generator: Any = None
    on_text: Callable[[str], None] | None = None
    cancelled: Callable[[], bool] | None = None
    on_done: Callable[[GenerationResult], None] | None = None

    @classmethod
    def for_request(cls, r: Request, generator: Any = None) -> Row:
        return cls(
            r.tag, r.params, len(r.ids), generator=generator, on_text=r.on_text,
            cancelled=r.cancelled, on_done=r.on_done,
        )

    def result(self) -> GenerationResult:
        return GenerationResult(
            text=self.text,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=len(self.ids),
            finish_reason=self.finish or "length",
            token_ids=tuple(self.ids),
        )

    def accept(self, token: int, eos_ids: set[int], decode: Callable[[list[int]], str]) -> None:
        """Take one decoded token: EOS finishes with "stop", else append, cut at a stop string, cap length.

        The text is re-decoded every token only when someone reads it mid-row (a
        stream) or a stop string may end it; otherwise once, when the row finishes.
        """
        if self.cancelled is not None and self.cancelled():
            self.finish = "cancelled"
            return
        live = bool(self.params.stop) or self.on_text is not None
        if token in eos_ids:
            self.finish = "stop"
        else:
            self.ids.append(token)
            if live:
                update_text(self, decode)
            if self.finish is None and len(self.ids) >= self.params.max_new_tokens:
                self.finish = "length"
        if self.finish is not None and not live:
            self.text = decode(self.ids)
        if self.on_text is not None:
            emit(self)


def update_text(row: Row, decode: Callable[[list[int]], str]) -> None:
    """Re-decode the row; finish it at the first stop string."""
    text = decode(row.ids)
    for s in row.params.stop:
        at = text.find(s)
        if s and at != -1:
            text = text[:at]
            row.finish = "stop"
    row.text = text


def emit(row: Row) -> None:
    """Pass on text that can no longer change: not a partial UTF-8 char, not a stop-string prefix."""
    text = row.text
    if row.finish is None:
        if text.endswith("\ufffd"):
            text = text.rstrip("\ufffd")
        hold = max((len(s) - 1 for s in row.params.stop), default=0)
        if hold:
            text = text[: max(row.emitted, len(text) - hold)]
    if len(text) > row.emitted and row.on_text is not None:
        row.on_text(text[row.emitted :])
        row.emitted = len(text)


def render_chat(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The prompt for a chat: the tokenizer's chat template, or a plain role-prefixed fallback."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nassistant:"


def eos_ids(model_or_config: Any, tokenizer: Any) -> set[int]:
    """Every id that ends a generation: the tokenizer's eos and the (generation) config's."""
    ids: set[int] = set()
    sources = (
        getattr(model_or_config, "generation_config", None),
        getattr(model_or_config, "config", model_or_config),
        tokenizer,
    )
    for source in sources:
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return ids


def check_length(prompt_tokens: int, params: SamplingParams, max_context: int, label: str = "the prompt") -> None:
    """Raise ``RequestError`` when prompt + ``max_new_tokens`` does not fit the context."""
    if prompt_tokens + params.max_new_tokens > max_context:
        raise RequestError(
            f"{label} has {prompt_tokens} tokens; with max_tokens={params.max_new_tokens} that exceeds "
            f"the model's context of {max_context} tokens. Shorten the prompt or lower max_tokens."
        )


# Shared prefixes are cut at multiples of this many tokens: a batch's prompt shapes stay in a few
# buckets (oneDNN caches a kernel per matmul shape), and a prefix shorter than this is not worth
# a pass of its own.
PREFIX_QUANTUM = 16


def shared_prefix(prompts: Sequence[Sequence[Any]], keep: int = 1) -> int:
    """How many leading tokens every prompt of a batch shares, for an engine to run once.

    A job's batches repeat the chat template's system prompt and the task's instructions before
    each question (130 of SmolLM2's 196 tokens for a Mahjong question), and prefill of a teacher's
    batch is compute-bound, so running them once for the batch saves most of its work. Rounded
    down to ``PREFIX_QUANTUM`` and leaving every prompt at least ``keep`` tokens of its own (an
    engine reads its first next token off the last one); 0 for a lone prompt.
    """
    if len(prompts) < 2:
        return 0
    n = min(common_prefix(prompts), min(len(p) for p in prompts) - keep)
    return max(n, 0) // PREFIX_QUANTUM * PREFIX_QUANTUM


def common_prefix(prompts: Sequence[Sequence[Any]]) -> int:
    """How many leading tokens all of ``prompts`` have in common."""
    first, n = prompts[0], min(len(p) for p in prompts)
    for i in range(n):
        if any(p[i] != first[i] for p in prompts):
            return i
    return n
