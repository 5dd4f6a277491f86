"""``manifest.json``: the sha256 of every file in a model artifact.

Written last by the job (so its presence means the artifact is complete) and
verified by the server before it reports healthy, so a truncated upload or a
corrupted file is refused instead of served.

Format::

    {"format": "stratos-artifact/1", "files": {"model.safetensors": "<sha256>", ...}, ...extra}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from stratos.exceptions import ArtifactError
from stratos.io import atomic_write_json

MANIFEST = "manifest.json"
FORMAT = "stratos-artifact/1"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_manifest(root: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Hash every file under ``root`` (except the manifest) and write ``manifest.json``."""
    root = Path(root)
    files = {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    body = {"format": FORMAT, "files": files, **(extra or {})}
    out = root / MANIFEST
    atomic_write_json(out, body, sort_keys=True)
    return out


def manifest_hash(root: str | Path) -> str:
    """sha256 of the manifest itself: one id for the whole artifact's content."""
    return sha256_file(Path(root) / MANIFEST)


def verify_manifest(root: str | Path) -> dict[str, Any]:
    """Check every listed file exists with its hash; raise ``ArtifactError`` naming the bad ones."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise ArtifactError(
            f"{root} has no {MANIFEST}: it is not a finished Stratos artifact. "
            "Re-run the distillation job, or pass a plain HF model dir with --no-verify."
        )
    try:
        body = json.loads(path.read_text())
        files: dict[str, str] = body["files"]
    except (ValueError, KeyError) as exc:
        raise ArtifactError(f"{path} is not a valid manifest ({exc}).") from exc
    missing = [f for f in files if not (root / f).is_file()]
    bad = [f for f, digest in files.items() if f not in missing and sha256_file(root / f) != digest]
    if missing or bad:
        raise ArtifactError(
            f"artifact {root} failed verification: missing {missing or 'none'}, "
            f"checksum mismatch {bad or 'none'}. The artifact is corrupted; re-run the job "
            "or restore it from the artifact store."
        )
    return body
