"""JSONL datasets of ``Example`` rows (one JSON object per line, the dataclass's fields).

Written atomically (temp file + rename) so a killed job never leaves a
half-written dataset that a resumed job would trust.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from stratos.io import atomic_open
from stratos.tasks.base import Example

SCHEMA = ["id", "question", "answer", "difficulty", "source", "rationale", "meta"]


def write_jsonl(path: str | Path, examples: Iterable[Example]) -> Path:
    with atomic_open(path) as f:
        for ex in examples:
            f.write(json.dumps(asdict(ex), sort_keys=True) + "\n")
    return Path(path)


def read_jsonl(path: str | Path) -> list[Example]:
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                out.append(Example(**{k: row[k] for k in SCHEMA if k in row}))
    return out
