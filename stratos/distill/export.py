"""Write the model artifact: merged weights, tokenizer, generation config, card, adapter, manifest.

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

from stratos.io import atomic_dir
from stratos.manifest import write_manifest


def export_artifact(model: Any, tokenizer: Any, out: str | Path, card: dict[str, Any], *, max_new_tokens: int) -> Path:
    """Save ``model`` (merging a LoRA adapter, also kept under ``adapter/``) and return the dir."""
    out = Path(out)
    with atomic_dir(out) as tmp:
        _save(model, tokenizer, tmp, card, max_new_tokens)
    write_manifest(out, extra={"task": card.get("task"), "base_model": card.get("student")})
    return out


def _save(model: Any, tokenizer: Any, tmp: Path, card: dict[str, Any], max_new_tokens: int) -> None:
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
    (tmp / "README.md").write_text(model_card(card))
    (tmp / "stratos.json").write_text(json.dumps(card, indent=2, default=str))


def model_card(c: dict[str, Any]) -> str:
    """A Hugging Face model card (YAML front matter + the facts a user asks first)."""
    m = c.get("metrics", {})
    rows = "\n".join(f"| {k} | {v} |" for k, v in c.get("table", {}).items())
    return f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [stratos, distillation, {c.get('task')}]
---
# {c.get('task')} student distilled by Stratos

| | |
|---|---|
| task | {c.get('task')} |
| teacher | {c.get('teacher')} |
| student | {c.get('student')} ({c.get('parameters', 0):,} parameters) |
| mode | {c.get('mode')} |
| test accuracy (exact) | {m.get('student_accuracy')} |
| teacher zero-shot accuracy | {m.get('teacher_accuracy')} |
{rows}

## Use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("PATH")
model = AutoModelForCausalLM.from_pretrained("PATH")
msgs = [{{"role": "user", "content": PROMPT}}]  # the task's canonical prompt
ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
print(tok.decode(model.generate(ids, max_new_tokens={c.get('max_new_tokens', 256)})[0][ids.shape[1]:]))
```

Or serve it: `stratos serve --model PATH` (OpenAI-compatible), or vLLM.

## Training

Data: {c.get('data')}. Hardware: {c.get('hardware')}. Wall time: {c.get('wall_s', 0):.0f} s.
Cost: {_cost(c)}. Seed {c.get('seed')}.
"""


def _cost(c: dict[str, Any]) -> str:
    usd = c.get("cost_usd")
    return f"${usd:.4f} at {c.get('priced_as')}" if usd is not None else "unpriced (no plan named an offering)"
