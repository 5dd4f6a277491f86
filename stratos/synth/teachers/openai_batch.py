"""Synthesis through the OpenAI Batch API: half the price, answers within the 24 h window.

Flow: the pending requests become one JSONL file (``custom_id`` + the same body a
synchronous call sends), uploaded with ``purpose=batch``; a batch is created on
``/v1/chat/completions`` and polled until it ends; the output file's answers go into the
teacher's response cache, so :meth:`OpenAITeacher.generate` assembles them like any
other. The batch id and its ``custom_id -> cache keys`` map are written beside the cache
*before* polling starts: a job killed while it waits resumes the same (already paid)
batch on its rerun instead of submitting a second one.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratos.exceptions import TeacherError
from stratos.io import json_lines

if TYPE_CHECKING:
    from stratos.synth.teachers.openai_http import Job, OpenAITeacher

ENDPOINT = "/v1/chat/completions"
DONE = {"completed", "failed", "expired", "cancelled"}


def run_batch(teacher: OpenAITeacher, jobs: list[Job]) -> set[str]:
    """Answer ``jobs`` through batches (resuming unfinished ones first); cache keys that failed back."""
    state_path = teacher.cache_path.with_suffix(".batches.json")
    state: dict[str, dict[str, list[str]]] = _read(state_path)
    for batch_id in list(state):  # a previous run's batch: collect it, never pay twice
        _collect(teacher, batch_id, state.pop(batch_id))
        _write(state_path, state)
    todo = [(body, ks) for body, ks in jobs if any(teacher.cache.get(k) is None for k in ks)]
    if not todo:
        return set()
    mapping = {f"r{i}-{ks[0][:12]}": ks for i, (_, ks) in enumerate(todo)}
    lines = [
        json.dumps({"custom_id": cid, "method": "POST", "url": ENDPOINT, "body": body})
        for cid, (body, _) in zip(mapping, todo, strict=True)
    ]
    client = teacher.client
    upload = client.files.create(file=("stratos-batch.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="batch", **teacher.extra)
    batch = client.batches.create(input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h", **teacher.extra)
    state[batch.id] = mapping
    _write(state_path, state)
    failed = _collect(teacher, batch.id, mapping)
    state.pop(batch.id, None)
    _write(state_path, state)
    return failed


def _collect(teacher: OpenAITeacher, batch_id: str, mapping: dict[str, list[str]]) -> set[str]:
    """Wait for ``batch_id`` to end and cache its answers; keys without an answer come back."""
    batch = _wait(teacher, batch_id)
    if batch.status == "failed":
        errors = getattr(getattr(batch, "errors", None), "data", None) or []
        reason = "; ".join(str(getattr(e, "message", e)) for e in errors[:3]) or "no reason given"
        raise TeacherError(f"teacher batch {batch_id} at {teacher.base_url} failed: {reason}")
    answered: set[str] = set()
    if batch.output_file_id:
        for row in json_lines(teacher.client.files.content(batch.output_file_id, **teacher.extra).text):
            resp = row.get("response") or {}
            keys = mapping.get(str(row.get("custom_id")))
            if keys and resp.get("status_code") == 200 and teacher.store(keys, resp.get("body")):
                answered.add(str(row["custom_id"]))
    return {k for cid, keys in mapping.items() if cid not in answered for k in keys}


def _wait(teacher: OpenAITeacher, batch_id: str) -> Any:
    """Poll until the batch ends; a failed poll (network blip) is retried at the next interval."""
    import openai

    while True:
        try:
            batch = teacher.client.batches.retrieve(batch_id, **teacher.extra)
            if batch.status in DONE:
                return batch
        except openai.APIConnectionError:
            pass
        time.sleep(teacher.batch_poll_s)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)
