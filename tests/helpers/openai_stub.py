"""A fake OpenAI API on 127.0.0.1 (a free port) for teacher-client tests.

Serves ``POST /v1/chat/completions`` with scripted faults (statuses, ``Retry-After``,
malformed 200s, servers that ignore ``n`` or reject ``max_tokens``/``temperature``), and
the Batch API (``/v1/files``, ``/v1/batches``, ``/v1/files/{id}/content``). Every request
is recorded (path, headers with lower-case names, JSON body) so tests can assert what the client sent.

Answers are deterministic: ``"Answer: <text after the last '#' of the prompt>"``, plus
``" [seed S choice I]"`` when sampling (temperature > 0), so emulated samples differ.
"""

from __future__ import annotations

import email
import json
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from helpers.server import LoopbackStub

Reply = tuple[int, dict[str, str], bytes]


def answer(body: dict[str, Any], choice: int) -> str:
    prompt = body["messages"][-1]["content"]
    text = "Answer: " + prompt.split("#")[-1]
    if body.get("temperature", 1.0) > 0:
        text += f" [seed {body.get('seed')} choice {choice}]"
    return text


def completion(body: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": body.get("model", "m"),
        "choices": [
            {"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": answer(body, i)}}
            for i in range(n)
        ],
    }


def json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class OpenAIStub(LoopbackStub):
    """Start with ``with OpenAIStub(...) as stub:``; ``stub.url`` is the ``.../v1`` base URL.

    ``script``: replies for the first chat calls, in order (a ``Reply`` or a callable of the
    request body returning one); later calls are answered normally, or by ``respond(body)``
    (the text of the answer) when given. ``batch_polls``: how many retrieves a batch stays
    ``in_progress``.
    """

    def __init__(
        self,
        *,
        script: list[Reply | Callable[[dict[str, Any]], Reply]] | None = None,
        delay: float = 0.0,
        ignore_n: bool = False,
        reject_max_tokens: bool = False,
        reject_temperature: bool = False,
        batch_polls: int = 1,
        batch_fail_lines: int = 0,
        respond: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        self.respond = respond
        self.script = list(script or [])
        self.delay, self.ignore_n = delay, ignore_n
        self.reject_max_tokens, self.reject_temperature = reject_max_tokens, reject_temperature
        self.batch_polls, self.batch_fail_lines = batch_polls, batch_fail_lines
        self.requests: list[dict[str, Any]] = []
        self.in_flight = self.max_in_flight = 0
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._start_server("/v1")

    @property
    def chat_calls(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    # --- request handling ---------------------------------------------------------------

    def chat(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return scripted(body) if callable(scripted) else scripted
        if self.reject_max_tokens and "max_tokens" in body:
            return json_reply(400, {"error": {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}})
        if self.reject_temperature and "temperature" in body:
            return json_reply(400, {"error": {
                "message": "Unsupported value: 'temperature' does not support 0.0 with this model.",
                "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"}})
        reply = completion(body, 1 if self.ignore_n else int(body.get("n") or 1))
        if self.respond is not None:
            for choice in reply["choices"]:
                choice["message"]["content"] = self.respond(body)
        return json_reply(200, reply)

    def upload(self, raw: bytes, content_type: str) -> Reply:
        msg = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        data = next(p.get_payload(decode=True) for p in msg.walk() if p.get_filename())
        with self.lock:
            fid = f"file-{len(self.files) + 1}"
            self.files[fid] = data
        return json_reply(200, _file(fid, len(data)))

    def create_batch(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            bid = f"batch_{len(self.batches) + 1}"
            self.batches[bid] = {
                "id": bid, "object": "batch", "endpoint": body["endpoint"], "input_file_id": body["input_file_id"],
                "completion_window": body["completion_window"], "status": "in_progress", "created_at": 0, "polls": 0,
            }
        return json_reply(200, _public(self.batches[bid]))

    def retrieve_batch(self, bid: str) -> Reply:
        with self.lock:
            b = self.batches[bid]
            b["polls"] += 1
            if b["status"] == "in_progress" and b["polls"] > self.batch_polls:
                self._finish(b)
        return json_reply(200, _public(b))

    def _finish(self, b: dict[str, Any]) -> None:
        lines = [json.loads(x) for x in self.files[b["input_file_id"]].decode().splitlines() if x.strip()]
        out = []
        for i, line in enumerate(lines):
            if i < self.batch_fail_lines:
                resp = {"status_code": 500, "body": {"error": {"message": "scripted"}}}
            else:
                body = line["body"]
                resp = {"status_code": 200, "body": completion(body, 1 if self.ignore_n else int(body.get("n") or 1))}
            out.append(json.dumps({"id": f"r{i}", "custom_id": line["custom_id"], "response": resp, "error": None}))
        fid = f"file-{len(self.files) + 1}"
        self.files[fid] = "\n".join(out).encode()
        b.update(status="completed", output_file_id=fid)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:  # keep test output clean
                pass

            def _reply(self, reply: Reply) -> None:
                status, headers, data = reply
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self, body: Any) -> None:
                with stub.lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    stub.requests.append({"path": self.path, "headers": headers, "body": body})

            def do_GET(self) -> None:
                self._record(None)
                parts = self.path.strip("/").split("/")
                if parts[:2] == ["v1", "models"]:  # what `stratos eval` asks first
                    return self._reply(json_reply(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]}))
                if parts[:2] == ["v1", "batches"]:
                    return self._reply(stub.retrieve_batch(parts[2]))
                if parts[:2] == ["v1", "files"] and parts[-1] == "content":
                    return self._reply((200, {"Content-Type": "application/octet-stream"}, stub.files[parts[2]]))
                self._reply(json_reply(404, {"error": {"message": f"no route {self.path}"}}))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/files"):
                    self._record(None)
                    return self._reply(stub.upload(raw, self.headers["Content-Type"]))
                body = json.loads(raw or b"{}")
                self._record(body)
                if self.path.endswith("/batches"):
                    return self._reply(stub.create_batch(body))
                with stub.lock:
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    time.sleep(stub.delay)
                    reply = stub.chat(body)
                finally:
                    # Out of flight before the reply is sent: a client that gets it may send its next
                    # request at once, and that one must not count as a request beyond the bound.
                    with stub.lock:
                        stub.in_flight -= 1
                self._reply(reply)

        return Handler


def _file(fid: str, size: int) -> dict[str, Any]:
    return {"id": fid, "object": "file", "bytes": size, "created_at": 0, "filename": "batch.jsonl",
            "purpose": "batch", "status": "processed"}


def _public(b: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in b.items() if k != "polls"}
