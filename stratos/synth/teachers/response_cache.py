"""Teacher answers already paid for, kept on disk so a rerun asks only for the rest.

Why: synthesis against a priced API is the run's only step that costs money per call;
when it dies halfway (a crash, a preempted node, a later request that fails for good),
the answers received so far must not be bought again. Each answer is appended to a
JSONL file as it arrives (one line per sample, keyed by a hash of the exact request
and the sample's index), so at most the answers in flight are lost. A torn last line
from a crash is skipped when the file is read back. Failed requests are never stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from stratos.io import json_lines


def request_key(body: dict[str, Any], sample: int) -> str:
    """Stable id of one sample of one request (everything that changes the answer)."""
    ident = {k: v for k, v in body.items() if k not in ("n", "stream")}
    raw = json.dumps({"body": ident, "sample": sample}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class ResponseCache:
    """Append-only ``key -> text`` store in one JSONL file; safe to share between threads."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        if self.path is not None and self.path.is_file():
            for row in json_lines(self.path.read_text(errors="replace")):
                if isinstance(row.get("key"), str) and isinstance(row.get("text"), str):
                    self._data[row["key"]] = row["text"]

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def put(self, key: str, text: str) -> None:
        """Remember ``text`` and append it to the file (flushed: it was paid for)."""
        with self._lock:
            self._data[key] = text
            if self.path is None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(json.dumps({"key": key, "text": text}) + "\n")
