"""Pick and load the engine for a model: vLLM on a GPU, CTranslate2 on CPU, transformers otherwise.

``device`` (``stratos.device.resolve_device``: auto, cpu, cuda, cuda:N) says where; with a
CUDA device, ``engine="auto"`` is vLLM when installed, else the transformers engine on that
GPU (bf16). On the CPU, ``engine="auto"`` (the default everywhere) means:

1. CTranslate2 when it converts the architecture (converted once, cached and
   checked: ``stratos.serve.ct2_convert``);
2. the transformers engine for anything else, with a log line saying why.

CTranslate2's weight format is ``float32`` or ``int8``; ``quantization="auto"``
decodes a short greedy burst with each and keeps the faster (int8 must win by
``INT8_MARGIN``: its answers can differ slightly, so a tie keeps float32). The
choice and the measured rates are remembered beside the converted model, keyed
by the CPU and the thread count, so a restart does not measure again.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from stratos.device import cpu_model
from stratos.exceptions import ConfigError
from stratos.serve.ct2_convert import QUANTIZATIONS, UnsupportedModel, cache_root, source_id
from stratos.serve.engine import GenerationEngine
from stratos.serve.engine_base import EngineBase

log = logging.getLogger("stratos.serve")

EngineName = Literal["auto", "ctranslate2", "transformers", "vllm"]
ENGINES: tuple[str, ...] = ("auto", "ctranslate2", "transformers", "vllm")
Quantization = Literal["auto", "float32", "int8"]
# int8 must decode this much faster than float32 to be chosen (its greedy answers can differ).
INT8_MARGIN = 1.15
_PROBE_TOKENS = 24
_PROBE_PROMPT = "The quick brown fox jumps over the lazy dog. " * 4


def load_engine(
    path: str | Path,
    *,
    engine: str = "auto",
    quantization: str = "auto",
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
    if quantization == "auto":
        quantization = choose_quantization(path, threads)
    engine = CT2Engine.from_dir(path, quantization=quantization, threads=threads, name=name, max_context=max_context)
    log.info("engine: ctranslate2 %s for %s", quantization, path)
    return engine


def choose_quantization(path: Path, threads: int | None) -> str:
    """float32 or int8 for this model on this CPU: remembered, else measured (see the module docstring)."""
    record = cache_root(path) / "quantization.json"
    key = {"source": source_id(path), "cpu": cpu_model(), "threads": threads}
    try:
        saved = json.loads(record.read_text())
        if saved.get("key") == key:
            return str(saved["chosen"])
    except (OSError, ValueError):
        pass
    rates = measure_decode_rates(path, threads)
    chosen = "int8" if rates["int8"] >= INT8_MARGIN * rates["float32"] else "float32"
    log.info(
        "ctranslate2 quantization: %s (greedy decode float32 %.0f tok/s, int8 %.0f tok/s)",
        chosen, rates["float32"], rates["int8"],
    )
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"key": key, "chosen": chosen, "tokens_per_s": rates}, indent=2))
    return chosen


def measure_decode_rates(path: Path, threads: int | None, rounds: int = 3) -> dict[str, float]:
    """Greedy tokens/s of one stream per quantization: best of ``rounds`` short bursts, interleaved.

    Interleaving (float32, int8, float32, ...) makes a load change on a shared
    machine hit both alike instead of whichever ran second.
    """
    from stratos.serve.ct2_engine import CT2Engine

    engines = {q: CT2Engine.from_dir(path, quantization=q, threads=threads) for q in QUANTIZATIONS}
    any_engine = engines["float32"]
    ids = any_engine.encode(_PROBE_PROMPT)[: max(1, any_engine.max_context - _PROBE_TOKENS - 1)]
    tokens = [any_engine.tokenizer.convert_ids_to_tokens(ids)]
    best = dict.fromkeys(engines, 0.0)
    for round_no in range(rounds + 1):  # round 0 warms up and is not counted
        for q, engine in engines.items():
            t0 = time.perf_counter()
            out = engine.generator.generate_batch(
                tokens, max_length=_PROBE_TOKENS, min_length=_PROBE_TOKENS, include_prompt_in_result=False
            )
            rate = len(out[0].sequences_ids[0]) / max(time.perf_counter() - t0, 1e-9)
            if round_no:
                best[q] = max(best[q], rate)
    return best
