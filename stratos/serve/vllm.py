"""The command line that serves an artifact with vLLM's OpenAI-compatible server on a GPU host.

The cloud backends put this line in a VM's bootstrap script. vLLM then serves
the same API as ``stratos serve`` (same ``/v1`` routes, same served model name,
same bearer token), so clients and ``stratos eval`` don't care which runs.

vLLM listens on 127.0.0.1 only: its ``--api-key`` check covers ``/v1`` but not
``/invocations``, ``/pause``, ``/tokenize`` and friends, and it speaks plain HTTP,
so the node's public port belongs to :mod:`stratos.serve.gateway` (TLS, ``/v1/*``
only, the bearer check) which forwards to it. vLLM checks the token too.

The token is never on a command line (``ps`` shows those) nor written into the
script: vLLM reads it from ``VLLM_API_KEY`` (``args.api_key or envs.VLLM_API_KEY``
in its server), which the rendered line fills from ``$STRATOS_API_TOKEN``, which
the bootstrap fetches from the secret store (cloud user-data is readable by anyone
who can describe the instance). Flags follow ``vllm serve --help`` of the pinned
release (:data:`VLLM_SPEC`): positional model, ``--served-model-name``, ``--host``,
``--port``, ``--dtype``, ``--max-model-len``, ``--gpu-memory-utilization``,
``--tensor-parallel-size``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from stratos.serve.auth import TOKEN_ENV

#: The vLLM release the serving node installs (when its image has none): pinned, because
#: flags, environment variables and which routes the key guards change between releases.
VLLM_SPEC = "vllm==0.11.0"
#: The environment variable vLLM reads its API key from.
KEY_ENV = "VLLM_API_KEY"
#: vLLM's port on the node's loopback (the gateway holds the public port).
UPSTREAM_PORT = 8001


@dataclass(frozen=True)
class VllmServe:
    """What to serve and how; ``render()`` gives the shell line, ``argv()`` + ``env()`` the exec."""

    model_dir: str
    served_model_name: str
    host: str = "127.0.0.1"
    port: int = UPSTREAM_PORT
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

    def argv(self) -> list[str]:
        """The exec argument list (no secret in it)."""
        args = [
            "vllm",
            "serve",
            self.model_dir,
            "--served-model-name",
            self.served_model_name,
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

    @staticmethod
    def env(token: str) -> dict[str, str]:
        """The environment entry that gives vLLM its key (for a subprocess you start yourself)."""
        return {KEY_ENV: token}

    def render(self) -> str:
        """One shell command; the key comes from ``$token_env`` at run time (fails fast if unset).
        The bootstrap runs it in the background, beside the gateway."""
        quoted = " ".join(shlex.quote(a) for a in self.argv())
        return f'{KEY_ENV}="${{{self.token_env}:?API token not set}}" {quoted}'


def vllm_serve_command(model_dir: str, served_model_name: str, **options: object) -> str:
    """Shorthand: the bootstrap-script line serving ``model_dir`` as ``served_model_name`` with vLLM."""
    return VllmServe(model_dir, served_model_name, **options).render()  # type: ignore[arg-type]
