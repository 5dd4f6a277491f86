"""Offline teacher weights: the packaged SmolLM2 GGUF converts once to a cached HF dir."""

from __future__ import annotations

import pytest

from stratos.zoo.offline import find_smollm2_gguf, offline_gguf, resolve_model_source


def test_unknown_names_pass_through_to_from_pretrained(tmp_path):
    assert offline_gguf("org/some-model") is None
    assert resolve_model_source("org/some-model") == "org/some-model"
    assert resolve_model_source(str(tmp_path)) == str(tmp_path)


@pytest.mark.slow
def test_smollm2_gguf_converts_once_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATOS_CACHE", str(tmp_path))
    assert find_smollm2_gguf().is_file()
    path = resolve_model_source("smollm2-135m-instruct")
    assert path.startswith(str(tmp_path)) and not list(tmp_path.glob("hf/*.tmp*"))
    from transformers import AutoConfig, AutoTokenizer

    assert AutoConfig.from_pretrained(path).model_type == "llama"
    assert AutoTokenizer.from_pretrained(path).chat_template
    assert resolve_model_source("HuggingFaceTB/SmolLM2-135M-Instruct") == path  # cached: no second conversion
