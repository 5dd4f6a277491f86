"""The cloud job provider's waiting logic over a store whose objects appear as a node
would write them: progress relayed, the node's error raised, stale markers ignored,
the local job's outputs returned, a timeout from the inputs."""

from __future__ import annotations

import json

import pytest

from infra.providers import cloud_job
from infra.providers.cloud_job import CloudDistillationJobProvider, NodeFailedError, wait

PROPS = {
    "jobId": "0123456789abcdef", "storeUri": "s3://bucket/runs/st/job-0123456789abcdef", "nodeId": "i-0abc",
    "timeoutSeconds": 30, "instanceUrn": "urn:pulumi:st::stratos::x$aws:ec2/instance:Instance::trainer-instance",
    "region": "us-east-1", "urn": "urn:job",
}
COMPLETE = {"manifest_sha256": "ab" * 32, "plan_sha256": "cd" * 32, "node": "i-0abc"}
REPORT = {"metrics": {"student_accuracy": 0.84, "n_test": 500, "samples": [{"q": 1}]}}


class Timeline:
    """A store prefix whose objects appear after a number of polls: ``{poll: {name: bytes}}``."""

    def __init__(self, steps: dict[int, dict[str, object]]) -> None:
        self.steps, self.polls, self.objects = steps, 0, {}

    def read(self, name: str) -> bytes | None:
        if name == "_COMPLETE.json":  # read first in each poll
            self.objects.update({k: v for k, v in self.steps.get(self.polls, {}).items()})
            self.polls += 1
        value = self.objects.get(name)
        if value is None:
            return None
        return value if isinstance(value, bytes) else json.dumps(value).encode()


@pytest.fixture
def said(monkeypatch) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    monkeypatch.setattr(cloud_job.engine_log, "report", lambda urn, msg, ephemeral=False: out.append((msg, ephemeral)))
    return out


def test_waits_relays_progress_and_returns_the_local_jobs_outputs(said) -> None:
    store = Timeline({
        1: {"progress.json": {"time": 1, "phase": "synth", "progress": 0.5}},
        2: {"progress.json": {"time": 2, "phase": "train", "progress": 0.25, "loss": 1.5}},
        3: {"progress.json": {"time": 3, "phase": "train", "progress": 0.75, "loss": 0.9}},
        4: {"report.json": REPORT, "_COMPLETE.json": COMPLETE},
    })
    out = wait(PROPS, store, poll_s=0)
    assert out == {
        "artifactUri": PROPS["storeUri"] + "/artifact",
        "manifestHash": "ab" * 32,
        "metrics": {"student_accuracy": 0.84, "n_test": 500},
    }
    msgs = [(m.split("] ", 1)[1], eph) for m, eph in said]
    # A kept line when the phase changes, the live status line in between.
    assert msgs == [("synth 50%", False), ("train 25% loss=1.5", False), ("train 75% loss=0.9", True)]
    assert all(m.startswith("[stratos node i-0abc]") for m, _ in said)


def test_the_nodes_failure_fails_with_its_own_text_and_the_retry_command() -> None:
    store = Timeline({2: {"_FAILED.txt": b"node i-0abc failed (exit 3)\nCUDA out of memory\n"}})
    with pytest.raises(NodeFailedError) as err:
        wait(PROPS, store, poll_s=0)
    text = str(err.value)
    assert "CUDA out of memory" in text
    assert f"pulumi up --replace '{PROPS['instanceUrn']}'" in text


def test_a_replaced_nodes_failure_marker_is_stale_and_waiting_goes_on(said) -> None:
    store = Timeline({
        0: {"_FAILED.txt": b"node i-0old failed (exit 1)\nboom\n"},
        3: {"_COMPLETE.json": COMPLETE, "report.json": REPORT},
    })
    assert wait(PROPS, store, poll_s=0)["metrics"]["student_accuracy"] == 0.84


def test_no_marker_before_the_plans_timeout_fails(monkeypatch) -> None:
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(cloud_job.time, "monotonic", lambda: float(next(clock)))
    with pytest.raises(TimeoutError, match=r"no completion marker .* after 0.0 h"):
        wait({**PROPS, "timeoutSeconds": 25}, Timeline({}), poll_s=0)


def test_diff_is_inputs_only_and_a_new_node_or_run_replaces() -> None:
    p = CloudDistillationJobProvider()
    outs = {**PROPS, "artifactUri": "x", "manifestHash": "y", "metrics": {}}
    assert not p.diff("id", outs, dict(PROPS)).changes, "an up with nothing changed changes nothing"
    assert p.diff("id", {**PROPS}, {**PROPS, "nodeId": "i-0new"}).replaces == ["nodeId"], "still waiting: wait on the new node"
    finished = p.diff("id", outs, {**PROPS, "nodeId": "i-0new"})
    assert finished.changes and not finished.replaces, "a finished run outlives its node"
    assert p.diff("id", outs, {**PROPS, "storeUri": "s3://b/other"}).replaces == ["storeUri"]
    d = p.diff("id", outs, {**PROPS, "timeoutSeconds": 99})
    assert d.changes and not d.replaces
    assert p.update("id", outs, {**PROPS, "timeoutSeconds": 99}).outs["manifestHash"] == "y"


def test_a_finished_nodes_run_becomes_a_point_of_the_users_calibration_cache(said, monkeypatch, tmp_path) -> None:
    cal = tmp_path / "calibration.jsonl"
    monkeypatch.setenv("STRATOS_CALIBRATION", str(cal))
    report = {**REPORT, "student": {"id": "qwen2.5-0.5b-instruct", "parameters": 494_000_000},
              "data": {"train_examples": 2000, "train_tokens": 4_000_000}, "training": {"tokens_per_s": 9000.0},
              "config": {"planned": {"accuracy": 0.9, "train": {"accelerator": "L4", "accelerator_count": 1,
                                                                "vcpus": 4, "instance_type": "g6.xlarge"}}}}
    store = Timeline({1: {"report.json": report, "_COMPLETE.json": COMPLETE}})
    monkeypatch.setattr(cloud_job.bucket, "open_prefix", lambda uri, region=None: store)
    CloudDistillationJobProvider().create({**PROPS, "pollSeconds": 0})
    (point,) = [json.loads(line) for line in cal.read_text().splitlines()]
    assert point["hardware"]["kind"] == "gpu" and point["hardware"]["accelerator"] == "L4"  # the node's, not ours
    assert point["accuracy"] == 0.84 and point["student_params"] == 494_000_000 and point["predicted"]["accuracy"] == 0.9
