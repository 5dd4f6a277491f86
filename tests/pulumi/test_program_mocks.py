"""The Pulumi program under ``pulumi.runtime.set_mocks``: the graph, the outputs, config errors.

Runs ``infra/__main__.py`` for real (config -> request -> planner -> local backend)
with the engine replaced by mocks, so it needs no CLI. The real engine is covered
by ``tests/engine`` and ``tests/e2e``.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

from stratos.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "infra" / "__main__.py"
DYN = "pulumi-python:dynamic/stratos:"

FAST = {
    "stratos:target": "local",
    "stratos:task": "mahjong",
    "stratos:job": json.dumps({"profile": "fast", "seed": 1}),
    "stratos:constraints": json.dumps({"budget_usd": 5, "serving_hours": 24}),
    "stratos:network": json.dumps({"serving_port": 18123}),
}


class LocalMocks(pulumi.runtime.Mocks):
    """Realistic outputs for the local dynamic resources (what their providers return)."""

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        outs = dict(args.inputs)
        if args.typ == DYN + "LocalDirectory":
            outs.update(uri=Path(outs["path"]).as_uri(), created=True)
        elif args.typ == DYN + "LocalDistillationJob":
            outs.update(
                artifactPath=f"{outs['runDir']}/out/artifact",
                manifestHash="ab" * 32,
                metrics={"accuracy": 0.81, "n_test": 50},
                logFile=f"{outs['runDir']}/job.log",
            )
            outs.pop("teacherApiKey", None)
        elif args.typ == DYN + "LocalServer":
            outs.update(
                url=f"http://{outs['host']}:{int(outs['port'])}/v1",
                pid=4242,
                startTime=1,
                cmdline=["x"],
            )
        elif args.typ == DYN + "GeneratedToken":
            outs.update(value="generated-token-value")
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        return {}, None


def run_program(
    config: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    preview: bool = False,
    secret_keys: list[str] | None = None,
):
    """Run the program once under fresh mocks; returns (program globals, mock monitor)."""
    monkeypatch.setenv("STRATOS_RUNS_DIR", str(tmp_path / "runs"))
    monitor = MockMonitor(LocalMocks())
    pulumi.runtime.set_mocks(
        LocalMocks(), project="stratos", stack="mocktest", preview=preview, monitor=monitor
    )
    pulumi.runtime.set_all_config(config, secret_keys or [])
    return runpy.run_path(str(PROGRAM)), monitor


@pulumi.runtime.test
def test_graph_components_and_parenting(tmp_path, monkeypatch):
    g, monitor = run_program(FAST, tmp_path, monkeypatch)

    def check(_):
        chain = {u.rsplit("::", 1)[1]: u.split("::")[2].split("$") for u in monitor.resources}
        for name, typ in [
            ("artifacts", "ArtifactStore"),
            ("trainer", "TrainingCluster"),
            ("distill", "DistillationJob"),
            ("endpoint", "ServingEndpoint"),
        ]:
            assert chain[name][-1] == f"stratos:index:{typ}"
        # Children are parented: their URN's type chain ends in the component's type.
        assert chain["distill-run"][-2:] == [
            "stratos:index:DistillationJob",
            f"{DYN}LocalDistillationJob",
        ]
        assert chain["endpoint-server"][-2:] == [
            "stratos:index:ServingEndpoint",
            f"{DYN}LocalServer",
        ]
        assert chain["endpoint-token"][-2:] == [
            "stratos:index:ServingEndpoint",
            f"{DYN}GeneratedToken",
        ]
        assert chain["artifacts-dir"][-2:] == [
            "stratos:index:ArtifactStore",
            f"{DYN}LocalDirectory",
        ]

    return g["endpoint"].url.apply(check)


@pulumi.runtime.test
def test_job_inputs_carry_plan_budget_and_deterministic_run_dir(tmp_path, monkeypatch):
    g, monitor = run_program(FAST, tmp_path, monkeypatch)
    plan = g["plan"]

    def check(_):
        job = next(r for u, r in monitor.resources.items() if u.endswith("::distill-run"))
        inputs = job.state
        assert inputs["estimatedTotalUsd"] == pytest.approx(plan.cost.total_usd)
        assert inputs["budgetUsd"] == 5
        assert json.loads(inputs["planJson"]) == plan.model_dump(mode="json")
        assert inputs["runDir"] == str(tmp_path / "runs" / f"job-{inputs['jobId']}")
        assert inputs["timeoutSeconds"] >= 15 * 60

    return g["job"].artifact_uri.apply(check)


def test_same_config_same_job_id(tmp_path, monkeypatch):
    """The run folder is a function of the inputs: what makes an interrupted up resumable."""
    from infra.backends.local import job_id

    g, _ = run_program(FAST, tmp_path, monkeypatch)
    g2, _ = run_program(FAST, tmp_path, monkeypatch)
    assert job_id(g["plan"], g["settings"]) == job_id(g2["plan"], g2["settings"])


@pulumi.runtime.test
def test_constraint_change_changes_job_id(tmp_path, monkeypatch):
    from infra.backends.local import job_id

    g, _ = run_program(FAST, tmp_path, monkeypatch)
    changed = {**FAST, "stratos:constraints": json.dumps({"budget_usd": 6, "serving_hours": 24})}
    g2, _ = run_program(changed, tmp_path, monkeypatch)
    assert job_id(g["plan"], g["settings"]) != job_id(g2["plan"], g2["settings"])
    return g2["endpoint"].url


@pulumi.runtime.test
def test_outputs_cost_accuracy_endpoint_and_secret_token(tmp_path, monkeypatch):
    g, _ = run_program(FAST, tmp_path, monkeypatch)
    plan = g["plan"]
    from infra import outputs

    cost = outputs.estimated_cost(plan)
    assert set(cost) >= {
        "synthesis_usd",
        "training_usd",
        "serving_usd",
        "total_usd",
        "currency",
        "assumptions",
    }
    summary = outputs.plan_summary(plan)
    assert (
        summary["teacher"] == plan.teacher
        and summary["student"] == plan.student
        and summary["reasons"]
    )
    assert outputs.pareto_top(g["result"].to_json())

    def check(args):
        url, token_secret, accuracy = args
        assert url == "http://127.0.0.1:18123/v1"
        assert token_secret is True
        assert accuracy == pytest.approx(0.81)

    acc = g["job"].metrics.apply(lambda m: m["accuracy"])
    return pulumi.Output.all(
        g["endpoint"].url, pulumi.Output.from_input(g["endpoint"].token.is_secret()), acc
    ).apply(check)


@pulumi.runtime.test
def test_configured_endpoint_token_is_used_and_stays_secret(tmp_path, monkeypatch):
    g, monitor = run_program(
        {**FAST, "stratos:endpointToken": "my-token"},
        tmp_path,
        monkeypatch,
        secret_keys=["stratos:endpointToken"],
    )

    def check(value):
        assert value == "my-token"
        assert not any(u.endswith("::endpoint-token") for u in monitor.resources)

    return g["endpoint"].token.apply(check)


@pulumi.runtime.test
def test_preview_registers_resources_but_knows_the_cost(tmp_path, monkeypatch):
    g, monitor = run_program(FAST, tmp_path, monkeypatch, preview=True)
    assert g["plan"].cost.total_usd >= 0
    assert not (tmp_path / "runs").exists()  # the program itself never touches the disk
    return g["endpoint"].url


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("stratos:target", "azure", "target"),
        ("stratos:constraints", json.dumps({"min_acuracy": 0.5}), "min_acuracy"),
        ("stratos:job", json.dumps({"profile": "turbo"}), "profile"),
    ],
)
def test_bad_config_names_the_key(key, value, named, tmp_path, monkeypatch):
    with pytest.raises((ConfigError, pulumi.RunError)) as err:
        run_program({**FAST, key: value}, tmp_path, monkeypatch)
    assert named in str(err.value)


def test_plaintext_secret_is_refused_naming_the_key(tmp_path, monkeypatch):
    with pytest.raises((ConfigError, pulumi.RunError), match="stratos:teacherApiKey.*--secret"):
        run_program({**FAST, "stratos:teacherApiKey": "sk-plain"}, tmp_path, monkeypatch)


def test_pulumi_yaml_schema_matches_request_model():
    from infra import schema

    assert (ROOT / "Pulumi.yaml").read_text() == schema.render(), "run `python -m infra.schema`"
