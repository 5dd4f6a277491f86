"""A tiny random-weight Llama model dir, built in about a second, for tests that need a real HF model.

Why: serving, evaluation and distillation tests need something transformers
really loads (config, safetensors, fast tokenizer with a chat template,
generation config, Stratos manifest) without shipping weights or waiting on a
135M-parameter model. The tokenizer is byte-level BPE with no merges, so every
string round-trips and token counts are predictable (one token per byte).

Usage::

    from helpers.tiny_model import make_tiny_model_dir
    model_dir = make_tiny_model_dir(tmp_path / "model")            # with manifest.json
    plain_dir = make_tiny_model_dir(tmp_path / "hf", manifest=False)  # a plain HF dir
    neo_dir = make_tiny_model_dir(tmp_path / "neo", arch="gpt_neo")   # an architecture CTranslate2 lacks
    no_bos = make_tiny_model_dir(tmp_path / "nb", bos=False)          # a tokenizer without a BOS token
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>{{ message['content'] }}</s>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
MAX_POSITIONS = 512


def make_tokenizer(bos: bool = True):
    """Byte-level BPE (no merges): 4 special tokens + 256 byte tokens, pad/eos (and bos) set."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>" if bos else None,
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=MAX_POSITIONS,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_tiny_model_dir(
    path: str | Path, *, manifest: bool = True, seed: int = 0, arch: str = "llama", bos: bool = True,
    task: str = "test",
) -> Path:
    """Write a tiny Llama (about 150K parameters) + tokenizer to ``path`` and return it.

    ``manifest=True`` also writes ``manifest.json`` (a finished Stratos
    artifact); ``manifest=False`` leaves a plain HF model dir. ``arch="gpt_neo"``
    builds a GPT-Neo instead (an architecture CTranslate2 cannot convert);
    ``bos=False`` gives the tokenizer no BOS token; ``task`` is the task the manifest names
    (the server checks that task's questions when it is registered). Deterministic under ``seed``.
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from stratos.manifest import write_manifest

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer(bos=bos)
    config = _config(arch, tokenizer)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=32,
    )
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    if manifest:
        write_manifest(path, extra={"task": task, "base_model": "tiny-random-llama"})
    return path


def _config(arch: str, tokenizer):
    from transformers import GPTNeoConfig, LlamaConfig

    ids = dict(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        max_position_embeddings=MAX_POSITIONS,
    )
    if arch == "gpt_neo":
        return GPTNeoConfig(hidden_size=64, num_layers=2, num_heads=4, attention_types=[[["global"], 2]], **ids)
    return LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        **ids,
    )
