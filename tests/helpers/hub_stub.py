"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1 (a free port).

Answers what ``HfApi.create_repo`` and ``HfApi.upload_folder`` send: repo creation,
``validate-yaml`` (the card metadata checks a Stratos card could fail), ``preupload`` (every file is uploaded inline, "regular" mode, so no LFS/Xet transfer is
needed) and the NDJSON ``commit``, whose files it decodes and keeps per repo, so a test
can read back exactly what was pushed. Requests are recorded; a ``token`` other than
the expected one gets 401 like the real Hub.
"""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from helpers.server import LoopbackStub


class HubStub(LoopbackStub):
    """``with HubStub() as hub:`` then ``HfApi(endpoint=hub.url, token=hub.token)``."""

    token = "hf_stub_token"

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}  # "model:org/name" -> {"private": bool, "files": {path: bytes}}
        self.requests: list[tuple[str, str]] = []
        self._start_server("")

    def files(self, repo: str, repo_type: str = "model") -> dict[str, bytes]:
        return self.repos[f"{repo_type}:{repo}"]["files"]

    def _create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        repo = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
        kind = body.get("type") or "model"
        key = f"{kind}:{repo}"
        if key in self.repos:
            return 409, {"error": "You already created this repo", "url": self._repo_url(kind, repo)}
        self.repos[key] = {"private": bool(body.get("private")), "files": {}}
        return 200, {"url": self._repo_url(kind, repo), "name": repo}

    def _repo_url(self, kind: str, repo: str) -> str:
        return f"{self.url}/{'datasets/' if kind == 'dataset' else ''}{repo}"

    def _commit(self, kind: str, repo: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        files = self.repos[f"{kind}:{repo}"]["files"]
        for line in raw.decode().splitlines():
            op = json.loads(line)
            if op["key"] == "file":
                files[op["value"]["path"]] = base64.b64decode(op["value"]["content"])
        return 200, {"commitUrl": f"{self._repo_url(kind, repo)}/commit/1", "commitOid": "1" * 40}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with hub.lock:
                    hub.requests.append(("POST", self.path))
                    if self.headers.get("Authorization") != f"Bearer {hub.token}":
                        return self._send(401, {"error": "Invalid credentials in Authorization header"})
                    parts = self.path.split("?")[0].strip("/").split("/")
                    if parts == ["api", "validate-yaml"]:
                        errors = card_errors(json.loads(raw))
                        return self._send(400 if errors else 200, {"errors": [{"message": e} for e in errors]})
                    if parts[:3] == ["api", "repos", "create"]:
                        return self._send(*hub._create(json.loads(raw)))
                    # api/{models|datasets}/{org}/{name}/{preupload|commit}/{revision}
                    kind, repo, action = parts[1][:-1], f"{parts[2]}/{parts[3]}", parts[4]
                    if action == "preupload":
                        files = json.loads(raw)["files"]
                        return self._send(200, {"files": [
                            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                        ]})
                    if action == "commit":
                        return self._send(*hub._commit(kind, repo, raw))
                self._send(404, {"error": f"no route {self.path}"})

        return Handler


def card_errors(body: dict[str, Any]) -> list[str]:
    """The checks the Hub's ``validate-yaml`` makes that a Stratos card could fail."""
    import yaml

    text = body["content"]
    if not text.startswith("---\n"):
        return []
    try:
        meta = yaml.safe_load(text.split("---\n")[1]) or {}
    except yaml.YAMLError as exc:
        return [f"invalid YAML: {exc}"]
    errors = []
    if meta.get("license") == "other" and not meta.get("license_name"):
        errors.append('"license_name" is required when "license" is "other"')
    for entry in meta.get("model-index") or []:
        for result in entry.get("results") or []:
            if not (result.get("task") or {}).get("type"):
                errors.append('"model-index[0].results[].task.type" is required')
            if not {"type", "name"} <= set(result.get("dataset") or {}):
                errors.append('"model-index[0].results[].dataset" needs "type" and "name"')
            for metric in result.get("metrics") or []:
                if "type" not in metric or "value" not in metric:
                    errors.append('"model-index[0].results[].metrics[]" needs "type" and "value"')
    for config in meta.get("configs") or []:
        if "config_name" not in config or not config.get("data_files"):
            errors.append('"configs[]" needs "config_name" and "data_files"')
    return errors
