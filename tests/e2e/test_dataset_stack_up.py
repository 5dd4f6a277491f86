"""The example dataset stack through the real engine (#22): a fast `pulumi up` with the offline
SmolLM2 teacher on examples/dataset/sums.jsonl, the endpoint answering a dataset question under
the served name `stratos-sums`, then `destroy` leaving nothing behind. Sizes are cut to a couple
of minutes on 2 cores; the full-size run is the stack itself (README, "Distil your own data")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers.local_project import ROOT, LocalProject, free_port, needs_engine

pytestmark = [pytest.mark.e2e, pytest.mark.engine, pytest.mark.slow, needs_engine]

TINY_JOB = {
    "profile": "fast", "seed": 0, "n_train": 24, "n_val": 12, "n_test": 12, "probe_size": 6,
    "teacher_eval_size": 6, "samples_per_question": 2, "teacher_max_new_tokens": 12, "threads": 2,
}


def test_up_serves_the_dataset_student_and_destroy_cleans_up(tmp_path: Path) -> None:
    from openai import OpenAI

    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.example-dataset.yaml").read_text())["config"]
    port = free_port()
    project = LocalProject(tmp_path, "example-dataset", {
        **config, "stratos:job": TINY_JOB, "stratos:network": {"serving_port": port},
    })
    (project.dir / "examples").symlink_to(ROOT / "examples")
    project.pulumi("up", "--yes", "--skip-preview", timeout=900)
    outs = project.outputs()
    assert outs["modelName"] == "stratos-sums" and 0.0 <= outs["accuracy"] <= 1.0
    (report,) = project.runs.rglob("report.json")
    body = json.loads(report.read_text())
    assert body["task"] == "sums" and body["probe"]["n"] == 6 and body["mode"] in ("alignment", "injection")
    assert (report.parent / "dataset" / "train.jsonl").is_file()  # the TRL `messages` export
    client = OpenAI(base_url=outs["endpoint"], api_key=outs["token"])
    reply = client.chat.completions.create(
        model=outs["modelName"], messages=[{"role": "user", "content": "Answer with a number only.\n\nWhat is 2 + 3?"}],
        max_tokens=16, temperature=0,
    )
    assert reply.model == "stratos-sums" and reply.choices[0].message.content is not None
    project.pulumi("destroy", "--yes", "--skip-preview")
    assert not project.runs.exists() and project.resources() == []
