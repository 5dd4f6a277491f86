"""The example dataset stack through the real Pulumi engine (#22): `pulumi preview` plans it with
the accuracy marked uncalibrated, and a bad row fails the preview naming file and line, with
nothing created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers.local_project import ROOT, LocalProject, free_port, needs_engine

pytestmark = [pytest.mark.engine, needs_engine]


def _example_config() -> dict:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.example-dataset.yaml").read_text())["config"]
    return {**config, "stratos:network": {"serving_port": free_port()}}


def _project(tmp_path: Path, config: dict) -> LocalProject:
    project = LocalProject(tmp_path, "example-dataset", config)
    (project.dir / "examples").symlink_to(ROOT / "examples")  # the dataset, at its project-relative path
    return project


def test_preview_plans_the_example_dataset_stack(tmp_path: Path) -> None:
    project = _project(tmp_path, _example_config())
    out = project.pulumi("preview", "--diff")
    assert "smollm2-135m-instruct" in out.stdout and "accuracy uncalibrated" in out.stdout, out.stdout[-3000:]
    assert not project.runs.exists()  # a preview creates nothing


def test_preview_refuses_a_bad_row_naming_file_and_line(tmp_path: Path) -> None:
    config = _example_config()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "What is 1 + 1?", "answer": 2}) + "\n"
                   + json.dumps({"question": "What is 2 + 2?", "answer": "four"}) + "\n")
    config["stratos:task"] = {**config["stratos:task"], "dataset": str(bad)}
    project = _project(tmp_path, config)
    out = project.pulumi("preview", check=False)
    assert out.returncode != 0
    assert f"{bad}:2: field 'answer': the numeric checker reads no answer in 'four'" in out.stdout + out.stderr
    assert not project.runs.exists()
