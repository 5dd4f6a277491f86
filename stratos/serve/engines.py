"""Pick and load the engine for a model: vLLM on a GPU, CTranslate2 on CPU, transformers otherwise.

``device`` (``stratos.device.resolve_device``: auto, cpu, cuda, cuda:N) says where; with a
CUDA device, ``engine="auto"`` is vLLM when installed, else the transformers engine on that
GPU (bf16). On the CPU, ``engine="auto"`` (the default everywhere) means:

1. CTranslate2 when it converts the architecture (converted once, cached and
   checked: ``stratos.serve.ct2_convert``);
2. the transformers engine for anything else, with a log line saying why.

CTranslate2's thread layout (one replica on every core, or one replica per core)
is chosen by a short measurement, remembered beside the converted model
(``stratos.serve.ct2_tuning``); so is its weight format when asked for
``quantization="auto"``, and, for work that comes in batches (``load_batch_engine``),
whether CTranslate2 or the transformers engine decodes a batch faster. The default
is float32, whose greedy answers are the transformers engine's, so a served student
answers as the job measured it; int8 (chosen by ``auto`` where it decodes faster)
changes some of them.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import partial
from pathlib import Path
from typing import Any, Literal

from stratos.exceptions import ConfigError
from stratos.serve.ct2_convert import QUANTIZATIONS, UnsupportedModel, gemm_backend, use_gemm
from stratos.serve.ct2_tuning import choose_setup, faster_for_batches
from stratos.serve.engine import GenerationEngine
from stratos.serve.engine_base import EngineBase

log = logging.getLogger("stratos.serve")

EngineName = Literal["auto", "ctranslate2", "transformers", "vllm"]
ENGINES: tuple[str, ...] = ("auto", "ctranslate2", "transformers", "vllm")
Quantization = Literal["auto", "float32", "int8"]


def load_engine(
    path: str | Path,
    *,
    engine: str = "auto",
    quantization: str = "float32",
    threads: int | None = None,
    dtype: str = "auto",
    name: str | None = None,
    max_context: int | None = None,
    device: str = "auto",
) -> EngineBase:
    """Load ``path`` (a HF model dir, or a ``.gguf`` file for transformers) into the chosen engine on ``device``."""
    from stratos.device import resolve_device

    if engine not in ENGINES:
        raise ConfigError(f"engine {engine!r} is not one of {list(ENGINES)}; pick one of them.")
    if quantization not in ("auto", *QUANTIZATIONS):
        raise ConfigError(f"quantization {quantization!r} is not one of auto, float32, int8.")
    path = Path(path)
    where = resolve_device(device, setting="--device")
    if where != "cpu":
        if engine == "auto":
            engine = "vllm" if vllm_installed() else "transformers"
        if engine == "transformers":
            return GenerationEngine.from_dir(
                path, threads=threads, dtype=dtype, name=name, max_context=max_context, device=where
            )
        if engine == "ctranslate2":
            raise ConfigError(f"--engine ctranslate2 runs on the CPU here; with --device {device} use auto, "
                              "transformers or vllm, or pass --device cpu.")
    if engine == "vllm":
        from stratos.serve.vllm_engine import VllmEngine

        return VllmEngine.from_dir(path, name=name, max_context=max_context, dtype=dtype)
    if engine in ("auto", "ctranslate2"):
        try:
            return _load_ct2(path, quantization, threads, name, max_context)
        except UnsupportedModel as exc:
            if engine == "ctranslate2":
                raise ConfigError(f"--engine ctranslate2 cannot serve {path}: {exc}. Use --engine auto.") from exc
            log.warning("ctranslate2 cannot serve %s (%s); using the transformers engine", path, exc)
    return GenerationEngine.from_dir(path, threads=threads, dtype=dtype, name=name, max_context=max_context)


def load_batch_engine(
    path: str | Path, *, quantization: str = "auto", threads: int | None = None, dtype: str = "auto",
    name: str | None = None,
) -> EngineBase:
    """The CPU engine that decodes batches of prompts fastest (a local teacher's work): CTranslate2
    in its measured setup, or the transformers engine in ``dtype``, whichever a batched burst found
    faster on this CPU (``ct2_tuning.faster_for_batches``; measured once, remembered)."""
    path = Path(path)
    transformers = partial(GenerationEngine.from_dir, path, threads=threads, dtype=dtype, name=name)
    try:
        ct2 = _load_ct2(path, quantization, threads, name, None)
    except UnsupportedModel as exc:
        log.warning("ctranslate2 cannot serve %s (%s); using the transformers engine", path, exc)
        return transformers()
    return faster_for_batches(path, ct2, transformers, dtype, threads)


def engine_for_model(
    model: Any, tokenizer: Any, *, name: str = "model", quantization: str = "float32", threads: int | None = None
) -> EngineBase:
    """An engine over a model held in memory (the job's student): on its GPU the transformers engine,
    on the CPU CTranslate2 when it converts it."""
    from stratos.serve.ct2_engine import CT2Engine

    if next(model.parameters()).device.type != "cpu":
        return GenerationEngine(model, tokenizer, name=name)

    try:
        return CT2Engine.from_model(model, tokenizer, quantization=quantization, threads=threads, name=name)
    except UnsupportedModel as exc:
        log.warning("ctranslate2 cannot run %s (%s); using the transformers engine", name, exc)
    return GenerationEngine(model, tokenizer, name=name)


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def gpu_engine_available() -> bool:
    """A CUDA device and an installed vLLM."""
    if not vllm_installed():
        return False
    import torch

    return bool(torch.cuda.is_available())


def _load_ct2(
    path: Path, quantization: str, threads: int | None, name: str | None, max_context: int | None
) -> EngineBase:
    from stratos.serve.ct2_engine import CT2Engine

    if importlib.util.find_spec("ctranslate2") is None:
        raise UnsupportedModel("ctranslate2 is not installed")
    if not (path / "config.json").is_file():
        raise UnsupportedModel("not a Hugging Face model dir (no config.json)")
    setup = choose_setup(path, quantization, threads)
    if setup.gemm:
        use_gemm(setup.gemm)
    engine = CT2Engine.from_dir(
        path, quantization=setup.quantization, threads=threads, replicas=setup.replicas, name=name,
        max_context=max_context,
    )
    log.info("engine: ctranslate2 %s x %d replicas on %s for %s", setup.quantization, setup.replicas,
             gemm_backend(), path)
    return engine


