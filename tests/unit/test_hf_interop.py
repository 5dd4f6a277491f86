"""Hugging Face interop: the model card (metadata, snippets that run as written), the
training set in TRL's ``messages`` format with its dataset card, and ``stratos push``
against a local stand-in of the Hub's HTTP API.

The run is a real export (``export_artifact`` on a tiny random Llama) plus data splits the
Mahjong task generates, laid out as ``stratos distill --out`` leaves them (slow: exporting
and loading the model imports transformers, ~20 s on 2 shared cores).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.hub_stub import HubStub
from helpers.tiny_model import make_tiny_model_dir

from stratos.distill.hf_dataset import export_run_dataset
from stratos.distill.model_card import card_metadata, model_card
from stratos.exceptions import ConfigError
from stratos.hub.push import HubError, push_run
from stratos.manifest import verify_manifest
from stratos.synth.dataset import read_jsonl, write_jsonl
from stratos.tasks.base import get_task

CARD = {
    "task": "mahjong", "teacher": "gpt-4o", "student": "scratch-llama-3m", "mode": "injection",
    "parameters": 150_000, "metrics": {"student_accuracy": 0.8125, "teacher_accuracy": 0.31},
    "data": {"train_examples": 40, "val": 8, "test": 16, "train_tokens": 12345}, "hardware": "x86_64 CPU, 2 cores",
    "wall_s": 61.0, "cost_usd": 0.0012, "seed": 0, "max_new_tokens": 24, "table": {"single-suit accuracy": 0.5},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished run: artifact (exported for real), config.json and data splits."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from stratos.distill.export import export_artifact

    root = tmp_path_factory.mktemp("run")
    tiny = make_tiny_model_dir(root / "tiny", manifest=False)
    model, tok = AutoModelForCausalLM.from_pretrained(tiny), AutoTokenizer.from_pretrained(tiny)
    run = root / "run"
    export_artifact(model, tok, run / "artifact", CARD, max_new_tokens=24)
    task = get_task("mahjong")
    rows = task.generate(64, seed=3)
    for name, part in (("train_synth", rows[:40]), ("val", rows[40:48]), ("test", rows[48:])):
        write_jsonl(run / "data" / f"{name}.jsonl", part)
    (run / "config.json").write_text(json.dumps({"task": "mahjong", "target_style": "short"}))
    return run


def front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


def python_blocks(card: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", card, flags=re.S)


def test_card_metadata_is_complete():
    meta = front_matter(model_card(CARD, model_ref="/srv/models/mahjong"))
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "transformers"
    assert "base_model" not in meta  # a from-scratch student has no base model
    result = meta["model-index"][0]["results"][0]
    assert result["metrics"][0] == {"type": "accuracy", "value": 0.8125, "name": "exact-match accuracy"}
    assert result["dataset"]["split"] == "test"
    hub = card_metadata({**CARD, "student": "qwen2.5-3b-instruct"}, dataset_repo="me/data")
    assert hub["base_model"] == "Qwen/Qwen2.5-3B-Instruct" and hub["license"] == "other"
    assert hub["license_name"] == "qwen-research" and hub["datasets"] == ["me/data"]
    assert card_metadata({**CARD, "student": "llama-3.2-1b-instruct"})["license"] == "llama3.2"


@pytest.mark.slow
def test_transformers_snippet_runs_as_written(run_dir):
    snippet = python_blocks((run_dir / "artifact" / "README.md").read_text())[0]
    assert str(run_dir / "artifact") in snippet and "Which tiles" in snippet  # a real question of the task
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.slow
def test_openai_snippet_runs_against_stratos_serve(run_dir, monkeypatch):
    from helpers.server import serve_in_thread
    from pydantic import SecretStr

    from stratos.serve.engine import GenerationEngine
    from stratos.serve.server import ServeConfig, build_server_app

    snippet = python_blocks((run_dir / "artifact" / "README.md").read_text())[1]
    artifact = run_dir / "artifact"
    config = ServeConfig(model_dir=artifact, token=SecretStr("card-token"))  # served under its dir name, as documented
    with serve_in_thread(build_server_app(config, engine=GenerationEngine.from_dir(artifact, threads=1))) as base:
        code = snippet.replace("http://127.0.0.1:8000", base)  # the card's port 8000 is taken on a shared machine
        env = {**os.environ, "STRATOS_API_TOKEN": "card-token"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.slow
def test_training_set_in_messages_format_loads_in_datasets_and_trl(run_dir):
    from datasets import load_dataset
    from trl.data_utils import is_conversational

    ds_dir = export_run_dataset(run_dir)
    rows = [json.loads(x) for x in (ds_dir / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]
    task = get_task("mahjong")
    source = {e.id: e for e in read_jsonl(run_dir / "data" / "train_synth.jsonl")}
    for row in rows:  # each chat is the verified example: the task's prompt, a completion with its answer
        ex = source[row["id"]]
        assert row["messages"][0]["content"] == task.prompt(ex.question)
        assert task.parse_answer(row["messages"][1]["content"]) == ex.answer
    meta = front_matter((ds_dir / "README.md").read_text())
    splits = {f["split"]: f["path"] for f in meta["configs"][0]["data_files"]}
    assert splits == {"train": "train.jsonl", "validation": "validation.jsonl", "test": "test.jsonl"}
    ds = load_dataset("json", data_files={s: str(ds_dir / p) for s, p in splits.items()})
    assert ds["train"].num_rows == 40 and ds["test"].num_rows == 16
    assert is_conversational(ds["train"][0])


@pytest.mark.slow
def test_push_uploads_model_and_data_with_cards_for_the_repo(run_dir, monkeypatch):
    from huggingface_hub import HfApi, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    before = (run_dir / "artifact" / "README.md").read_text()
    with HubStub() as hub:
        pushed = push_run(run_dir, "me/mahjong-student", api=HfApi(endpoint=hub.url, token=hub.token))
        model, data = hub.files("me/mahjong-student"), hub.files("me/mahjong-student-data", "dataset")
    assert pushed.model_url.endswith("/me/mahjong-student") and pushed.dataset_url.endswith("/datasets/me/mahjong-student-data")
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "manifest.json", "stratos.json"} <= set(model)
    assert {"train.jsonl", "validation.jsonl", "test.jsonl", "README.md"} == set(data)
    card = model["README.md"].decode()
    assert front_matter(card)["datasets"] == ["me/mahjong-student-data"]
    assert "model_id = 'me/mahjong-student'" in card and "hf download me/mahjong-student" in card
    downloaded = run_dir.parent / "downloaded"
    for name, blob in model.items():
        (downloaded / name).parent.mkdir(parents=True, exist_ok=True)
        (downloaded / name).write_bytes(blob)
    verify_manifest(downloaded)  # `stratos serve` accepts the pushed copy
    assert (run_dir / "artifact" / "README.md").read_text() == before  # the run itself is untouched
    verify_manifest(run_dir / "artifact")


@pytest.mark.slow
def test_push_errors_are_one_clear_line(run_dir, monkeypatch):
    from huggingface_hub import HfApi, constants

    with pytest.raises(ConfigError, match="ORG/NAME"):
        push_run(run_dir, "no-slash")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with HubStub() as hub, pytest.raises(HubError, match="hf auth login"):
        push_run(run_dir, "me/x", api=HfApi(endpoint=hub.url, token="hf_wrong"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        push_run(run_dir, "me/x", api=HfApi(endpoint="http://127.0.0.1:9", token="t"))


def test_model_card_for_a_local_dir_points_at_it():
    card = model_card(CARD, model_ref="/srv/models/mahjong")
    assert "model_id = '/srv/models/mahjong'" in card and "hf download" not in card
    assert "stratos serve --model /srv/models/mahjong --port 8000" in card
