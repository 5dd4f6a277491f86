"""Write the model artifact: merged weights, tokenizer, generation config, card (``model_card``), adapter, manifest.

Written into a temporary dir and renamed into place, with ``manifest.json``
last (``stratos.manifest``), so an artifact dir with a manifest is complete.
The merged model is a plain transformers checkpoint (Llama for from-scratch
students, the base architecture for LoRA ones): transformers and vLLM load it
without Stratos or peft installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stratos.distill.model_card import model_card
from stratos.io import atomic_dir
from stratos.manifest import write_manifest


def export_artifact(model: Any, tokenizer: Any, out: str | Path, card: dict[str, Any], *, max_new_tokens: int) -> Path:
    """Save ``model`` (merging a LoRA adapter, also kept under ``adapter/``) and return the dir."""
    out = Path(out)
    with atomic_dir(out) as tmp:
        _save(model, tokenizer, tmp, card, max_new_tokens, model_ref=str(out.resolve()))
    write_manifest(out, extra={"task": card.get("task"), "base_model": card.get("student")})
    return out


def _save(model: Any, tokenizer: Any, tmp: Path, card: dict[str, Any], max_new_tokens: int, *, model_ref: str) -> None:
    from transformers import GenerationConfig

    if hasattr(model, "peft_config"):
        model.save_pretrained(tmp / "adapter")
        model = model.merge_and_unload()
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=getattr(tokenizer, "bos_token_id", None),
        do_sample=False,
        max_new_tokens=max_new_tokens,
    )
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "README.md").write_text(model_card(card, model_ref=model_ref))
    (tmp / "stratos.json").write_text(json.dumps(card, indent=2, default=str))

