"""Read a dataset's rows from a local file or the Hugging Face Hub, each with where it came from.

Every row carries its location (``data/x.jsonl:12``, ``data/x.csv:7``, ``data/x.json[3]``,
``data/x.parquet row 5``, ``hf:org/name:train row 5``) so a bad row is reported by file
and line. Local paths are relative to the project root (the working directory of
``stratos`` and of the Pulumi program; on a cloud node, the unpacked source archive).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratos.exceptions import ConfigError

HUB_PREFIX = "hf:"
FORMATS = (".jsonl", ".json", ".csv", ".parquet")


@dataclass(frozen=True)
class Row:
    where: str
    fields: dict[str, Any]


def read_rows(source: str) -> list[Row]:
    """All rows of ``source`` (a local file, or ``hf:<org>/<name>[:split]``); ``ConfigError`` when unreadable."""
    if source.startswith(HUB_PREFIX):
        return _hub_rows(source)
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"task.dataset {source!r}: no such file (relative paths start at the project root)")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"task.dataset {source!r}: unknown format {suffix or '(none)'}; use one of {', '.join(FORMATS)}")
    if suffix == ".parquet":
        return _parquet_rows(path)
    text = _utf8(path)
    reader = {".jsonl": _jsonl_rows, ".json": _json_rows, ".csv": _csv_rows}[suffix]
    return list(reader(path, text))


def _utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start}); "
            "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None


def _object(where: str, value: Any) -> Row:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: a row must be an object of fields, got {type(value).__name__}")
    return Row(where, value)


def _jsonl_rows(path: Path, text: str) -> Iterator[Row]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{lineno}: not JSON ({exc.msg}); write one object per line") from None
        yield _object(f"{path}:{lineno}", value)


def _json_rows(path: Path, text: str) -> Iterator[Row]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list of objects (or {{\"data\": [...]}}), got {type(value).__name__}")
    for i, item in enumerate(value):
        yield _object(f"{path}[{i}]", item)


def _csv_rows(path: Path, text: str) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        yield Row(f"{path}:{reader.line_num}", {k: v for k, v in row.items() if k is not None})


def _parquet_rows(path: Path) -> list[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise ConfigError(f"{path}: not a readable Parquet file ({exc})") from None
    return [Row(f"{path} row {i}", r) for i, r in enumerate(table.to_pylist())]


def _hub_rows(source: str) -> list[Row]:
    """``hf:<org>/<name>[:split]`` (or ``hf:<local dir>[:split]``) through ``datasets.load_dataset``."""
    name, _, split = source[len(HUB_PREFIX):].partition(":")
    split = split or "train"
    try:
        import datasets

        ds = datasets.load_dataset(name, split=split)
    except Exception as exc:  # noqa: BLE001 - offline, missing, gated, bad split: one message
        raise ConfigError(
            f"task.dataset {source!r}: cannot load split {split!r} of {name!r} ({type(exc).__name__}: {exc}); "
            "check the name and split, and that the Hub is reachable (or the dataset is in the cache)"
        ) from None
    return [Row(f"{source} row {i}", dict(r)) for i, r in enumerate(ds)]
