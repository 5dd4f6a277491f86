"""The vLLM engine adapter against a stand-in ``vllm`` module (no GPU here): requests map onto
``LLM.generate`` one-to-one and results come back in the engine's shape; auto picks vLLM only with a GPU.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import pytest
from helpers.tiny_model import make_tokenizer

from stratos.serve import engines
from stratos.serve.decoding import SamplingParams


@dataclass
class _Params:
    max_tokens: int
    temperature: float
    top_p: float
    stop: list | None
    seed: int | None
    skip_special_tokens: bool = True


@dataclass
class _Out:
    text: str
    token_ids: list
    finish_reason: str


@dataclass
class _LLM:
    model: str
    dtype: str = "auto"
    max_model_len: int = 512
    calls: list = field(default_factory=list)

    def get_tokenizer(self):
        return make_tokenizer()

    @property
    def llm_engine(self):
        return types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=self.max_model_len))

    def generate(self, prompts, sampling_params, use_tqdm=True):
        self.calls.append((prompts, sampling_params))
        outs = []
        for _p, sp in zip(prompts, sampling_params, strict=True):
            n = min(3, sp.max_tokens)
            outs.append(types.SimpleNamespace(outputs=[_Out("abc"[:n], [70 + i for i in range(n)],
                                                            "length" if n == sp.max_tokens else "stop")]))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM = _LLM
    mod.SamplingParams = _Params
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda prompt_token_ids: {"prompt_token_ids": prompt_token_ids}
    monkeypatch.setitem(sys.modules, "vllm", mod)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)
    return mod


def test_requests_map_onto_llm_generate(fake_vllm, tmp_path):
    engine = engines.load_engine(tmp_path, engine="vllm", name="tiny")
    assert engine.kind == "vllm" and engine.max_context == 512
    params = [SamplingParams(2), SamplingParams(8, temperature=0.7, top_p=0.9, stop=("\n",), seed=3)]
    pieces: list[tuple[int, str]] = []
    out = engine.generate_batch(["hi", "there"], params, on_text=lambda i, t: pieces.append((i, t)))
    [(prompts, sent)] = engine.llm.calls
    assert [p["prompt_token_ids"] for p in prompts] == [engine.encode("hi"), engine.encode("there")]
    assert (sent[0].temperature, sent[0].max_tokens, sent[0].stop, sent[0].seed) == (0.0, 2, None, None)
    assert (sent[1].temperature, sent[1].top_p, sent[1].stop, sent[1].seed) == (0.7, 0.9, ["\n"], 3)
    assert [(r.text, r.completion_tokens, r.finish_reason) for r in out] == [("ab", 2, "length"), ("abc", 3, "stop")]
    assert pieces == [(0, "ab"), (1, "abc")]


def test_auto_picks_vllm_only_with_a_gpu(fake_vllm, monkeypatch):
    import importlib.util

    import torch

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "vllm" else real_find_spec(n, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not engines.gpu_engine_available()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert engines.gpu_engine_available()
