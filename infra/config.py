"""Every read of stack config, secrets and environment the Pulumi program does.

One place (the Pulumi-examples habit): ``load_settings()`` turns the stack's
``stratos:*`` keys into a validated :class:`~stratos.spec.DistillationRequest`,
reads the two secrets with ``get_secret`` and resolves the local paths, so the
components and backends never touch ``pulumi.Config`` and a bad key fails the
program (and so ``pulumi preview``) before any resource is registered.

Secrets:

* ``stratos:teacherApiKey`` -- API key of an OpenAI-compatible teacher; optional
  (the offline default teacher needs none). Passed to the job as the env var
  ``STRATOS_TEACHER_API_KEY``, never written to the plan.
* ``stratos:hfToken`` -- Hugging Face token for gated hub models (Llama, Gemma);
  optional. Reaches the training node through the cloud's secret store and the job
  as ``HF_TOKEN`` (which ``huggingface_hub`` reads), never through the plan.
* ``stratos:endpointToken`` -- bearer token of the serving endpoint. Optional:
  when unset, the ``ServingEndpoint`` generates a random 256-bit token once, inside
  a dynamic resource, and keeps it (encrypted) in the stack state, so it stays the
  same across ``pulumi up`` runs and changes only when the endpoint is recreated
  or the user sets one (``pulumi config set --secret stratos:endpointToken ...``).
  We do not use ``pulumi_random``: its provider plugin cannot be downloaded here.

Environment (not stack config, because it describes this machine, not the request):

* ``STRATOS_RUNS_DIR`` -- where the ``local`` target keeps artifacts, default
  ``<repo>/runs/<stack>``.
* ``PULUMI_CONFIG_PASSPHRASE`` -- ``scripts/env.sh`` sets the public
  :data:`PUBLIC_PASSPHRASE` so the ``local`` stack works out of the box. A cloud
  stack whose secrets that passphrase encrypts (teacher key, endpoint token,
  cloud keys) is refused by :func:`check_secrets_provider`: anyone with the
  repository could decrypt them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from stratos.exceptions import ConfigError
from stratos.spec import SECRET_KEYS, DistillationRequest

NAMESPACE = "stratos"
#: The "unset" defaults Pulumi.yaml gives optional keys (a schema key without default is required).
UNSET_VALUES = ("", [], {})
REPO_ROOT = Path(__file__).resolve().parents[1]

#: The passphrase scripts/env.sh exports by default: public (it is in the repository), so
#: good for the local stack's throwaway token only.
PUBLIC_PASSPHRASE = "stratos-local-dev"

#: Secret keys the program reads itself (camelCase is the documented spelling).
TEACHER_API_KEY = "teacherApiKey"
HF_TOKEN = "hfToken"
ENDPOINT_TOKEN = "endpointToken"
#: A user-supplied certificate for the cloud endpoint (plain) and its key (secret).
TLS_CERTIFICATE = "tlsCertificate"
TLS_PRIVATE_KEY = "tlsPrivateKey"


@dataclass(frozen=True)
class Settings:
    """Everything the backends need besides the plan, resolved once per program run."""

    project: str
    stack: str
    request: DistillationRequest
    #: ``stratos:teacherApiKey`` as a secret Output, or None when unset.
    teacher_api_key: pulumi.Output[str] | None
    #: ``stratos:hfToken`` as a secret Output, or None when unset.
    hf_token: pulumi.Output[str] | None
    #: ``stratos:endpointToken`` as a secret Output, or None (the endpoint generates one).
    endpoint_token: pulumi.Output[str] | None
    #: Root folder of the local artifact store (``local`` target only).
    runs_dir: Path
    #: The interpreter that runs the job and the server locally (the project venv).
    python: str
    #: ``stratos:tlsCertificate`` (PEM) and ``stratos:tlsPrivateKey`` (secret), or None: the
    #: cloud endpoint then presents a self-signed certificate made by the stack.
    tls_certificate: str | None = None
    tls_private_key: pulumi.Output[str] | None = None

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def serving_port(self) -> int:
        return self.request.network.serving_port

    @property
    def allowed_cidrs(self) -> list[str]:
        return list(self.request.network.allowed_cidrs)

    @property
    def ssh_cidrs(self) -> list[str]:
        return list(self.request.network.ssh_cidrs)


def _raw_stratos_config() -> dict[str, Any]:
    """All ``stratos:*`` keys of the stack, structured values decoded from JSON.

    ``pulumi.Config`` can only read keys it is asked for; we need every key so that a
    misspelt one (``stratos:constraint``) is reported instead of silently ignored.
    """
    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    out: dict[str, Any] = {}
    for key, value in merged.items():
        ns, _, name = key.partition(":")
        if ns != NAMESPACE or name in SECRET_KEYS:
            continue
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if value in UNSET_VALUES:
            continue  # Pulumi.yaml's "unset" defaults: let the request model's default apply
        out[name] = value
    return out


def project_root() -> Path:
    """The folder of ``Pulumi.yaml`` (the checkout when no engine says, e.g. under mocks)."""
    try:
        root = Path(pulumi.get_root_directory())
    except (OSError, ValueError, AttributeError):
        return REPO_ROOT
    return root if (root / "Pulumi.yaml").is_file() else REPO_ROOT


def read_request() -> DistillationRequest:
    """The stack config as a request; raises ``ConfigError`` naming the bad key.

    The task's files (a dataset, a taskModule) are named relative to the project root, while
    Pulumi runs the program in ``main`` (infra/): they are read from the root, and for the local
    target, whose job runs in its run dir, made absolute. Cloud plans keep them relative: the
    node runs the job inside the unpacked copy the source archive carries."""
    root = project_root()
    try:
        with contextlib.chdir(root):
            request = DistillationRequest.from_stack_config(_raw_stratos_config())
        return request.rooted(root) if request.target == "local" else request
    except ConfigError as exc:
        stack = pulumi.get_stack()
        raise ConfigError(
            str(exc).replace(
                "invalid request",
                f"invalid stack config (stacks/Pulumi.{stack}.yaml, keys under `stratos:`)",
                1,
            )
        ) from None


def _secret(cfg: pulumi.Config, key: str) -> pulumi.Output[str] | None:
    """A secret config value as a secret Output; None when unset or empty (the schema default)."""
    full = f"{NAMESPACE}:{key}"
    if not runtime_config.get_config(full):
        return None
    if not runtime_config.is_config_secret(full):
        raise ConfigError(
            f"stack key {full} holds a plaintext value; it is a secret. "
            f"Set it with `pulumi config set --secret {full} <value>`."
        )
    return cfg.get_secret(key)


def _stack_file_settings(stack: str) -> dict[str, Any]:
    """The stack settings file's top-level keys (``secretsprovider``, ``encryptionsalt``), or {}."""
    import yaml

    try:
        root = Path(pulumi.get_root_directory())
        project = yaml.safe_load((root / "Pulumi.yaml").read_text()) or {}
        folder = root / (project.get("stackConfigDir") or ".")
        return yaml.safe_load((folder / f"Pulumi.{stack}.yaml").read_text()) or {}
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return {}


def _uses_passphrase(stack_file: dict[str, Any], backend_url: str) -> bool:
    """Whether the stack's secrets are encrypted with PULUMI_CONFIG_PASSPHRASE."""
    provider = str(stack_file.get("secretsprovider") or "")
    if provider:
        return provider.startswith("passphrase")
    if "encryptionsalt" in stack_file:
        return True
    # No provider recorded: Pulumi Cloud defaults to its own; every self-managed backend to the passphrase.
    return not (backend_url == "" or backend_url.startswith(("https://api.pulumi.com", "https://app.pulumi.com")))


def check_secrets_provider(
    target: str, stack: str, env: dict[str, str] | None = None, stack_file: dict[str, Any] | None = None
) -> None:
    """Refuse a cloud stack whose secrets the public passphrase encrypts (see the module docstring)."""
    env = dict(os.environ) if env is None else env
    if target == "local":
        return
    passphrase = env.get("PULUMI_CONFIG_PASSPHRASE")
    if passphrase is None and env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        try:
            passphrase = Path(env["PULUMI_CONFIG_PASSPHRASE_FILE"]).read_text().strip()
        except OSError:
            passphrase = None
    stack_file = _stack_file_settings(stack) if stack_file is None else stack_file
    if passphrase != PUBLIC_PASSPHRASE or not _uses_passphrase(stack_file, env.get("PULUMI_BACKEND_URL", "")):
        return
    raise ConfigError(
        f"stack {stack} (target {target}) would encrypt its secrets with PULUMI_CONFIG_PASSPHRASE="
        f"{PUBLIC_PASSPHRASE!r}, the public default scripts/env.sh sets for the local stack only: anyone with "
        "the repository could decrypt them. Export a passphrase of your own "
        "(export PULUMI_CONFIG_PASSPHRASE=<long random string>) or use a cloud KMS "
        "(`pulumi stack change-secrets-provider awskms://alias/<key>` or gcpkms://projects/<p>/locations/<l>/"
        "keyRings/<r>/cryptoKeys/<k>; it re-encrypts the secrets already set), and rotate any secret set so far."
    )


def load_settings() -> Settings:
    """Read and validate the whole stack config (the only function that reads config)."""
    cfg = pulumi.Config(NAMESPACE)
    request = read_request()
    stack = pulumi.get_stack()
    check_secrets_provider(request.target, stack)
    runs_dir = Path(os.environ.get("STRATOS_RUNS_DIR") or REPO_ROOT / "runs" / stack).resolve()
    cert, key = cfg.get(TLS_CERTIFICATE) or None, _secret(cfg, TLS_PRIVATE_KEY)
    if (cert is None) != (key is None) or (cert is not None and "-----BEGIN CERTIFICATE-----" not in cert):
        raise ConfigError(
            f"{NAMESPACE}:{TLS_CERTIFICATE} (a PEM certificate) and {NAMESPACE}:{TLS_PRIVATE_KEY} (its key, "
            "--secret) go together; set both, or neither for a self-signed certificate."
        )
    return Settings(
        project=pulumi.get_project(),
        stack=stack,
        request=request,
        teacher_api_key=_secret(cfg, TEACHER_API_KEY),
        hf_token=_secret(cfg, HF_TOKEN),
        endpoint_token=_secret(cfg, ENDPOINT_TOKEN),
        runs_dir=runs_dir,
        python=sys.executable,
        tls_certificate=cert,
        tls_private_key=key,
    )
