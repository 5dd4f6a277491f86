"""Which leading tokens of a batch CTranslate2 runs once as its static prompt, and which it keeps.

A served stream repeats the chat template's system prompt and the task's instructions before
every question (about 130 tokens of a 3M Mahjong student's prompt), and a one-row request
cannot share them with a batch: without a kept state it prefills them on every call. vLLM's
automatic prefix caching keeps such blocks; CTranslate2 offers the same for its static prompt
(``cache_static_prompt``), but keeps every prompt it is given for the generator's life, with
no eviction. So the engine chooses what to keep:

* a prefix is kept once a prompt shares it with one seen before (the recent prompts are
  remembered), at least ``MIN_TOKENS`` long, rounded down to ``PREFIX_QUANTUM``; of several,
  the shortest (the template every question shares, not a repeated question's whole prompt);
* at most ``TOKEN_BUDGET`` tokens are ever kept, over all prefixes (each replica holds the
  KV state of each, about 46 kB a token for SmolLM2-135M); past it, prefixes run uncached;
* a batch whose prompts all start with a kept prefix reuses it; otherwise the batch's shared
  prefix runs once for the batch, uncached, as before.

Kept or not, every prompt keeps ``KEEP`` tokens of its own: with a one-token remainder,
CTranslate2 4.8 returns the other rows' prompt tails as generated tokens.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from stratos.serve.decoding import PREFIX_QUANTUM, common_prefix, shared_prefix

KEEP = 2
MIN_TOKENS = 32
TOKEN_BUDGET = 4096
RECENT = 16


class PrefixCache:
    """The static-prompt choice of one CTranslate2 engine (thread-safe: replicas decode at once)."""

    def __init__(self, token_budget: int = TOKEN_BUDGET, recent: int = RECENT) -> None:
        self.token_budget = token_budget
        self.kept: list[tuple[Any, ...]] = []
        self._recent: deque[tuple[Any, ...]] = deque(maxlen=recent)
        self._lock = threading.Lock()

    def choose(self, prompts: Sequence[Sequence[Any]]) -> tuple[int, bool]:
        """(how many leading tokens of ``prompts`` run as the static prompt, whether to keep its state)."""
        with self._lock:
            kept = max((len(k) for k in self.kept if _all_start_with(prompts, k)), default=0)
            if kept:
                return kept, True
            shared = shared_prefix(prompts, keep=KEEP)
            seen = self._seen_before(prompts)
            self._recent.extend(tuple(p) for p in prompts)
            if seen > shared and seen >= MIN_TOKENS and self.kept_tokens + seen <= self.token_budget:
                self.kept.append(tuple(prompts[0][:seen]))
                return seen, True
            return shared, False

    @property
    def kept_tokens(self) -> int:
        return sum(len(k) for k in self.kept)

    def _seen_before(self, prompts: Sequence[Sequence[Any]]) -> int:
        """The most general prefix the batch shares with remembered prompts: the shortest of the
        common prefixes (rounded down) that reach ``MIN_TOKENS``. A repeated question shares all of
        its prompt with itself, but only the template with every other question."""
        first = prompts[0]
        room = min(len(p) for p in prompts) - KEEP
        if len(prompts) > 1:
            room = min(room, common_prefix(prompts))
        shared = (min(common_prefix([first, r]), room) // PREFIX_QUANTUM * PREFIX_QUANTUM for r in self._recent)
        return min((n for n in shared if n >= MIN_TOKENS), default=0)


def _all_start_with(prompts: Sequence[Sequence[Any]], prefix: tuple[Any, ...]) -> bool:
    return all(len(p) >= len(prefix) + KEEP and tuple(p[: len(prefix)]) == prefix for p in prompts)
