"""``LocalDistillationJob``: runs ``stratos distill`` on this machine as a Pulumi resource.

Create writes the plan into a run folder named by the hash of the plan and the
request (so the same inputs always mean the same folder), starts
``stratos distill --config plan.json --out <run>/out --log-file <run>/job.log``
detached in its own session, relays its JSON-lines progress to the Pulumi output
(the engine shows a provider's stderr as info lines) and blocks until the job has
written a verified artifact and ``report.json``.

Interrupted ``pulumi up``: the job keeps running (own session) and its pid record
stays in the run folder. The next ``pulumi up`` sees a pending create, calls
create again with the same inputs, so the same folder: it attaches to the job if
it is still ours and running, returns at once if it finished, and otherwise re-runs
the same command, which resumes from the last checkpoint in ``out``.

An artifact altered or removed behind Pulumi's back is repaired by ``update`` in
the same folder (the job reruns; only its export phase has work left), never by a
replacement, whose old half's delete would remove the folder the new half just
filled. The detached job gets only the environment it needs (``procs.child_env``
plus the teacher key); its pid record is written the moment it starts.

Delete stops the job if it is still running and removes exactly its run folder
(checked by the ``.stratos-job`` marker holding the job id), nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from infra.providers import engine_log, procs
from infra.providers.portable import portable
from stratos.io import json_lines

MARKER = ".stratos-job"
PID_FILE = "job.pid.json"
#: A new job id (what the job computes from changed), request or folder is a new run; a plan whose
#: predictions alone moved (``planJson`` with the same ``jobId``) is an update that keeps the artifact.
REPLACE_ON = ("jobId", "requestJson", "runDir")
PROGRESS_EVERY_S = 10.0


def _say(props: dict, msg: str, *, status: bool = False) -> None:
    """Progress in the Pulumi output: the resource's live status, or a line under it."""
    engine_log.report(
        props.get("urn"), f"[stratos job {props['jobId'][:8]}] {msg}", ephemeral=status
    )


def format_event(ev: dict[str, Any]) -> str:
    """One progress line from a job event (``phase 40% loss=1.2``), for the local job's log tail
    and the cloud job's relay of the node's ``progress.json``."""
    phase = ev.get("phase", "?")
    parts = [str(phase)]
    if isinstance(ev.get("progress"), (int, float)):
        parts.append(f"{100 * float(ev['progress']):.0f}%")
    extras = {
        k: v
        for k, v in ev.items()
        if k not in ("phase", "progress", "time", "ts") and not isinstance(v, (dict, list))
    }
    if extras:
        parts.append(
            ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in list(extras.items())[:5]
            )
        )
    return " ".join(parts)


class _LogTail:
    """Reads new complete JSON lines from the job's log file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return json_lines(data[: end + 1].decode(errors="replace"))


def _finished(out_dir: Path) -> dict[str, Any] | None:
    """The job's outputs when it has finished with a verified artifact, else None."""
    from stratos.exceptions import ArtifactError
    from stratos.manifest import manifest_hash, verify_manifest

    report, artifact = out_dir / "report.json", out_dir / "artifact"
    if not report.is_file():
        return None
    try:
        verify_manifest(artifact)
        body = json.loads(report.read_text())
    except (ArtifactError, ValueError):
        return None
    # The report's metrics, minus long lists (samples) that don't belong in the stack state.
    raw = body.get("metrics", body) if isinstance(body, dict) else {}
    metrics = {k: v for k, v in raw.items() if not isinstance(v, list)}
    return {
        "artifactPath": str(artifact),
        "manifestHash": manifest_hash(artifact),
        "metrics": metrics,
    }


def _intact(olds: dict) -> bool:
    """Whether the artifact the state records is still there, verified and unchanged."""
    done = _finished(Path(olds["runDir"]) / "out")
    return done is not None and done["manifestHash"] == olds.get("manifestHash")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _public(props: dict) -> dict:
    """Inputs minus the teacher key: the secret goes to the job's env, never into the state's outputs."""
    return {k: v for k, v in props.items() if k != "teacherApiKey"}


class LocalDistillationJobProvider(ResourceProvider):
    serialize_as_secret_always = False

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = [k for k in REPLACE_ON if olds.get(k) != news.get(k)]
        # The artifact is gone or altered behind Pulumi's back: repair it in place (update).
        # Not a replacement: that would create the new job in the same run folder and then
        # let the old one's delete remove it.
        damaged = not replaces and olds.get("manifestHash") and not _intact(olds)
        changed = bool(replaces) or bool(damaged) or any(
            olds.get(k) != news.get(k) for k in ("planJson", "timeoutSeconds", "estimatedTotalUsd", "budgetUsd")
        )
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict, news: dict) -> UpdateResult:
        if _intact(olds):
            # Only non-replacing inputs changed (time budget, key): the artifact stands.
            keep = {
                k: olds.get(k) for k in ("artifactPath", "manifestHash", "metrics", "logFile")
            }
            return UpdateResult(outs={**_public(news), **keep})
        # Repair: drop what no longer matches the state, rerun the job in the same folder
        # (every phase but the export is skipped: checkpoints, data and evaluations stand).
        out_dir = Path(news["runDir"]) / "out"
        shutil.rmtree(out_dir / "artifact", ignore_errors=True)
        (out_dir / "report.json").unlink(missing_ok=True)
        _say(news, "the artifact was missing or altered: re-exporting it from the run's checkpoints")
        return UpdateResult(outs=self._create_or_attach(news))

    def create(self, props: dict) -> CreateResult:
        return CreateResult(id_=props["jobId"], outs=self._create_or_attach(props))

    def _create_or_attach(self, props: dict) -> dict[str, Any]:
        """Run the job into its folder (or attach to / adopt what is there); the outputs."""
        procs.exit_with_parent()
        job_id, run = props["jobId"], Path(props["runDir"])
        run.mkdir(parents=True, exist_ok=True)
        marker = run / MARKER
        if marker.exists() and marker.read_text().strip() != job_id:
            raise RuntimeError(
                f"{run} belongs to another job ({marker.read_text().strip()}); refusing to reuse it. "
                "Remove the folder or point STRATOS_RUNS_DIR elsewhere."
            )
        marker.write_text(job_id)
        plan_path = run / "plan.json"
        plan_path.write_text(props["planJson"])
        out_dir, log_file, stdout_file = run / "out", run / "job.log", run / "stdout.log"

        done = _finished(out_dir)
        if done is None:
            self._run(props, run, plan_path, out_dir, log_file, stdout_file)
            done = _finished(out_dir)
        if done is None:
            raise RuntimeError(
                f"distillation job {job_id[:8]} ended without a verified artifact in {out_dir}. "
                f"Last output ({stdout_file}):\n{_tail(stdout_file)}\n"
                "Fix the cause and run `pulumi up` again: it resumes from the last checkpoint."
            )
        _say(
            props,
            f"done: manifest {done['manifestHash'][:12]}, metrics {json.dumps(done['metrics'])[:200]}",
        )
        return {**_public(props), **done, "logFile": str(log_file)}

    def _run(
        self,
        props: dict,
        run: Path,
        plan_path: Path,
        out_dir: Path,
        log_file: Path,
        stdout_file: Path,
    ) -> None:
        job_id = props["jobId"]
        pid_path = run / PID_FILE
        rec = procs.ProcessRecord.read(pid_path)
        tail = _LogTail(log_file)
        if rec is not None and procs.is_ours(rec):
            _say(
                props,
                f"attaching to the running job (pid {rec.pid}) left by an interrupted update",
            )
        else:
            argv = [
                props["python"],
                "-m",
                "stratos.cli",
                "distill",
                "--config",
                str(plan_path),
                "--out",
                str(out_dir),
                "--log-file",
                str(log_file),
            ]
            key = props.get("teacherApiKey")
            secrets = {"STRATOS_TEACHER_API_KEY": key} if key else {}
            if os.environ.get("HF_TOKEN"):  # gated hub teachers and students
                secrets["HF_TOKEN"] = os.environ["HF_TOKEN"]
            resumed = out_dir.exists() and any(out_dir.rglob("LATEST"))
            rec = procs.start_detached(argv, stdout_file, secrets, cwd=run, record_to=pid_path)
            _say(
                props,
                f"{'resuming from checkpoint' if resumed else 'started'} (pid {rec.pid}); log {log_file}",
            )
        engine = os.getppid()
        deadline = time.monotonic() + float(props["timeoutSeconds"])
        last_say, last_msg = 0.0, ""
        while procs.is_ours(rec):
            events = tail.events()
            if events:
                msg = format_event(events[-1])
                now = time.monotonic()
                phase_changed = msg.split(" ")[0] != last_msg.split(" ")[0]
                # A kept line per phase (and every PROGRESS_EVERY_S), live status in between.
                if phase_changed or now - last_say >= PROGRESS_EVERY_S:
                    _say(props, msg)
                    last_say, last_msg = now, msg
                else:
                    _say(props, msg, status=True)
            if time.monotonic() > deadline:
                procs.stop(rec)
                raise TimeoutError(
                    f"distillation job {job_id[:8]} ran past its time budget of "
                    f"{float(props['timeoutSeconds']) / 60:.0f} min (3x the plan's estimate + margin) and was stopped. "
                    "Its checkpoints are kept: run `pulumi up` again to resume, or lower the job size "
                    "(stratos:job n_train / max_train_minutes)."
                )
            if os.getppid() != engine:
                # The Pulumi CLI is gone (killed): nobody will read our answer. Leave the job
                # running (own session) for the next `pulumi up` to attach to, and exit.
                os._exit(3)
            procs.wait_gone(rec, 1.0)
        for ev in tail.events()[-1:]:
            _say(props, format_event(ev))

    def delete(self, _id: str, props: dict) -> None:
        run = Path(props["runDir"])
        marker = run / MARKER
        if not marker.exists() or marker.read_text().strip() != props["jobId"]:
            return  # not ours (or already gone): touch nothing
        procs.stop_recorded(run / PID_FILE)
        shutil.rmtree(run)


class LocalDistillationJob(Resource, module="stratos", name="LocalDistillationJob"):
    """One distillation run on this machine. See the module docstring for the lifecycle.

    Inputs ``estimatedTotalUsd`` and ``budgetUsd`` are what the policy pack's budget
    guard reads from the plan.
    """

    artifactPath: pulumi.Output[str]
    manifestHash: pulumi.Output[str]
    metrics: pulumi.Output[dict]
    logFile: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ):
        outs = {
            "artifactPath": None,
            "manifestHash": None,
            "metrics": None,
            "logFile": None,
        }
        super().__init__(portable(LocalDistillationJobProvider), name, {**props, **outs}, opts)
