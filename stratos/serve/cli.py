"""CLI for ``stratos serve`` (also ``python -m stratos.serve``): an OpenAI-compatible server for a model dir.

Auth is on unless you say otherwise: the token comes from ``--token-file`` or
``$STRATOS_API_TOKEN``; with neither, the server refuses to start unless
``--no-auth`` is passed (for loopback experiments only).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from stratos.exceptions import ConfigError, ServeError


def serve(
    model: Annotated[Path, typer.Option("--model", help="Stratos artifact or HF model dir.")],
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file", help="File holding the bearer token (else $STRATOS_API_TOKEN)."
        ),
    ] = None,
    model_name: Annotated[
        str | None, typer.Option("--model-name", help="Name clients use; default: dir name.")
    ] = None,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Serve a plain HF dir without manifest checks.")
    ] = False,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without a token (loopback testing only).")
    ] = False,
    max_batch_size: Annotated[int, typer.Option(help="Requests decoded together.")] = 16,
    max_wait_ms: Annotated[float, typer.Option(help="How long a batch waits to fill, ms.")] = 10.0,
    max_tokens: Annotated[int, typer.Option(help="Ceiling on a request's max_tokens.")] = 512,
    threads: Annotated[int | None, typer.Option(help="CPU threads for the engine.")] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="auto (vLLM on a GPU, CTranslate2 where it converts the model, else transformers), "
            "ctranslate2, transformers, vllm."
        ),
    ] = "auto",
    quantization: Annotated[
        str,
        typer.Option(
            help="CTranslate2 weights: float32 (the answers the job measured), int8, or auto (the faster "
            "of the two on a short measurement; int8 changes some greedy answers, and may run on Intel MKL)."
        ),
    ] = "float32",
    dtype: Annotated[
        str,
        typer.Option(
            help="transformers dtype: auto (bf16 on CPUs with native bf16), float32, bfloat16."
        ),
    ] = "auto",
    device: Annotated[
        str, typer.Option(help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")
    ] = "auto",
    max_queue: Annotated[int, typer.Option(help="Waiting requests beyond this get 429.")] = 256,
    docs: Annotated[
        bool | None,
        typer.Option("--docs/--no-docs", help="API docs pages; default: on for loopback binds only."),
    ] = None,
) -> None:
    """Serve a model dir behind an OpenAI-compatible API (chat, completions, models, health, metrics)."""
    from stratos.serve.auth import TOKEN_ENV, load_token
    from stratos.serve.ct2_convert import allow_gemm_choice
    from stratos.serve.server import ServeConfig, run

    allow_gemm_choice()  # this process serves one model (see the function)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    token = load_token(token_file)
    if token is None and not no_auth:
        raise ServeError(
            f"no API token: pass --token-file FILE or set ${TOKEN_ENV}. "
            "To serve without auth on purpose (loopback testing), pass --no-auth."
        )
    if token is not None and no_auth:
        raise ServeError("--no-auth conflicts with the token given; drop one of them.")
    try:
        config = ServeConfig(
            model_dir=model,
            model_name=model_name,
            host=host,
            port=port,
            token=token,
            verify=not no_verify,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_tokens=max_tokens,
            threads=threads,
            engine=engine,
            quantization=quantization,
            dtype=dtype,
            device=device,
            max_queue=max_queue,
            docs=docs,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid option {where}: {first['msg']}.") from exc
    run(config)
