"""The command line that serves an artifact with vLLM's OpenAI-compatible server on a GPU host.

The cloud backends put this line in a VM's bootstrap script. vLLM then serves
the same API as ``stratos serve`` (same ``/v1`` routes, same served model name,
same bearer token), so clients and ``stratos eval`` don't care which runs.

The token is never written into the script: the rendered line reads it from
an environment variable (``$STRATOS_API_TOKEN`` by default) that the bootstrap
fills from the secret store, because bootstrap scripts (cloud user-data) are
readable by anyone who can describe the instance.
Flags follow ``vllm serve --help`` (vLLM >= 0.6): positional model,
``--served-model-name``, ``--api-key``, ``--host``, ``--port``, ``--dtype``,
``--max-model-len``, ``--gpu-memory-utilization``, ``--tensor-parallel-size``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from stratos.serve.auth import TOKEN_ENV


@dataclass(frozen=True)
class VllmServe:
    """What to serve and how; ``render()`` gives the shell line, ``argv()`` the exec list."""

    model_dir: str
    served_model_name: str
    host: str = "0.0.0.0"
    port: int = 8000
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    token_env: str = TOKEN_ENV

    def __post_init__(self) -> None:
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(
                f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}"
            )
        if self.tensor_parallel_size < 1:
            raise ValueError("tensor_parallel_size must be >= 1")
        if not self.token_env.isidentifier():
            raise ValueError(
                f"token_env must be an environment variable name, got {self.token_env!r}"
            )

    def argv(self, token: str) -> list[str]:
        """The exec argument list with ``token`` in place (for a subprocess you start yourself)."""
        return self._args(token)

    def render(self) -> str:
        """One shell line; the token comes from ``$token_env`` at run time (fails fast if unset)."""
        placeholder = "\0TOKEN\0"
        quoted = " ".join(
            shlex.quote(a) if a != placeholder else f'"${{{self.token_env}:?API token not set}}"'
            for a in self._args(placeholder)
        )
        return f"exec {quoted}"

    def _args(self, token: str) -> list[str]:
        args = [
            "vllm",
            "serve",
            self.model_dir,
            "--served-model-name",
            self.served_model_name,
            "--api-key",
            token,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--dtype",
            self.dtype,
            "--gpu-memory-utilization",
            f"{self.gpu_memory_utilization:g}",
            "--tensor-parallel-size",
            str(self.tensor_parallel_size),
        ]
        if self.max_model_len:
            args += ["--max-model-len", str(self.max_model_len)]
        return args


def vllm_serve_command(model_dir: str, served_model_name: str, **options: object) -> str:
    """Shorthand: the bootstrap-script line serving ``model_dir`` as ``served_model_name`` with vLLM."""
    return VllmServe(model_dir, served_model_name, **options).render()  # type: ignore[arg-type]
