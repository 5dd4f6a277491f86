"""The vLLM engine: the job's evaluations on a GPU node, in-process through ``vllm.LLM``.

Serving on a GPU node runs vLLM's own OpenAI server (``stratos.serve.vllm``
renders its command line); this adapter is for code that holds an engine
object (the job's test and teacher evaluations, a local teacher) so that on a
GPU they decode with vLLM's paged attention instead of a Python loop.

vLLM does its own batching and seeding (per-request ``seed``), so ``prefill``
hands the whole batch to ``LLM.generate`` and returns every row finished.
Streamed text arrives in one piece at the end of the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stratos.serve.decoding import GenerationResult, Request
from stratos.serve.engine_base import EngineBase


class VllmEngine(EngineBase):
    """A ``vllm.LLM`` behind the engine interface."""

    kind = "vllm"

    def __init__(self, llm: Any, *, name: str, max_context: int) -> None:
        tokenizer = llm.get_tokenizer()
        eos = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
        super().__init__(tokenizer, name=name, max_context=max_context, eos_ids=eos)
        self.llm = llm

    @classmethod
    def from_dir(
        cls, path: str | Path, *, name: str | None = None, max_context: int | None = None, dtype: str = "auto"
    ) -> VllmEngine:
        from vllm import LLM

        path = Path(path)
        kwargs: dict[str, Any] = {"max_model_len": max_context} if max_context else {}
        llm = LLM(model=str(path), dtype=dtype, **kwargs)
        context = max_context or llm.llm_engine.model_config.max_model_len
        return cls(llm, name=name or path.name, max_context=context)

    def prefill(self, requests: Sequence[Request]) -> tuple[None, list[tuple[Any, GenerationResult]]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        for r in requests:
            self.check_length(len(r.ids), r.params)
        params = [
            SamplingParams(
                max_tokens=r.params.max_new_tokens,
                temperature=0.0 if r.params.greedy else r.params.temperature,
                top_p=r.params.top_p,
                stop=list(r.params.stop) or None,
                seed=r.params.seed,
                skip_special_tokens=True,
            )
            for r in requests
        ]
        prompts = [TokensPrompt(prompt_token_ids=list(r.ids)) for r in requests]
        outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        done = []
        for r, out in zip(requests, outputs, strict=True):
            o = out.outputs[0]
            result = GenerationResult(
                text=o.text,
                prompt_tokens=len(r.ids),
                completion_tokens=len(o.token_ids),
                finish_reason="length" if o.finish_reason == "length" else "stop",
                token_ids=tuple(o.token_ids),
            )
            if r.on_text is not None and o.text:
                r.on_text(o.text)
            done.append((r.tag, result))
        return None, done
