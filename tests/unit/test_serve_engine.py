"""GenerationEngine: batched decoding matches one-at-a-time, and sampling/stop/length behave."""

from __future__ import annotations

import pytest
from helpers.tiny_model import make_tiny_model_dir

from stratos.exceptions import RequestError
from stratos.serve.engine import GenerationEngine, SamplingParams

PROMPTS = ["hello", "a much longer prompt than the first", "mid length"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return GenerationEngine.from_dir(
        make_tiny_model_dir(tmp_path_factory.mktemp("tiny")), threads=1
    )


def test_batched_greedy_equals_one_at_a_time(engine):
    # Left padding + mask-derived positions: padding must not change any row's output.
    batched = engine.generate(PROMPTS, max_new_tokens=12)
    single = [engine.generate([p], max_new_tokens=12)[0] for p in PROMPTS]
    assert [r.token_ids for r in batched] == [r.token_ids for r in single]
    assert [r.text for r in batched] == [r.text for r in single]


def test_rows_with_different_lengths_leave_the_batch(engine):
    params = [SamplingParams(max_new_tokens=n) for n in (3, 9, 5)]
    out = engine.generate_batch(PROMPTS, params)
    assert [r.completion_tokens for r in out] == [3, 9, 5]
    assert all(r.finish_reason == "length" for r in out)
    # The long row's tokens are the same as when it decodes alone.
    alone = engine.generate([PROMPTS[1]], max_new_tokens=9)[0]
    assert out[1].token_ids == alone.token_ids


def test_token_accounting(engine):
    out = engine.generate(["abc"], max_new_tokens=4)[0]
    assert (
        out.prompt_tokens == engine.count_tokens("abc") == 3
    )  # byte-level tokenizer: one per byte
    assert out.completion_tokens == len(out.token_ids) == 4


def test_stop_string_truncates_and_finishes(engine):
    free = engine.generate(["hello"], max_new_tokens=10)[0]
    stop = free.text[3:5]
    out = engine.generate(["hello"], max_new_tokens=10, stop=[stop])[0]
    assert out.finish_reason == "stop"
    assert out.text == free.text[: free.text.find(stop)]


def test_eos_finishes_with_stop(engine):
    greedy_first = engine.generate(["hello"], max_new_tokens=1)[0].token_ids[0]
    engine.eos_ids.add(greedy_first)
    try:
        out = engine.generate(["hello"], max_new_tokens=10)[0]
    finally:
        engine.eos_ids.discard(greedy_first)
    assert out.finish_reason == "stop" and out.completion_tokens == 0 and out.text == ""


def test_seeded_sampling_is_reproducible_and_differs_from_greedy(engine):
    a = engine.generate(["hello"] * 2, max_new_tokens=16, temperature=1.5, seed=7)
    b = engine.generate(["hello"] * 2, max_new_tokens=16, temperature=1.5, seed=7)
    greedy = engine.generate(["hello"], max_new_tokens=16)[0]
    assert a[0].token_ids == b[0].token_ids
    assert a[0].token_ids != greedy.token_ids


def test_tiny_top_p_is_greedy(engine):
    # top_p so small that only the most likely token survives: sampling must equal greedy.
    sampled = engine.generate(["hello"], max_new_tokens=8, temperature=1.0, top_p=1e-6, seed=3)[0]
    assert sampled.token_ids == engine.generate(["hello"], max_new_tokens=8)[0].token_ids


def test_streamed_pieces_add_up_to_the_text(engine):
    pieces: dict[int, list[str]] = {0: [], 1: []}
    out = engine.generate_batch(
        PROMPTS[:2],
        [SamplingParams(8), SamplingParams(5)],
        on_text=lambda i, t: pieces[i].append(t),
    )
    assert ["".join(pieces[i]) for i in (0, 1)] == [out[0].text, out[1].text]
    assert len(pieces[0]) > 1  # streamed in several pieces, not one at the end


def test_prompt_over_context_is_a_request_error(engine):
    with pytest.raises(RequestError, match="context"):
        engine.generate(["x" * (engine.max_context - 2)], max_new_tokens=8)


@pytest.mark.parametrize(
    "kwargs", [{"temperature": -0.1}, {"temperature": 2.5}, {"top_p": 0.0}, {"max_new_tokens": 0}]
)
def test_out_of_range_params_are_rejected(kwargs):
    with pytest.raises(RequestError):
        SamplingParams(**kwargs)


def test_chat_applies_the_template(engine):
    conv = [{"role": "user", "content": "hi"}]
    assert engine.render_chat(conv) == "<|user|>hi</s>\n<|assistant|>"
    assert (
        engine.chat([conv], max_new_tokens=5)[0].token_ids
        == engine.generate([engine.render_chat(conv)], max_new_tokens=5)[0].token_ids
    )


def test_missing_dir_is_an_artifact_error(tmp_path):
    from stratos.exceptions import ArtifactError

    with pytest.raises(ArtifactError, match="does not exist"):
        GenerationEngine.from_dir(tmp_path / "nope")


def test_empty_prompt_starts_from_bos(engine):
    # Found by the schemathesis run: an empty prompt used to crash the forward pass.
    out = engine.generate(["", "hello"], max_new_tokens=3)
    assert out[0].completion_tokens == 3 and out[0].prompt_tokens == 1
    assert out[1].token_ids == engine.generate(["hello"], max_new_tokens=3)[0].token_ids


def test_vanishing_temperature_is_greedy(engine):
    # Found by the schemathesis run: T=1e-300 made logits/T overflow into NaN probabilities.
    out = engine.generate(["hello"], max_new_tokens=6, temperature=1e-300, seed=1)[0]
    assert out.token_ids == engine.generate(["hello"], max_new_tokens=6)[0].token_ids


def test_rows_joining_mid_decode_match_decoding_alone(engine):
    # Continuous batching: B and C are prefilled while A is 4 tokens in, and merged into its
    # batch (different cache lengths, left-padded); every row must still decode as if alone.
    from stratos.serve.engine import Request

    def req(prompt: str, n: int) -> Request:
        return Request(engine.encode(prompt), SamplingParams(n), tag=prompt)

    running, done = engine.prefill([req("a much longer prompt than the first", 12)])
    for _ in range(4):
        done += engine.step(running)
    joined, more = engine.prefill([req("hi", 6), req("mid length", 9)])
    done += more
    assert engine.can_merge(running)
    running = engine.merge(running, joined)
    assert len(running) == 3
    while len(running):
        done += engine.step(running)
    results = dict(done)
    for prompt, n in [("a much longer prompt than the first", 12), ("hi", 6), ("mid length", 9)]:
        alone = engine.generate([prompt], max_new_tokens=n)[0]
        assert results[prompt].token_ids == alone.token_ids, prompt


def test_top_p_below_float32_range_keeps_the_top_token(engine):
    # Found by the schemathesis run: top_p=1e-50 rounds to 0 in float32 and cut every token.
    out = engine.generate(["hello"], max_new_tokens=4, temperature=1.0, top_p=1e-50, seed=2)[0]
    assert out.token_ids == engine.generate(["hello"], max_new_tokens=4)[0].token_ids


def test_wrapping_a_training_model_leaves_it_as_it_was(tmp_path):
    # The distillation job evaluates the model it is training: generation must not switch
    # it out of train mode or change its tokenizer.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = make_tiny_model_dir(tmp_path / "m", manifest=False)
    model = AutoModelForCausalLM.from_pretrained(path).train()
    tok = AutoTokenizer.from_pretrained(path)
    side = tok.padding_side
    out = GenerationEngine(model, tok).generate(["hi", "hello there"], max_new_tokens=3)
    assert [o.completion_tokens for o in out] == [3, 3]
    assert model.training and tok.padding_side == side
