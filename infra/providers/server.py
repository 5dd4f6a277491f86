"""``LocalServer``: the OpenAI-compatible server on this machine, as a Pulumi resource.

Create first stops a server an interrupted create of the same endpoint left behind
(its record is in the state dir), refuses a busy port, writes the token to a 0600
file, starts ``python -m stratos.serve --model <artifact> --host --port --token-file
--model-name`` detached (own session, only the environment it needs) and records its
pid, start time and command line in ``server.pid.json`` *before* it waits for
``GET /health`` to answer 200 (the server reports healthy only after verifying the
artifact's manifest). So a ``pulumi up`` killed during that wait leaves a server the
next create, ``infra.recover`` and ``pulumi destroy`` can all find and stop.

Delete signals that process group only if the pid still has the recorded start
time and command line (so a reused pid is never killed), waits for the port to be
free, and removes the token and log files it wrote.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

from infra.providers import procs
from infra.providers.portable import portable

REPLACE_ON = ("artifactPath", "manifestHash", "host", "port", "modelName", "token", "stateDir")
MARKER = ".stratos-server"
PID_FILE = "server.pid.json"


def _record(props: dict) -> procs.ProcessRecord | None:
    if not props.get("pid"):
        return None
    return procs.ProcessRecord(
        pid=int(props["pid"]), start_time=float(props["startTime"]), cmdline=list(props["cmdline"])
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


class LocalServerProvider(ResourceProvider):
    serialize_as_secret_always = False

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = [k for k in REPLACE_ON if olds.get(k) != news.get(k)]
        rec = _record(olds)
        if not replaces and (rec is None or not procs.is_ours(rec)):
            replaces = ["pid"]  # the server died (reboot, crash): start it again
        changed = bool(replaces) or olds.get("readyTimeoutSeconds") != news.get(
            "readyTimeoutSeconds"
        )
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def create(self, props: dict) -> CreateResult:
        procs.exit_with_parent()
        host, port = props["host"], int(props["port"])
        state = Path(props["stateDir"])
        if procs.stop_recorded(state / PID_FILE):
            procs.wait_port_free(host, port, 15.0)  # an interrupted create's server: ours to replace
        if not procs.port_free(host, port):
            raise RuntimeError(
                f"port {host}:{port} is already in use, so the endpoint cannot start there. "
                "Stop whatever listens on it, or choose another port: "
                "`pulumi config set --path stratos:network.serving_port <port>`."
            )
        state.mkdir(parents=True, exist_ok=True)
        (state / MARKER).write_text(str(port))
        token_file = state / "token"
        token_file.touch(mode=0o600)
        token_file.chmod(0o600)
        token_file.write_text(props["token"])
        log = state / "server.log"
        argv = [
            props["python"],
            "-m",
            "stratos.serve",
            "--model",
            props["artifactPath"],
            "--host",
            host,
            "--port",
            str(port),
            "--token-file",
            str(token_file),
            "--model-name",
            props["modelName"],
        ]
        rec = procs.start_detached(argv, log, record_to=state / PID_FILE)
        url = f"http://{host}:{port}"
        deadline = time.monotonic() + float(props["readyTimeoutSeconds"])
        while True:
            if not procs.is_ours(rec):
                raise RuntimeError(
                    f"the server exited before it was ready. Its log ({log}):\n{_tail(log)}"
                )
            try:
                if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                procs.stop(rec)
                raise TimeoutError(
                    f"the server on {url} was not healthy after {props['readyTimeoutSeconds']} s and was stopped. "
                    f"Its log ({log}):\n{_tail(log)}"
                )
            time.sleep(0.5)
        outs = {
            **{k: v for k, v in props.items() if k != "token"},
            "url": f"{url}/v1",
            "pid": rec.pid,
            "startTime": rec.start_time,
            "cmdline": rec.cmdline,
            "logFile": str(log),
            "token": props["token"],
        }
        return CreateResult(id_=f"{host}:{port}:{rec.pid}", outs=outs)

    def delete(self, _id: str, props: dict) -> None:
        rec = _record(props)
        if rec is not None:
            procs.stop(rec)
        procs.stop_recorded(Path(props["stateDir"]) / PID_FILE)
        host, port = props["host"], int(props["port"])
        if rec is not None and not procs.wait_port_free(host, port, 15.0):
            raise RuntimeError(
                f"port {host}:{port} is still in use after stopping the server (pid {rec.pid}); "
                "something else holds it. Check with `ss -ltnp`."
            )
        state = Path(props["stateDir"])
        if (state / MARKER).exists():
            shutil.rmtree(state)


class LocalServer(Resource, module="stratos", name="LocalServer"):
    """A detached ``stratos serve`` process; ``url`` ends in ``/v1``."""

    url: pulumi.Output[str]
    pid: pulumi.Output[int]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ):
        outs = {"url": None, "pid": None, "startTime": None, "cmdline": None, "logFile": None}
        opts = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(additional_secret_outputs=["token"], delete_before_replace=True),
        )
        super().__init__(portable(LocalServerProvider), name, {**props, **outs}, opts)
