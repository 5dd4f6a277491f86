"""CTranslate2's kept static prompts: a prefix is kept once a later prompt shares it, within a
token budget, and answers are the same as without it."""

from __future__ import annotations

import pytest
from helpers.tiny_model import make_tiny_model_dir

from stratos.serve.ct2_engine import CT2Engine
from stratos.serve.engine import GenerationEngine
from stratos.serve.prefix_cache import KEEP, MIN_TOKENS, PrefixCache

TEMPLATE = list(range(1000, 1050))  # 50 tokens every prompt starts with


def _prompt(*question: int) -> list[int]:
    return TEMPLATE + list(question)


def test_a_prefix_is_kept_once_a_second_prompt_shares_it():
    cache = PrefixCache()
    assert cache.choose([_prompt(1, 2, 3, 4)]) == (0, False)  # a lone first prompt: nothing shared yet
    n, keep = cache.choose([_prompt(5, 6, 7, 8)])
    assert keep and n == 48  # the shared 50 tokens, rounded down to the quantum of 16
    assert cache.kept == [tuple(TEMPLATE[:48])]
    assert cache.choose([_prompt(9, 9, 9)]) == (48, True)  # reused, nothing new kept
    assert cache.kept_tokens == 48


def test_a_batch_reuses_a_kept_prefix_only_when_every_row_starts_with_it():
    cache = PrefixCache()
    cache.choose([_prompt(1, 2)])
    cache.choose([_prompt(3, 4)])
    assert cache.choose([_prompt(5, 6), _prompt(7, 8)]) == (48, True)
    other = list(range(2000, 2040))
    n, keep = cache.choose([_prompt(5, 6), other])
    assert (n, keep) == (0, False)  # nothing shared by the batch: no static prompt


def test_short_prefixes_are_not_kept_and_each_prompt_keeps_tokens_of_its_own():
    cache = PrefixCache()
    short = list(range(MIN_TOKENS - 1))
    cache.choose([short + [1, 2]])
    assert cache.choose([short + [3, 4]]) == (0, False)
    cache = PrefixCache()
    cache.choose([TEMPLATE[:48] + [1]])
    n, _ = cache.choose([TEMPLATE[:48] + [2]])
    assert n <= 49 - KEEP and n % 16 == 0


def test_the_kept_tokens_stay_within_the_budget():
    cache = PrefixCache(token_budget=100)
    for start in range(0, 10_000, 1_000):
        family = list(range(start, start + 64))
        cache.choose([family + [1, 2]])
        cache.choose([family + [3, 4]])
    assert cache.kept_tokens <= 100 and len(cache.kept) == 1
    # Past the budget a batch still runs its shared prefix once, uncached.
    family = list(range(50_000, 50_064))
    assert cache.choose([family + [1, 2], family + [3, 4]]) == (64, False)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("prefix") / "tiny")


def test_answers_with_a_kept_prefix_are_the_ones_without(model_dir):
    system = "You answer questions about tiles in a hand of Mahjong, one per line, and nothing else. " * 2
    prompts = [system + q for q in ("1112345678999m", "123m456p789s1122z", "2345m", "hello there", "x" * 9)]
    hf = GenerationEngine.from_dir(model_dir, threads=1, dtype="float32")
    ct2 = CT2Engine.from_dir(model_dir, quantization="float32", threads=1)
    ours = [ct2.generate([p], max_new_tokens=12)[0] for p in prompts]
    assert ct2.prefixes.kept_tokens >= MIN_TOKENS and ct2.describe()["kept_prefix_tokens"] == ct2.prefixes.kept_tokens
    assert ours == [hf.generate([p], max_new_tokens=12)[0] for p in prompts]
    assert ct2.generate(prompts, max_new_tokens=12) == ours  # a batch over the kept prefix


def test_a_repeated_question_does_not_keep_its_whole_prompt_once_others_are_seen():
    cache = PrefixCache()
    cache.choose([_prompt(*range(100, 140))])
    cache.choose([_prompt(*range(200, 240))])  # keeps the template (48)
    repeat = _prompt(*range(300, 340))
    cache.choose([repeat])
    assert cache.choose([repeat]) == (48, True)
    assert cache.kept == [tuple(TEMPLATE[:48])]
