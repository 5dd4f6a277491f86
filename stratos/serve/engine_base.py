"""The part of an engine that is about text, not weights: tokenising, chat rendering, the generate loop.

Every engine (transformers, CTranslate2, vLLM) derives from ``EngineBase`` and
implements ``prefill`` / ``step`` (and ``can_merge`` / ``merge`` when rows can
join a running batch); callers (the server's batcher, the job's evaluation, a
local teacher) see only the methods defined here, so they never know which
engine they hold.

Thread-safety: the tokenizer (a Rust object) refuses concurrent use ("Already
borrowed") when one thread pads while another encodes, so callers on other
threads count tokens with a copy of their own, and encoding takes a lock.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from stratos.serve.decoding import (
    GenerationResult,
    Message,
    Request,
    SamplingParams,
    TextCallback,
    check_length,
    render_chat,
)


class EngineBase:
    """Tokenizer-side behaviour shared by every engine; subclasses decode.

    ``name`` is the model's served name, ``max_context`` the prompt + completion
    limit in tokens, ``eos_ids`` the ids that end a generation, ``kind`` the
    engine's name as logs and reports show it, ``parallelism`` how many batches
    may decode at once (separate worker threads in the batcher).
    """

    kind = "engine"
    parallelism = 1

    def __init__(self, tokenizer: Any, *, name: str, max_context: int, eos_ids: set[int]) -> None:
        self.tokenizer = tokenizer
        self.name = name
        self.max_context = int(max_context)
        self.eos_ids = set(eos_ids)
        self._tok_lock = threading.Lock()
        self._counter = copy.deepcopy(tokenizer)
        self._counter_lock = threading.Lock()

    # ---------------------------------------------------------------- text
    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` encodes to (as the engine would feed it); safe from any thread."""
        with self._counter_lock:
            return len(self._counter(text, add_special_tokens=True)["input_ids"])

    def render_chat(self, messages: Sequence[Message]) -> str:
        return render_chat(self.tokenizer, messages)

    def encode(self, prompt: str) -> list[int]:
        """Token ids for one prompt; an empty prompt starts from the BOS (or EOS) token, like HF generate."""
        with self._tok_lock:
            ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        if not ids:
            start = self.tokenizer.bos_token_id
            ids = [start if start is not None else min(self.eos_ids)]
        return ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def check_length(self, prompt_tokens: int, params: SamplingParams, label: str = "the prompt") -> None:
        check_length(prompt_tokens, params, self.max_context, label)

    # ---------------------------------------------------------------- generation
    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[GenerationResult]:
        """Decode every prompt with the same parameters, as one batch."""
        params = SamplingParams(max_new_tokens, temperature, top_p, tuple(stop or ()), seed)
        return self.generate_batch(list(prompts), [params] * len(prompts))

    def chat(
        self,
        conversations: Sequence[Sequence[Message]],
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[GenerationResult]:
        """Like ``generate`` for chat conversations (each a list of ``{"role", "content"}``)."""
        prompts = [self.render_chat(c) for c in conversations]
        return self.generate(prompts, max_new_tokens, temperature, top_p, stop, seed)

    def generate_batch(
        self,
        prompts: Sequence[str],
        params: Sequence[SamplingParams],
        on_text: TextCallback | None = None,
    ) -> list[GenerationResult]:
        """Decode ``prompts`` together, each with its own ``params``.

        ``on_text(i, delta)`` receives row ``i``'s new text as it becomes final
        (text that might still turn into a stop string is held back).
        Raises ``RequestError`` if a prompt plus its ``max_new_tokens`` exceeds the context.
        """
        if len(prompts) != len(params):
            raise ValueError("prompts and params must have the same length")
        requests = []
        for i, (prompt, p) in enumerate(zip(prompts, params, strict=True)):
            ids = self.encode(prompt)
            self.check_length(len(ids), p, label=f"prompt {i}")
            emit = (lambda text, i=i: on_text(i, text)) if on_text is not None else None
            requests.append(Request(ids, p, tag=i, on_text=emit))
        results = dict(self.run(requests))
        return [results[i] for i in range(len(prompts))]

    def run(self, requests: Sequence[Request]) -> list[tuple[Any, GenerationResult]]:
        """Decode ``requests`` to the end; ``(tag, result)`` pairs in finishing order."""
        batch, done = self.prefill(requests)
        out = list(done)
        while batch is not None:
            out += self.step(batch)
            if len(batch) == 0:
                batch = None
        return out

    # ------------------------------------------------ step-wise API (the batcher drives it)
    def prefill(self, requests: Sequence[Request]) -> tuple[Any, list[tuple[Any, GenerationResult]]]:
        """Start decoding ``requests``; returns a running batch (or None when all finished) and finished rows."""
        raise NotImplementedError

    def step(self, batch: Any) -> list[tuple[Any, GenerationResult]]:
        """One more token for every row of ``batch``; returns the rows that finished."""
        raise NotImplementedError

    def can_merge(self, batch: Any) -> bool:
        """True when new rows can join ``batch`` mid-decode."""
        return False

    def merge(self, a: Any, b: Any) -> Any:
        raise NotImplementedError(f"the {self.kind} engine cannot merge running batches")

    def describe(self) -> dict[str, Any]:
        """What a log line or a report says about this engine."""
        return {"engine": self.kind, "model": self.name, "max_context": self.max_context}
