"""Start a server: verify the artifact, load the model, build the app, run uvicorn.

Order matters: the manifest is checked and the weights loaded *before* the
socket opens, so ``GET /health`` answering at all means "ready", and a
corrupted artifact ends the process with a clear error and a non-zero exit
instead of serving garbage.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from stratos.exceptions import ArtifactError, ServeError
from stratos.manifest import MANIFEST, verify_manifest
from stratos.serve.batcher import Batcher
from stratos.serve.engine_base import EngineBase
from stratos.serve.engines import load_engine
from stratos.serve.metrics import ServerMetrics
from stratos.serve.questions import QuestionCheck
from stratos.serve.serving import Limits, OpenAIServing

log = logging.getLogger("stratos.serve")


class ServeConfig(BaseModel):
    """Everything ``stratos serve`` needs; frozen so a running server's settings can't drift."""

    model_config = ConfigDict(frozen=True, protected_namespaces=())

    model_dir: Path
    model_name: str | None = Field(
        None, description="Name clients pass as `model`; default: the dir name."
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: SecretStr | None = Field(
        None, description="Bearer token; None only when auth is disabled on purpose."
    )
    verify: bool = Field(True, description="Check manifest.json checksums before serving.")
    max_batch_size: int = Field(16, ge=1, le=256)
    max_wait_ms: float = Field(10.0, ge=0, le=1000, description="How long a batch waits to fill.")
    max_tokens: int = Field(512, ge=1, description="Ceiling on a request's max_tokens.")
    default_max_tokens: int = Field(128, ge=1)
    threads: int | None = Field(
        None, ge=1, description="CPU threads for the engine; None: every core."
    )
    engine: Literal["auto", "ctranslate2", "transformers", "vllm"] = Field(
        "auto",
        description="auto: vLLM on a GPU, CTranslate2 where it converts the model, else transformers.",
    )
    quantization: Literal["auto", "float32", "int8"] = Field(
        "float32",
        description="CTranslate2 weights: float32 answers as transformers does (the answers the job measured); "
        "int8 and auto (the faster on a short measurement) trade some answers for speed.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="transformers dtype; auto = bfloat16 where the device has native bf16."
    )
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="auto (CUDA when present, else CPU), cpu, cuda or cuda:N; CUDA serves with vLLM when "
        "installed, else the transformers engine on the GPU",
    )
    max_queue: int = Field(256, ge=1, description="Requests waiting beyond this are answered 429.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Larger request bodies get 413.")
    docs: bool | None = Field(
        None, description="/docs, /redoc, /openapi.json; None = on for loopback binds only."
    )

    @property
    def served_name(self) -> str:
        return self.model_name or self.model_dir.name

    @property
    def docs_enabled(self) -> bool:
        return is_loopback(self.host) if self.docs is None else self.docs


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (what only this machine can reach)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_artifact(model_dir: Path, verify: bool) -> bool:
    """Verify a Stratos artifact; True if verified. A plain HF dir needs ``verify=False`` (said clearly)."""
    if not model_dir.is_dir():
        raise ServeError(
            f"--model {model_dir} is not a directory; pass a Stratos artifact or HF model dir."
        )
    if not verify:
        return False
    if not (model_dir / MANIFEST).is_file():
        raise ArtifactError(
            f"{model_dir} has no {MANIFEST}, so it is not a finished Stratos artifact and cannot be verified. "
            "If it is a plain Hugging Face model dir you trust, pass --no-verify."
        )
    verify_manifest(model_dir)
    return True


def build_server_app(config: ServeConfig, engine: EngineBase | None = None):
    """Verify and load (unless ``engine`` is given, as tests do) and return the ASGI app."""
    from stratos.serve.router import build_app

    verified = check_artifact(config.model_dir, config.verify)
    if engine is None:
        engine = load_engine(
            config.model_dir,
            engine=config.engine,
            quantization=config.quantization,
            threads=config.threads,
            dtype=config.dtype,
            name=config.served_name,
            device=config.device,
        )
    log.info("engine: %s", engine.describe())
    metrics = ServerMetrics()
    batcher = Batcher(
        engine,
        max_batch_size=config.max_batch_size,
        max_wait_s=config.max_wait_ms / 1000,
        max_queue=config.max_queue,
        observe_batch=metrics.batch_size.observe,
    )
    limits = Limits(
        max_tokens=min(config.max_tokens, engine.max_context),
        default_max_tokens=min(config.default_max_tokens, engine.max_context),
    )
    serving = OpenAIServing(
        engine, batcher, metrics, model_name=config.served_name, limits=limits,
        questions=QuestionCheck.for_artifact(config.model_dir),
    )
    return build_app(
        serving,
        token=config.token,
        verified=verified,
        docs=config.docs_enabled,
        max_body_bytes=config.max_body_bytes,
    )


def run(config: ServeConfig) -> None:
    """Serve until interrupted (SIGINT/SIGTERM)."""
    import uvicorn

    app = build_server_app(config)
    log.info(
        "serving %s on http://%s:%d (auth %s)",
        config.served_name,
        config.host,
        config.port,
        "on" if config.token else "OFF",
    )
    try:
        uvicorn.run(app, host=config.host, port=config.port, log_level="info", access_log=True)
    except OSError as exc:  # pragma: no cover - uvicorn usually exits itself on bind errors
        raise ServeError(
            f"cannot listen on {config.host}:{config.port}: {exc}. Pick another --port."
        ) from exc
