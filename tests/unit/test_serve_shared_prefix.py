"""A batch's shared prompt prefix runs once, and the answers stay each prompt's own; a local
teacher decodes its batches on whichever engine a batched burst found faster."""

from __future__ import annotations

import json

import pytest
from helpers.tiny_model import make_tiny_model_dir

from stratos.serve import ct2_tuning
from stratos.serve.ct2_engine import CT2Engine
from stratos.serve.decoding import PREFIX_QUANTUM, SamplingParams, shared_prefix
from stratos.serve.engine import GenerationEngine
from stratos.serve.engines import load_batch_engine
from stratos.synth.teachers.local_hf import LocalHFTeacher

# The tiny model's tokenizer makes one token per byte: 41 shared tokens with the BOS.
PREAMBLE = "Rules: answer with the tiles that complete "
QUESTIONS = ["", "1", "12", "123m", "1112345678999m", "2345m and then some more text", "123m"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("prefix") / "tiny")


@pytest.fixture(scope="module")
def engines(model_dir):
    return {
        "transformers": GenerationEngine.from_dir(model_dir, threads=1, dtype="float32"),
        "ctranslate2": CT2Engine.from_dir(model_dir, quantization="float32", threads=1),
    }


@pytest.mark.parametrize(
    ("prompts", "keep", "shared"),
    [
        ([list(range(40)) + [1], list(range(40)) + [2, 3]], 1, 32),  # rounded down to the quantum
        ([list(range(40)), list(range(40))], 1, 32),  # identical prompts keep a token each
        ([list(range(17)), list(range(17))], 2, 0),  # 15 shareable tokens: not worth a pass
        ([list(range(18)), list(range(18))], 2, 16),
        ([list(range(40))], 1, 0),  # a lone prompt
        ([[1] * 40, [2] * 40], 1, 0),  # nothing shared
    ],
)
def test_the_shared_prefix_is_rounded_down_and_leaves_each_prompt_its_own_tokens(prompts, keep, shared):
    assert shared_prefix(prompts, keep=keep) == shared
    assert shared % PREFIX_QUANTUM == 0


@pytest.mark.parametrize("kind", ["transformers", "ctranslate2"])
def test_a_batch_sharing_a_prefix_answers_as_each_prompt_alone(engines, kind, monkeypatch):
    engine = engines[kind]
    prompts = [PREAMBLE + q for q in QUESTIONS]
    assert shared_prefix([engine.encode(p) for p in prompts], keep=2) >= 32
    params = [SamplingParams(n) for n in (9, 4, 12, 1, 9, 7, 12)]
    alone = [engine.generate_batch([p], [s])[0] for p, s in zip(prompts, params, strict=True)]
    used = _spy_on_the_shared_pass(engine, monkeypatch)
    assert engine.generate_batch(prompts, params) == alone
    assert used == [True]
    assert len(alone[2].text) >= 4
    stop = SamplingParams(12, stop=(alone[2].text[2:4],))
    stopped = engine.generate_batch([prompts[2]], [stop])[0]
    streamed: dict[int, str] = {}
    out = engine.generate_batch(prompts[:3], [params[0], params[1], stop],
                                on_text=lambda i, d: streamed.update({i: streamed.get(i, "") + d}))
    assert out == [alone[0], alone[1], stopped] and stopped.finish_reason == "stop"
    assert [streamed.get(i, "") for i in range(3)] == [r.text for r in out]


def test_the_transformers_engine_sees_the_same_logits_with_a_shared_prefix(engines, monkeypatch):
    """Greedy tokens of a tiny random model hardly move with a position off by one; logits do."""
    engine = engines["transformers"]
    prompts = [PREAMBLE + q for q in QUESTIONS]
    seen: list = []
    sample = engine._sample
    monkeypatch.setattr(engine, "_sample", lambda logits, rows: seen.append(logits.clone()) or sample(logits, rows))
    engine.generate(prompts, max_new_tokens=3)
    monkeypatch.setattr("stratos.serve.engine.shared_prefix", lambda prompts, keep=1: 0)
    engine.generate(prompts, max_new_tokens=3)
    assert len(seen) == 6 and all(seen[i].shape == seen[i + 3].shape for i in range(3))
    for shared, whole in zip(seen[:3], seen[3:], strict=True):
        assert (shared - whole).abs().max() < 1e-4


def test_both_engines_agree_on_a_shared_prefix_batch(engines):
    prompts = [PREAMBLE + q for q in QUESTIONS]
    assert engines["ctranslate2"].generate(prompts, max_new_tokens=10) == engines["transformers"].generate(
        prompts, max_new_tokens=10
    )


def _spy_on_the_shared_pass(engine, monkeypatch) -> list[bool]:
    """Records, per batch, whether the engine ran a shared prefix apart from the rows."""
    used: list[bool] = []
    if engine.kind == "ctranslate2":
        real = engine.generator

        class Spy:
            def __getattr__(self, name):
                return getattr(real, name)

            def generate_batch(self, tokens, **kw):
                used.append(kw.get("static_prompt") is not None)
                return real.generate_batch(tokens, **kw)

        monkeypatch.setattr(engine, "generator", Spy())
    else:
        run = engine._run

        def spy(input_ids, mask, positions, cache):
            if cache is None or cache.get_seq_length() == 0:  # a batch's first pass
                used.append(input_ids.shape[0] == 1 and mask is None)
            return run(input_ids, mask, positions, cache)

        monkeypatch.setattr(engine, "_run", spy)
    return used


# ---------------------------------------------------------------- the engine for batches
def test_the_engine_for_batches_is_measured_once_and_remembered(tmp_path, monkeypatch):
    d = make_tiny_model_dir(tmp_path / "m")
    monkeypatch.setattr(ct2_tuning, "batch_rate", lambda e: {"ctranslate2": 10.0, "transformers": 20.0}[e.kind])
    assert load_batch_engine(d, threads=1, dtype="float32").kind == "transformers"
    (record,) = (tmp_path / "m.ct2").glob("batch-*.json")
    saved = json.loads(record.read_text())
    assert saved["chosen"] == "transformers" and saved["tokens_per_s"] == {"ctranslate2": 10.0, "transformers": 20.0}

    def no_measuring(_engine):
        raise AssertionError("measured again")

    monkeypatch.setattr(ct2_tuning, "batch_rate", no_measuring)
    teacher = LocalHFTeacher(str(d), threads=1, dtype="float32", device="cpu")
    assert teacher.engine.kind == "transformers"
    chat = teacher.engine.chat([[{"role": "user", "content": "2+2="}]], max_new_tokens=4)[0].text
    assert teacher.generate(["2+2="], max_new_tokens=4) == [[chat]]


def test_a_remembered_ctranslate2_choice_loads_no_transformers_engine(tmp_path, monkeypatch):
    d = make_tiny_model_dir(tmp_path / "m")
    monkeypatch.setattr(ct2_tuning, "batch_rate", lambda e: {"ctranslate2": 30.0, "transformers": 20.0}[e.kind])
    assert load_batch_engine(d, threads=1, dtype="float32").kind == "ctranslate2"

    def no_loading(*_a, **_k):
        raise AssertionError("loaded the transformers engine")

    monkeypatch.setattr(GenerationEngine, "from_dir", no_loading)
    assert load_batch_engine(d, threads=1, dtype="float32").kind == "ctranslate2"


def test_a_model_ctranslate2_cannot_convert_decodes_batches_on_transformers(tmp_path):
    d = make_tiny_model_dir(tmp_path / "neo", arch="gpt_neo")
    assert load_batch_engine(d, threads=1, dtype="float32").kind == "transformers"


# ---------------------------------------------------------------- attention without key/value copies
def test_grouped_query_attention_under_a_mask_gives_transformers_sdpa_numbers(model_dir):
    """The tiny model has 4 query heads over 2 key/value heads; a padded batch has a mask."""
    import torch

    engine = GenerationEngine.from_dir(model_dir, threads=1, dtype="float32")
    assert engine.model.config._attn_implementation == "stratos_sdpa"
    ids = torch.tensor([[0, 0, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    calls: list[bool] = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kw):
        calls.append(kw.get("enable_gqa", False))
        return real(*args, **kw)

    with torch.no_grad(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
        ours = engine.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        engine.model.set_attn_implementation("sdpa")
        theirs = engine.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    layers = engine.model.config.num_hidden_layers
    assert calls == [True] * layers + [False] * layers  # grouped under the mask, then transformers' copies
    assert (ours - theirs)[mask.bool()].abs().max() < 1e-5
