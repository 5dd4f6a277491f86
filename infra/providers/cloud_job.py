"""``CloudDistillationJob``: ``pulumi up`` waits here until the training node has finished.

The node runs the job from its bootstrap script and writes everything to the run's
prefix in the artifact store (``infra/bootstrap/templates/train.sh``): a small
``progress.json`` every ~30 s, then either ``_COMPLETE.json`` (after the artifact and
``report.json``) or ``_FAILED.txt`` (the node's own error text). ``create`` polls those
objects from the machine running Pulumi and:

* shows the node's latest progress event as the live status of the resource's row;
* returns the same outputs as the local job (artifact URI, manifest hash, metrics);
* fails with the node's error text on ``_FAILED.txt`` written by *this* node (a
  failure marker left by a node that was replaced is stale and ignored);
* fails after ``timeoutSeconds`` (from the plan), leaving the node and its checkpoints.

An interrupted ``pulumi up`` leaves the create pending; the next ``up`` calls create
again with the same inputs and resumes waiting on the same node and run prefix (the
instance is already in the state, so no second node starts). ``diff`` compares inputs
only, so an ``up`` with nothing changed changes nothing; once the run has finished, a
new training node (the old one removed to save its disk) is not a new run. Delete removes nothing: the
objects go with the bucket, the node with its instance resource.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from infra.bootstrap.layout import MARKER_FAILED, MARKER_OK, PROGRESS, REPORT
from infra.providers import bucket, engine_log, procs
from infra.providers.job import format_event
from infra.providers.portable import portable
from stratos import calibration

# Imported on the provider process's first call for this resource (any method): a killed
# CLI must not leave the process behind, polling (the next up resumes the wait itself).
procs.exit_with_parent()

REPLACE_ON = ("jobId", "storeUri", "nodeId")
#: How often the store is polled; the node writes progress every ~30 s.
POLL_S = 10.0
FAILED_HEADER = re.compile(r"^node (\S+) ")


class NodeFailedError(RuntimeError):
    """The training node wrote its failure marker."""


def metrics_of(report: Any) -> dict[str, Any]:
    """The report's metrics minus long lists (samples), as the stack output shows them."""
    raw = report.get("metrics", report) if isinstance(report, dict) else {}
    return {k: v for k, v in raw.items() if not isinstance(v, list)}


def failure_of(prefix: bucket.Prefix, node_id: str) -> str | None:
    """The node's error text when *this* node wrote the failure marker, else None."""
    raw = prefix.read(MARKER_FAILED)
    if raw is None:
        return None
    text = raw.decode(errors="replace")
    m = FAILED_HEADER.match(text)
    if m is not None and m.group(1) != node_id:
        return None  # left by a replaced node; the new one is still working
    return text.strip()


def finished(props: dict, prefix: bucket.Prefix) -> dict[str, Any] | None:
    """The job's outputs once the completion marker is there, else None."""
    marker = bucket.read_json(prefix, MARKER_OK)
    if not isinstance(marker, dict) or "manifest_sha256" not in marker:
        return None
    return {
        "artifactUri": f"{props['storeUri']}/artifact",
        "manifestHash": marker["manifest_sha256"],
        "metrics": metrics_of(bucket.read_json(prefix, REPORT) or {}),
    }


def _say(props: dict, msg: str, *, status: bool = False) -> None:
    engine_log.report(props.get("urn"), f"[stratos node {props['nodeId']}] {msg}", ephemeral=status)


def wait(props: dict, prefix: bucket.Prefix, poll_s: float = POLL_S) -> dict[str, Any]:
    """Poll ``prefix`` until the node finishes; relay progress; raise on failure or timeout."""
    deadline = time.monotonic() + float(props["timeoutSeconds"])
    seen = None
    while True:
        done = finished(props, prefix)
        if done is not None:
            return done
        error = failure_of(prefix, props["nodeId"])
        if error is not None:
            raise NodeFailedError(
                f"the training node failed; its error:\n{error}\n"
                f"Fix the cause, then retry on a fresh node: pulumi up --replace '{props['instanceUrn']}' "
                f"(it resumes from the checkpoints in {props['storeUri']}/run)."
            )
        event = bucket.read_json(prefix, PROGRESS)
        if isinstance(event, dict) and event != seen:
            phase_changed = not isinstance(seen, dict) or seen.get("phase") != event.get("phase")
            _say(props, format_event(event), status=not phase_changed)
            seen = event
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no completion marker in {props['storeUri']} after {float(props['timeoutSeconds']) / 3600:.1f} h "
                "(3x the plan's training estimate + margin). The node keeps its checkpoints; check its log "
                f"({props['storeUri']}/run/job.log), then `pulumi up` again to keep waiting."
            )
        time.sleep(poll_s)


class CloudDistillationJobProvider(ResourceProvider):
    serialize_as_secret_always = False

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = [k for k in REPLACE_ON if olds.get(k) != news.get(k)]
        if olds.get("manifestHash") and replaces == ["nodeId"]:
            replaces = []  # a finished run outlives its node: a new training node does not retrain
        changed = bool(replaces) or any(
            olds.get(k) != news.get(k)
            for k in ("nodeId", "timeoutSeconds", "estimatedTotalUsd", "budgetUsd", "instanceUrn")
        )
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        return UpdateResult(outs={**news, **{k: olds.get(k) for k in ("artifactUri", "manifestHash", "metrics")}})

    def create(self, props: dict) -> CreateResult:
        prefix = bucket.open_prefix(props["storeUri"], props.get("region"))
        _say(props, f"waiting for the job's completion marker in {props['storeUri']}")
        done = wait(props, prefix, float(props.get("pollSeconds") or POLL_S))
        # the node's measured point, for the user's next plan (the node's own cache goes with the node)
        calibration.record_run(bucket.read_json(prefix, REPORT) or {}, on_this_host=False)
        _say(props, f"done: manifest {done['manifestHash'][:12]}, metrics {str(done['metrics'])[:200]}")
        return CreateResult(id_=props["jobId"], outs={**props, **done})

    def delete(self, _id: str, props: dict) -> None:
        return None


class CloudDistillationJob(Resource, module="stratos", name="CloudDistillationJob"):
    """Waits for a training node's job (see the module docstring). Inputs ``estimatedTotalUsd``
    and ``budgetUsd`` are what the policy pack's budget guard reads."""

    artifactUri: pulumi.Output[str]
    manifestHash: pulumi.Output[str]
    metrics: pulumi.Output[dict]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None):
        outs = {"artifactUri": None, "manifestHash": None, "metrics": None}
        super().__init__(portable(CloudDistillationJobProvider), name, {**props, **outs}, opts)
