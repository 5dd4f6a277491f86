"""One CTranslate2 setup's one-stream greedy rate, measured in a process of its own.

Why a process per setup: the GEMM library (MKL or oneDNN) is fixed when a
process imports CTranslate2, and a setup should be timed as it will run once
chosen, with no other model's threads in the process. While several
multi-threaded generators are loaded, libgomp holds more threads than cores and
cuts every team's spin-wait (``ct2_engine._generator`` says how that slows a
step); measured on 2 Xeon cores with all candidates loaded together, the idle
ones slowed the one being measured 2.4x.

Run by ``ct2_tuning.measure_decode_rates``::

    python -m stratos.serve.ct2_rate '{"model_dir": "<HF model dir>", "quantization": "int8", "threads": 2,
                                      "replicas": 1, "tokens": ["<s>", "The"], "length": 24, "rounds": 3,
                                      "gemm": "mkl"}'
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from stratos.exceptions import ArtifactError
from stratos.serve.ct2_convert import UnsupportedModel, converted_dir, set_gemm_env

#: The exit status of a measurement whose model CTranslate2 cannot convert.
UNSUPPORTED = 3


def best_rate(model_dir: str, quantization: str, threads: int, replicas: int, tokens: list[str], length: int,
              rounds: int, gemm: str | None = None) -> float:
    """Best greedy tokens/s of ``rounds`` one-stream bursts of ``length`` tokens, after one that warms up,
    of ``model_dir`` converted to ``quantization`` (converted here when the cache has none, so the
    caller need not import CTranslate2); ``gemm`` (``mkl``/``dnnl``) sets the GEMM library, which a
    process reads when it imports CTranslate2, else the caller's stands."""
    if gemm is not None:
        set_gemm_env(gemm)
    from stratos.serve.ct2_engine import _generator

    generator = _generator(converted_dir(model_dir, quantization), quantization, threads, replicas)
    best = 0.0
    for round_no in range(rounds + 1):
        t0 = time.perf_counter()
        out = generator.generate_batch([tokens], max_length=length, min_length=length, include_prompt_in_result=False)
        rate = len(out[0].sequences_ids[0]) / max(time.perf_counter() - t0, 1e-9)
        if round_no:
            best = max(best, rate)
    return best


def rate_in_own_process(**setup: Any) -> float:
    """``best_rate(**setup)`` in a fresh Python process (see the module docstring)."""
    proc = subprocess.run(
        [sys.executable, "-m", "stratos.serve.ct2_rate", json.dumps(setup)], capture_output=True, text=True
    )
    if proc.returncode == UNSUPPORTED:
        raise UnsupportedModel(proc.stdout.strip())
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ArtifactError(f"measuring CTranslate2 {setup['quantization']} x {setup['replicas']} on "
                            f"{setup['model_dir']} failed: {tail[0]}")
    return float(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    try:
        print(best_rate(**json.loads(sys.argv[1])))
    except UnsupportedModel as exc:  # the caller falls back to the transformers engine
        print(exc)
        sys.exit(UNSUPPORTED)
