"""Students: a small from-scratch Llama defined by config, or a pretrained HF model with LoRA.

Why Llama for from-scratch students: it is the architecture every serving
stack (transformers, vLLM, llama.cpp) supports, so the artifact needs no custom
code. LoRA target modules are chosen per architecture from the model's
``model_type`` (attention and MLP projections), falling back to every Linear
layer's leaf name when the type is unknown.
"""

from __future__ import annotations

from typing import Any

from stratos.distill.settings import ScratchArch
from stratos.exceptions import ConfigError

LORA_TARGETS: dict[str, list[str]] = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma3_text": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}


def lora_targets(model: Any) -> list[str]:
    """LoRA target module names for ``model``'s architecture."""
    mt = getattr(model.config, "model_type", "")
    if mt in LORA_TARGETS:
        return LORA_TARGETS[mt]
    import torch

    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    names.discard("lm_head")
    if not names:
        raise ConfigError(f"no Linear layers to adapt in a {mt!r} model; use a from-scratch student instead.")
    return sorted(names)


def build_scratch(tokenizer: Any, arch: ScratchArch, seed: int) -> Any:
    """A randomly initialised ``LlamaForCausalLM`` sized by ``arch`` over ``tokenizer``'s vocabulary."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_layers,
        num_attention_heads=arch.num_heads,
        num_key_value_heads=arch.num_kv_heads,
        max_position_embeddings=arch.max_positions,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
        # Math attention: compiled (see train.compiled), it trains 1.3x faster than the CPU
        # flash-attention kernel, whose backward took 40% of a step at head dim 48. Not saved
        # in config.json, so the exported model loads with the reader's default attention.
        attn_implementation="eager",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    return model


def load_pretrained_lora(
    source: str, *, r: int = 16, alpha: int = 32, dropout: float = 0.0, dtype: Any = None
) -> tuple[Any, Any]:
    """A pretrained model wrapped in a fresh LoRA adapter, and its tokenizer.

    ``dtype`` is the frozen base's (bf16 on CUDA halves its memory, what the planner prices: see
    ``stratos.distill.parallel``); PEFT keeps the adapter weights in fp32 either way.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stratos.zoo.offline import resolve_model_source

    path = resolve_model_source(source)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, **({"dtype": dtype} if dtype is not None else {}))
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=lora_targets(model), task_type="CAUSAL_LM")
    return get_peft_model(model, cfg), tokenizer
