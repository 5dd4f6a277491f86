"""The example dataset task (#22): the shipped file is what its generator writes, and the example
stack is a valid request whose plan carries the dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stratos.spec import load_request

ROOT = Path(__file__).resolve().parents[2]


def test_the_generator_writes_the_shipped_file(tmp_path):
    out = tmp_path / "sums.jsonl"
    subprocess.run([sys.executable, str(ROOT / "examples/dataset/make_sums.py"), "--out", str(out)], check=True)
    assert out.read_bytes() == (ROOT / "examples/dataset/sums.jsonl").read_bytes()


def test_the_example_stack_loads_its_dataset_task(monkeypatch):
    monkeypatch.chdir(ROOT)
    req = load_request(ROOT / "stacks/Pulumi.example-dataset.yaml")
    task = req.task_ref.load()
    assert task.name == "sums" and len(task.examples) == 1524 and task.has_references
    parts = task.make_splits(req.job.n_train, req.job.n_val, req.job.n_test, seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [400, 100, 150]
    assert req.task_ref.files() == ["examples/dataset/sums.jsonl"] and req.mode == "auto"
