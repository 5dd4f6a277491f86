"""Convert a Hugging Face causal LM to CTranslate2 once, cache it, and check it on every load.

The artifact stays a Hugging Face dir; the converted model is a cache entry
derived from it:

* **Where**: beside the artifact (``<dir>.ct2/``) when that folder is
  writable, else under ``$STRATOS_CACHE/ct2`` (or ``~/.cache/stratos/ct2``).
* **Key**: the artifact's content id (the sha256 of its ``manifest.json``, or
  of every file's hash for a plain HF dir), the quantization and the
  CTranslate2 version. When the artifact changes its key changes, so the
  stale entry is never used (and is removed); entries are written to a
  temporary dir and renamed, so a half-written one never exists.
* **Checked**: each entry holds ``stratos-ct2.json`` with the sha256 of its
  own files and the source id; a file that does not match is refused
  (``ArtifactError``) instead of served.

Conversion problems are fixed in code, not by hand: a tokenizer with no BOS
token makes the converter write ``"bos_token": null``, which the runtime
rejects; our engine always passes explicit start tokens, so the EOS token
stands in. Models can also be converted straight from memory (the job
evaluates the student it is training without writing it out first).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stratos.exceptions import ArtifactError
from stratos.manifest import MANIFEST, sha256_file

log = logging.getLogger("stratos.serve")

CT2_MANIFEST = "stratos-ct2.json"
FORMAT = "stratos-ct2/1"
QUANTIZATIONS = ("float32", "int8")


class UnsupportedModel(Exception):
    """CTranslate2 cannot run this model (architecture, vocabulary or library missing); says why."""


#: CTranslate2's GEMM library, read once when ``ctranslate2`` is first imported: oneDNN on every CPU
#: (``$CT2_USE_MKL`` set by the user wins). CTranslate2 picks Intel MKL on Intel CPUs and oneDNN
#: elsewhere. On a 2-core Intel Xeon, MKL's packed SGEMM made a step split over two threads slower
#: than one (SmolLM2-135M 19 vs 26 tokens/s; the 3M student 178 vs 1,676), so each stream decoded on
#: one core; oneDNN splits it (SmolLM2 49 tokens/s, the 3M student 2,522) and is what AMD hosts
#: always ran, so one model gives the same greedy answers on either vendor.
GEMM_ENV = {"CT2_USE_MKL": "0"}
#: MKL's instruction-set cap (``mkl-<isa>``, e.g. ``mkl-avx2_e1``: AVX2 with AVX-VNNI where the CPU has
#: it, no AVX-512 or AMX). Why cap it: MKL's AMX int8 kernel pads a one-row product (a decode step) to a
#: 16-row tile. Measured on a 2-core Xeon with AMX, the 3M student, int8 on one core, three alternating
#: rounds: one stream 3,846-4,041 tokens/s uncapped, 4,537-4,568 capped at AVX2_E1 (AVX512: 4,041-4,183);
#: a 16-row batch 10,319-10,689 uncapped, 9,481-9,841 capped. So it is a candidate the setup timing
#: weighs, not a default.
MKL_ISA_ENV = "MKL_ENABLE_INSTRUCTIONS"
#: The user chose the GEMM library themselves (``$CT2_USE_MKL`` or MKL's cap set before Stratos ran).
_USER_GEMM = "CT2_USE_MKL" in os.environ or MKL_ISA_ENV in os.environ
#: Whether this process may still pick the library for int8 (``allow_gemm_choice``).
_GEMM = {"choosable": False}


def allow_gemm_choice() -> None:
    """This process serves one model (``stratos serve``): its int8 setup may run on Intel MKL.

    Why only there: CTranslate2 reads the library once per process, when it is imported, and MKL's int8
    decodes a stream up to 2x faster than oneDNN's on an Intel Xeon (the 1M student 12,100 vs 6,660
    tokens/s on one core; SmolLM2-135M 131 vs 49) while its float32 split over two cores ran 10x
    slower; a process that loads several models (the job: a teacher, then the student it trains)
    keeps oneDNN for all of them."""
    _GEMM["choosable"] = True


def gemm_choosable() -> bool:
    """True when this process may still switch CTranslate2 to MKL (see ``allow_gemm_choice``)."""
    return _GEMM["choosable"] and "ctranslate2" not in sys.modules and not _USER_GEMM


def use_gemm(name: str) -> None:
    """Run this process's CTranslate2 on ``name`` (``dnnl``, ``mkl`` or ``mkl-<isa>``); only before it
    is imported."""
    if not gemm_choosable():
        raise RuntimeError("CTranslate2's GEMM library is fixed in this process")
    set_gemm_env(name)


def set_gemm_env(name: str) -> None:
    """Ask CTranslate2 for ``name`` (``dnnl``, ``mkl`` or ``mkl-<isa>``, see ``MKL_ISA_ENV``): both are
    read when it is imported, so a process that has imported it keeps its library (``use_gemm`` checks;
    a fresh measuring process needs no check). The cap holds for every MKL the process loads, torch's
    too: in a server on CTranslate2 only the seeded-sampling fallback runs torch matmuls, small ones."""
    library, _, isa = name.partition("-")
    os.environ["CT2_USE_MKL"] = "1" if library == "mkl" else "0"
    if isa:
        os.environ[MKL_ISA_ENV] = isa.upper()
    else:
        os.environ.pop(MKL_ISA_ENV, None)


def ctranslate2_module() -> Any:
    """``ctranslate2``, imported with ``GEMM_ENV``: every import of it in Stratos goes through here."""
    for key, value in GEMM_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import ctranslate2
    except ImportError as exc:  # pragma: no cover - the lock installs it
        raise UnsupportedModel(f"ctranslate2 is not installed ({exc})") from exc
    return ctranslate2


def gemm_backend() -> str:
    """The GEMM library this process asked CTranslate2 for (``dnnl``, ``mkl`` or ``mkl-<isa>``), for setup
    records. Set explicitly, ``CT2_USE_MKL=1`` makes CTranslate2 run MKL on any x86 CPU (its Intel-only
    rule is for the default); whether MKL is faster there is for the setup timing to find."""
    if os.environ.get("CT2_USE_MKL", "").lower() not in ("1", "true", "on"):
        return "dnnl"
    isa = os.environ.get(MKL_ISA_ENV, "")
    return f"mkl-{isa.lower()}" if isa else "mkl"


def loader_for(config: Any) -> Any:
    """The converter's loader for a model config, or ``UnsupportedModel`` naming the architecture."""
    ctranslate2_module()
    from ctranslate2.converters.transformers import _MODEL_LOADERS

    name = type(config).__name__
    loader = _MODEL_LOADERS.get(name)
    if loader is None:
        raise UnsupportedModel(f"ctranslate2 {ctranslate2_module().__version__} has no converter for {name}")
    return loader


def source_id(model_dir: Path) -> str:
    """The artifact's content id: its manifest's sha256, or a hash over every file's sha256."""
    manifest = model_dir / MANIFEST
    if manifest.is_file():
        return sha256_file(manifest)
    h = hashlib.sha256()
    for p in sorted(model_dir.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(model_dir).as_posix()}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def cache_root(model_dir: Path) -> Path:
    """``<dir>.ct2`` beside the artifact when writable, else ``$STRATOS_CACHE/ct2``."""
    parent = model_dir.resolve().parent
    if os.access(parent, os.W_OK):
        return parent / f"{model_dir.name}.ct2"
    base = os.environ.get("STRATOS_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "stratos") / "ct2" / model_dir.name


def entry_name(source: str, quantization: str) -> str:
    """The cache entry's name; reads CTranslate2's version without importing it (an import fixes the
    process's GEMM library: ``allow_gemm_choice``)."""
    from importlib.metadata import version

    return f"{quantization}-{source[:16]}-ct2v{version('ctranslate2')}"


def convert_model(model: Any, tokenizer: Any, out: Path, quantization: str, *, consume: bool = False) -> Path:
    """Write ``model`` (a loaded transformers causal LM) as a CTranslate2 model dir at ``out``.

    The converter takes the model apart as it goes (it deletes each layer's
    attention and MLP once copied), so it works on a copy unless ``consume``
    says the caller has no further use for ``model``; a LoRA model is merged
    into that copy first (the adapter's weights are part of the answers).
    """
    import torch

    ct2 = ctranslate2_module()
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    model = getattr(model, "_orig_mod", model)  # torch.compile wrapper
    loader = loader_for(getattr(model, "config", None))
    if not consume:
        model = copy.deepcopy(model)
    if hasattr(model, "peft_config"):
        model = model.merge_and_unload()
    with torch.no_grad(), _no_full_collections():
        spec = loader(model, tokenizer)
    if not isinstance(spec, ct2.specs.TransformerDecoderModelSpec):
        raise UnsupportedModel(f"{type(model.config).__name__} converts to an encoder-decoder, not a decoder")
    if spec.config.bos_token is None:
        spec.config.bos_token = spec.config.eos_token
    check_vocabulary(tokenizer)
    spec.validate()
    spec.optimize(quantization=quantization)
    out.mkdir(parents=True, exist_ok=True)
    spec.save(str(out))
    return out


@contextlib.contextmanager
def _no_full_collections() -> Iterator[None]:
    """Skip the converter's ``gc.collect()`` after each layer while it runs.

    In a process that has imported torch and transformers one full collection
    takes ~1.7 s, so six layers made converting the 3M student take 10 s (the
    job converts it for every validation pass). Deleted layers are freed by
    reference counting anyway; only cycles wait for the next automatic pass.
    """
    ctranslate2_module()
    import ctranslate2.converters.transformers as converter

    real = converter.gc
    converter.gc = types.SimpleNamespace(collect=lambda *_a: 0)
    try:
        yield
    finally:
        converter.gc = real


def check_vocabulary(tokenizer: Any) -> None:
    """Prompts go to CTranslate2 as token strings, so ids must map one-to-one onto strings.

    The converter writes the vocabulary sorted by id; two ids sharing one string
    would leave a gap (the dict keeps one of them), so the ids must be 0..n-1.
    """
    ids = sorted(tokenizer.get_vocab().values())
    if ids != list(range(len(ids))):
        raise UnsupportedModel("the tokenizer's ids are not one string each (duplicate or missing token strings)")


def write_entry_manifest(entry: Path, source: str, quantization: str) -> None:
    files = {p.name: sha256_file(p) for p in sorted(entry.iterdir()) if p.is_file() and p.name != CT2_MANIFEST}
    body = {"format": FORMAT, "source": source, "quantization": quantization,
            "ctranslate2": ctranslate2_module().__version__, "files": files}
    (entry / CT2_MANIFEST).write_text(json.dumps(body, indent=2, sort_keys=True))


def verify_entry(entry: Path, source: str) -> None:
    """Refuse a converted model whose files do not match its manifest or whose source changed."""
    try:
        body = json.loads((entry / CT2_MANIFEST).read_text())
        files: dict[str, str] = body["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(
            f"converted model {entry} has no valid {CT2_MANIFEST} ({exc}); delete {entry} to convert again."
        ) from exc
    if body.get("source") != source:
        raise ArtifactError(f"converted model {entry} was made from another artifact; delete it to convert again.")
    bad = [f for f, digest in files.items() if not (entry / f).is_file() or sha256_file(entry / f) != digest]
    if bad:
        raise ArtifactError(
            f"converted model {entry} failed verification (checksum mismatch or missing: {bad}); "
            f"it is corrupted: delete {entry} to convert again from the artifact."
        )


def converted_dir(model_dir: str | Path, quantization: str) -> Path:
    """The verified CTranslate2 dir for ``model_dir``, converting it first when the cache has none.

    Raises ``UnsupportedModel`` when CTranslate2 cannot run the model, ``ArtifactError``
    when the cached conversion is corrupted.
    """
    model_dir = Path(model_dir)
    source = source_id(model_dir)
    root = cache_root(model_dir)
    entry = root / entry_name(source, quantization)
    if not entry.is_dir():
        _prune(root, quantization)
        model, tokenizer = _load_hf(model_dir)
        tmp = root / f".{entry.name}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            convert_model(model, tokenizer, tmp, quantization, consume=True)
            write_entry_manifest(tmp, source, quantization)
            tmp.rename(entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("converted %s to CTranslate2 %s at %s", model_dir, quantization, entry)
    verify_entry(entry, source)
    return entry


def _prune(root: Path, quantization: str) -> None:
    """Remove entries of this quantization made from an earlier artifact (or library version)."""
    if root.is_dir():
        for old in root.glob(f"{quantization}-*"):
            shutil.rmtree(old, ignore_errors=True)


def _load_hf(model_dir: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    loader_for(AutoConfig.from_pretrained(model_dir))  # fail fast, before loading weights
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return model, tokenizer
