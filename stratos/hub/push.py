"""``push_run``: a finished run to the Hugging Face Hub, model and training set, with cards.

The model repo gets the artifact exactly as exported (safetensors, tokenizer, generation
config, adapter, manifest) except its ``README.md``, re-rendered so the usage snippets
load ``ORG/NAME`` and ``datasets:`` names the data repo; the manifest's hash of the card
is updated to match, so ``stratos serve`` still verifies a downloaded copy. The dataset
repo (default ``ORG/NAME-data``) gets the run's data in ``messages`` format with its
dataset card. The files are staged as hard links (copies across filesystems), never
changing the run dir.

Auth is ``huggingface_hub``'s own: ``HF_TOKEN``, or the login ``hf auth login`` saved.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratos.exceptions import ArtifactError, ConfigError, StratosError
from stratos.manifest import MANIFEST, sha256_file, verify_manifest

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class HubError(StratosError):
    """The Hub refused or could not be reached; says what to do (log in, go online)."""


@dataclass(frozen=True)
class Pushed:
    model_url: str
    dataset_url: str | None


def locate(path: str | Path) -> tuple[Path | None, Path]:
    """(run dir or None, artifact dir) for a run dir (``stratos distill --out``) or an artifact dir."""
    p = Path(path)
    if (p / "artifact" / MANIFEST).is_file():
        return p, p / "artifact"
    if (p / MANIFEST).is_file():
        return None, p
    raise ArtifactError(
        f"{p} is neither a finished run (no artifact/{MANIFEST}) nor an artifact dir (no {MANIFEST}). "
        "Pass the --out dir of a finished `stratos distill`."
    )


def push_run(
    path: str | Path, repo: str, *, dataset_repo: str | None = None, private: bool = False, api: Any = None
) -> Pushed:
    """Upload the run at ``path`` to ``repo`` (and its data to ``dataset_repo``); see module docstring."""
    for key, value in (("--repo", repo), ("--dataset-repo", dataset_repo)):
        if value is not None and not REPO_ID.match(value):
            raise ConfigError(f"{key} {value!r} is not a Hub repo id; write ORG/NAME, e.g. my-org/mahjong-student")
    run, artifact = locate(path)
    verify_manifest(artifact)
    api = api or _api()
    data_repo = None
    dataset_url = None
    if run is not None:
        from stratos.distill.hf_dataset import export_run_dataset

        data_repo = dataset_repo or f"{repo}-data"
        dataset_url = _upload(api, export_run_dataset(run), data_repo, "dataset", private)
    with tempfile.TemporaryDirectory(prefix="stratos-push-") as tmp:
        stage = stage_model(artifact, Path(tmp) / "model", repo, data_repo)
        model_url = _upload(api, stage, repo, "model", private)
    return Pushed(model_url, dataset_url)


def stage_model(artifact: Path, stage: Path, repo: str, dataset_repo: str | None) -> Path:
    """The artifact's files linked into ``stage``, with a card for ``repo`` and a manifest to match."""
    from stratos.distill.model_card import model_card

    for src in artifact.rglob("*"):
        if src.is_file():
            dst = stage / src.relative_to(artifact)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
    card = json.loads((artifact / "stratos.json").read_text())
    readme = stage / "README.md"
    readme.unlink(missing_ok=True)  # a hard link: replace it, never write through to the run
    readme.write_text(model_card(card, model_ref=repo, dataset_repo=dataset_repo))
    manifest = json.loads((stage / MANIFEST).read_text())
    manifest["files"]["README.md"] = sha256_file(readme)
    (stage / MANIFEST).unlink()
    (stage / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return stage


def _api() -> Any:
    try:
        from huggingface_hub import HfApi
    except ImportError as exc:
        raise HubError("`stratos push` needs huggingface_hub: pip install 'stratos[train]'") from exc
    return HfApi()


def _upload(api: Any, folder: Path, repo: str, repo_type: str, private: bool) -> str:
    """Create ``repo`` if needed and commit ``folder`` to it; Hub errors become one clear line."""
    import httpx
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        url = api.create_repo(repo, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(folder), repo_id=repo, repo_type=repo_type, commit_message="Upload from stratos push"
        )
    except OfflineModeIsEnabled:
        raise HubError(
            "HF_HUB_OFFLINE=1 is set (the offline profile of scripts/env.sh): unset it to push to the Hub."
        ) from None
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", None)
        hint = "log in with `hf auth login` or set HF_TOKEN" if status in (401, 403) else "check the repo id and your rights on it"
        raise HubError(f"the Hub refused the {repo_type} upload to {repo} (HTTP {status}): {hint}.") from None
    except (OSError, httpx.TransportError) as exc:  # DNS, refused connection, TLS
        raise HubError(f"could not reach the Hub for {repo} ({type(exc).__name__}: {exc}); check the network or HF_ENDPOINT.") from None
    return str(url)
