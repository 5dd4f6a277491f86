"""The run's data as a Hugging Face dataset: chat ``messages`` rows plus a dataset card.

Why ``messages``: it is TRL's conversational format (``SFTTrainer`` applies the model's
chat template to it) and what the Hub's dataset viewer shows as a chat, so the training
set can be reused outside Stratos. Each training row is exactly the chat the student was
trained on (``training_data.prompt_target``: the task's canonical prompt, the verified
completion); the val and test splits carry the question's reference answer as the
assistant turn. Extra columns keep the provenance (``id``, ``source``, ``difficulty``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from stratos.tasks.base import Example, Task

SPLITS = {"train": "train_synth.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}


def messages_row(task: Task, ex: Example, style: str) -> dict[str, Any]:
    """One example as ``{"messages": [user, assistant], "id", "source", "difficulty"}``."""
    from stratos.distill.training_data import prompt_target

    prompt, target = prompt_target(task, ex, style)
    return {
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": target}],
        "id": ex.id,
        "source": ex.source,
        "difficulty": ex.difficulty,
    }


def write_messages_dataset(
    task: Task, splits: dict[str, list[Example]], style: str, out_dir: str | Path, facts: dict[str, Any]
) -> Path:
    """Write ``<split>.jsonl`` files and ``README.md`` (the dataset card) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, rows in splits.items():
        tmp = out / f".{split}.jsonl.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            for ex in rows:
                f.write(json.dumps(messages_row(task, ex, style), ensure_ascii=False) + "\n")
        tmp.replace(out / f"{split}.jsonl")
        counts[split] = len(rows)
    (out / "README.md").write_text(dataset_card(counts, facts))
    return out


def dataset_card(counts: dict[str, int], facts: dict[str, Any]) -> str:
    """YAML header (configs, splits, licence, task category) and what the rows are."""
    task = facts.get("task")
    total = sum(counts.values())
    size = "n<1K" if total < 1000 else "1K<n<10K" if total < 10_000 else "10K<n<100K" if total < 100_000 else "100K<n<1M"
    meta = {
        "license": "apache-2.0",
        "task_categories": ["text-generation"],
        "tags": ["stratos", "distillation", str(task), "synthetic", "conversational"],
        "size_categories": [size],
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": s, "path": f"{s}.jsonl"} for s in counts],
        }],
    }
    split_rows = "".join(f"| {s} | {n:,} |\n" for s, n in counts.items())
    return f"""---
{yaml.safe_dump(meta, sort_keys=False)}---
# {task} distillation data (Stratos)

The data a Stratos run trained its {task} student on, in chat `messages` format: a user
turn with the task's canonical prompt and an assistant turn with a completion that the
task's checker verified. Teacher: {facts.get('teacher')} (teacher outputs may also fall under
the teacher's terms); mode: knowledge {facts.get('mode')}; seed {facts.get('seed')}.

| split | rows |
|---|---|
{split_rows}
Columns: `messages` (TRL's conversational format, ready for `trl.SFTTrainer`), `id`,
`source` (how the example was made: `reverse` = built from a known answer, `teacher` =
a verified teacher output, `knowledge` = the task's rules), `difficulty`.

```python
from datasets import load_dataset

ds = load_dataset("json", data_files={{"train": "train.jsonl"}})  # or load_dataset("<repo id>")
```
"""


def export_run_dataset(run_dir: str | Path) -> Path:
    """``<run>/dataset``: the run's data splits in ``messages`` format, written if missing."""
    from stratos.synth.dataset import read_jsonl
    from stratos.tasks.base import get_task
    from stratos.tasks.loading import TaskRef

    run = Path(run_dir)
    out = run / "dataset"
    if (out / "README.md").is_file():
        return out
    config = json.loads((run / "config.json").read_text())
    card = json.loads((run / "artifact" / "stratos.json").read_text())
    task = TaskRef.model_validate(config["task_ref"]).load() if config.get("task_ref") else get_task(config["task"])
    splits = {s: read_jsonl(run / "data" / f) for s, f in SPLITS.items() if (run / "data" / f).is_file()}
    return write_messages_dataset(task, splits, config.get("target_style", "short"), out, card)
