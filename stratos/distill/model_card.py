"""The Hugging Face model card of a Stratos artifact (``README.md``).

Rendered from the run's card facts (``stratos.json``: task, teacher, student, mode,
measured metrics, data, hardware, cost). The YAML header is what the Hub indexes:
``license`` (the student's), ``base_model`` (hub students), ``datasets`` (the training
set's repo once pushed), ``model-index`` with the measured test accuracy. The usage
snippets run as written: they load ``model_ref`` (the artifact dir at export, the repo
id after ``stratos push``) and ask one real question of the task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: Licence ids the Hub recognises as they are (others become ``license: other`` + ``license_name``).
HF_LICENSES = frozenset(
    {"apache-2.0", "mit", "bsd-3-clause", "cc-by-4.0", "llama3", "llama3.1", "llama3.2", "gemma", "openrail"}
)


def model_card(c: dict[str, Any], *, model_ref: str, dataset_repo: str | None = None) -> str:
    """The card: YAML metadata, a facts table, usage that runs, and how it was trained."""
    head = yaml.safe_dump(card_metadata(c, dataset_repo), sort_keys=False, allow_unicode=True)
    return f"---\n{head}---\n{_facts(c)}\n{_usage(c, model_ref)}\n{_training(c, dataset_repo)}"


def card_metadata(c: dict[str, Any], dataset_repo: str | None = None) -> dict[str, Any]:
    """``license``, ``base_model``, ``datasets``, tags and ``model-index`` (measured accuracy)."""
    student = _model(c.get("student"))
    licence = student.licence if student else "apache-2.0"
    meta: dict[str, Any] = {"library_name": "transformers", "pipeline_tag": "text-generation"}
    meta.update({"license": licence} if licence in HF_LICENSES else {"license": "other", "license_name": licence})
    base = None
    if student is not None:
        base = student.source.partition(":")[2] if student.source.startswith("hub:") else student.hf_id
    if base:
        meta.update(base_model=base, base_model_relation="finetune")
    if dataset_repo:
        meta["datasets"] = [dataset_repo]
    task = str(c.get("task"))
    meta["tags"] = ["stratos", "distillation", task, f"knowledge-{c.get('mode')}"]
    accuracy = (c.get("metrics") or {}).get("student_accuracy")
    if accuracy is not None:
        meta["model-index"] = [{
            "name": f"{task}-student",
            "results": [{
                "task": {"type": "text-generation", "name": f"{task} (exact-match answers)"},
                "dataset": {"type": dataset_repo or f"stratos/{task}", "name": f"{task} held-out test split", "split": "test"},
                "metrics": [{"type": "accuracy", "value": round(float(accuracy), 4), "name": "exact-match accuracy"}],
            }],
        }]
    return meta


def _facts(c: dict[str, Any]) -> str:
    m, data = c.get("metrics") or {}, c.get("data") or {}
    teacher = _teacher(c.get("teacher"))
    terms = f" (licence {teacher.licence}: its terms may cover outputs used as training data)" if teacher else ""
    extra = "".join(f"| {k} | {_fmt(v)} |\n" for k, v in (c.get("table") or {}).items() if v is not None)
    return f"""
# {c.get('task')} student distilled by Stratos

| | |
|---|---|
| task | {c.get('task')} |
| teacher | {c.get('teacher')}{terms} |
| student | {c.get('student')} ({int(c.get('parameters') or 0):,} parameters) |
| mode | knowledge {c.get('mode')} |
| test accuracy (exact match, {data.get('test', '?')} held-out questions) | {_fmt(m.get('student_accuracy'))} |
| teacher zero-shot accuracy | {_fmt(m.get('teacher_accuracy'))} |
{extra}"""


def _usage(c: dict[str, Any], model_ref: str) -> str:
    local = Path(model_ref).is_absolute()
    name = Path(model_ref).name
    fetch = "" if local else f"hf download {model_ref} --local-dir {name}\n"
    served = model_ref if local else name
    return f"""## Use

With transformers:

```python
{transformers_snippet(c, model_ref)}```

Or behind an OpenAI-compatible API (`pip install 'stratos[serve]'`; vLLM serves it too: `vllm serve {model_ref}`):

```bash
{fetch}export STRATOS_API_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(32))")
stratos serve --model {served} --port 8000 &
```

```python
{openai_snippet(c, name)}```
"""


def _training(c: dict[str, Any], dataset_repo: str | None) -> str:
    data = c.get("data") or {}
    where = f"[{dataset_repo}](https://huggingface.co/datasets/{dataset_repo})" if dataset_repo else "the run's `dataset/` dir"
    return f"""## Training

{data.get('train_examples', '?')} verified examples, {_fmt(data.get('train_tokens'))} training tokens; the training
set in chat `messages` format (TRL's conversational format) is in {where}.
Hardware: {c.get('hardware')}. Wall time: {float(c.get('wall_s') or 0):.0f} s.
Cost: {_cost(c)}. Seed {c.get('seed')}.
"""


def transformers_snippet(c: dict[str, Any], model_ref: str) -> str:
    """Python that loads ``model_ref`` with transformers and answers one question of the task."""
    return f"""from transformers import AutoModelForCausalLM, AutoTokenizer

model_id = {model_ref!r}
tokenizer = AutoTokenizer.from_pretrained(model_id)
model = AutoModelForCausalLM.from_pretrained(model_id)
messages = [{{"role": "user", "content": {c.get('example_prompt') or example_prompt(str(c.get('task')))!r}}}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
output = model.generate(**inputs, max_new_tokens={_max_new(c)}, do_sample=False)
print(tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True))
"""


def openai_snippet(c: dict[str, Any], served_name: str) -> str:
    """Python that asks the served model (``stratos serve`` on port 8000) through the openai client."""
    return f"""import os

from openai import OpenAI

client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=os.environ["STRATOS_API_TOKEN"])
reply = client.chat.completions.create(
    model={served_name!r},
    messages=[{{"role": "user", "content": {c.get('example_prompt') or example_prompt(str(c.get('task')))!r}}}],
    max_tokens={_max_new(c)},
    temperature=0,
)
print(reply.choices[0].message.content)
"""


def example_prompt(task_name: str) -> str:
    """The task's canonical prompt for one generated question (a greeting for tasks not registered here)."""
    try:
        from stratos.tasks.base import get_task

        task = get_task(task_name)
        return task.prompt(task.generate(1, seed=0)[0].question)
    except Exception:  # noqa: BLE001 - a task registered elsewhere: the snippet must still run
        return "Hello!"


def _max_new(c: dict[str, Any]) -> int:
    return int(c.get("max_new_tokens") or 256)


def _model(model_id: Any) -> Any:
    """The zoo's facts for a student, or None (a dir or hub id outside the zoo)."""
    from stratos.zoo import get_model

    try:
        return get_model(str(model_id))
    except Exception:  # noqa: BLE001 - not a zoo id: no facts to add
        return None


def _teacher(teacher: Any) -> Any:
    from stratos.zoo.endpoint import teacher_model

    try:
        return teacher_model(str(teacher))
    except Exception:  # noqa: BLE001 - rules, a dir or a hub id: no facts to add
        return None


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if v <= 1 else f"{v:,.0f}"
    return "-" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def _cost(c: dict[str, Any]) -> str:
    usd = c.get("cost_usd")
    return f"${usd:.4f} at {c.get('priced_as')}" if usd is not None else "unpriced (no plan named an offering)"
