"""The transformers engine's CPU decoding aids change speed, never answers: a KV cache that grows
in place holds what transformers' own cache holds through every cache operation, and bf16 linear
layers packed once for oneDNN compute what the plain layers compute."""

from __future__ import annotations

import pytest
import torch
from helpers.tiny_model import make_tiny_model_dir
from transformers.cache_utils import DynamicLayer

from stratos.device import bf16_supported
from stratos.serve import kv_cache, packed_linear
from stratos.serve.engine import GenerationEngine
from stratos.serve.kv_cache import GROWTH, GrowingLayer

PROMPTS = ["<|user|>1112345678999m", "<|user|>123m456p789s1122z and more words", "<|user|>9s"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("cpu-decoding") / "tiny")


def _states(rows: int, tokens: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 2, tokens, 4, generator=g), torch.randn(rows, 2, tokens, 4, generator=g)


def test_a_growing_layer_holds_what_a_dynamic_layer_holds_through_every_cache_operation():
    plain, growing = DynamicLayer(), GrowingLayer()
    operations = [
        lambda layer: None,
        lambda layer: layer.batch_select_indices(torch.tensor([0, 2])),  # a row finished
        lambda layer: layer.batch_repeat_interleave(2),  # a shared prefix copied per row
        lambda layer: setattr(layer, "keys", layer.keys[..., 3:, :]) or setattr(layer, "values", layer.values[..., 3:, :]),
    ]
    rows = 3
    for step, operate in enumerate(operations * 3):
        keys, values = _states(rows, 5 if step == 0 else 1, seed=step)
        expected, got = plain.update(keys, values), growing.update(keys, values)
        for e, g in zip(expected, got, strict=True):
            assert torch.equal(e, g)
        operate(plain)
        operate(growing)
        rows = plain.keys.shape[0]
        assert torch.equal(plain.keys, growing.keys) and torch.equal(plain.values, growing.values)


def test_a_growing_layer_appends_in_place_until_its_buffer_is_full():
    layer = GrowingLayer()
    layer.update(*_states(2, 10, seed=0))
    buffer = layer.keys.data_ptr()
    for step in range(GROWTH):
        layer.update(*_states(2, 1, seed=step + 1))
        assert layer.keys.data_ptr() == buffer
    layer.update(*_states(2, 1, seed=99))
    assert layer.keys.data_ptr() != buffer and layer.get_seq_length() == 10 + GROWTH + 1


def _answers(engine: GenerationEngine) -> list[str]:
    return [r.text for r in engine.generate(PROMPTS * 2, max_new_tokens=40)]


def test_engine_answers_are_the_same_with_transformers_own_cache(model_dir, monkeypatch):
    engine = GenerationEngine.from_dir(model_dir, threads=1, dtype="float32")
    assert all(type(layer) is GrowingLayer for layer in kv_cache.new_cache(engine.model).layers)
    ours = _answers(engine)
    monkeypatch.setattr(GenerationEngine, "_new_cache", lambda self: None)
    assert _answers(engine) == ours


def test_bf16_linear_layers_are_packed_once_and_compute_the_same(model_dir, monkeypatch):
    engine = GenerationEngine.from_dir(model_dir, threads=1, dtype="bfloat16")
    packed = [m for m in engine.model.modules() if isinstance(m, packed_linear.PackedLinear)]
    plain = [m for m in engine.model.modules() if type(m) is torch.nn.Linear]
    if not bf16_supported("cpu"):  # emulated bf16: the plain layers stay
        assert not packed and plain
        return
    assert packed and not plain
    ours = _answers(engine)
    monkeypatch.setattr(packed_linear, "pack", lambda model: 0)
    assert _answers(GenerationEngine.from_dir(model_dir, threads=1, dtype="bfloat16")) == ours


def test_a_packed_layer_matches_the_linear_it_replaces():
    if not bf16_supported("cpu"):
        assert packed_linear.pack(torch.nn.Sequential(torch.nn.Linear(8, 4).bfloat16())) == 0
        return
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48).bfloat16()
    x = torch.randn(3, 5, 64, dtype=torch.bfloat16)
    out = packed_linear.PackedLinear(linear)(x)
    assert out.shape == (3, 5, 48)
    torch.testing.assert_close(out.float(), linear(x).float(), atol=2e-2, rtol=2e-2)


def test_float32_models_are_not_packed():
    model = torch.nn.Sequential(torch.nn.Linear(8, 4))
    assert packed_linear.pack(model) == 0 and type(model[0]) is torch.nn.Linear
