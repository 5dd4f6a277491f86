"""The TLS gateway in front of vLLM on a serving node: only ``/v1/*``, only with the token.

Why: vLLM's ``--api-key`` guards ``/v1`` but not ``/invocations`` (the same inference),
``/pause``, ``/abort_requests``, ``/update_weights`` or ``/tokenize``, and it speaks
plain HTTP. So vLLM listens on 127.0.0.1 only and this gateway is the node's one
public port: it terminates TLS (a certificate from the stack), answers 404 to any
path outside ``/v1/``, 401 to a request without ``Authorization: Bearer <token>``
(checked before the body is read), 413 to a body over ``max_body`` bytes, 400 to a
question the served task rules out (an illegal hand: the same check as ``stratos serve``,
``--model-dir`` names the artifact whose task it is), and streams everything else to vLLM and back (server-sent events included). A client
that disconnects closes the upstream request, which makes vLLM abort the generation.

Run on the node (the token comes from ``$STRATOS_API_TOKEN``, never the command line)::

    python -m stratos.serve.gateway --port 8000 --upstream http://127.0.0.1:8001 \\
        --cert /opt/stratos/tls/cert.pem --key /opt/stratos/tls/key.pem --model-dir /opt/stratos/model
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from stratos.serve.auth import load_token, token_matches
from stratos.serve.questions import QuestionCheck

PREFIX = "/v1/"
#: Request bodies larger than this are refused before they are read (chat requests are KBs).
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Headers that describe one hop, not the message (RFC 9110 7.6.1), plus the ones httpx sets.
HOP_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
     b"transfer-encoding", b"upgrade", b"host", b"content-length"}
)
Scope = dict[str, Any]


def allowed_path(path: str) -> bool:
    """``/v1/...`` with no dot segments, empty segments or control characters (decoded path)."""
    if not path.startswith(PREFIX) or any(ord(c) < 0x20 or c == "\\" for c in path):
        return False
    segments = path[len(PREFIX):].split("/")
    return all(s not in ("", ".", "..") for s in segments[:-1]) and segments[-1] not in (".", "..")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _reply(
    send: Any, status: int, message: str, kind: str, extra: list | None = None, param: str | None = None
) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "param": param, "code": status}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise ConnectionResetError
        size += len(msg.get("body", b""))
        if size > limit:
            raise _TooLarge
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body"):
            return b"".join(chunks)


class Gateway:
    """The ASGI app (see the module docstring)."""

    def __init__(
        self, upstream: str, token: Any, max_body: int = MAX_BODY_BYTES, questions: QuestionCheck | None = None
    ) -> None:
        self.upstream, self.token, self.max_body = upstream.rstrip("/"), token, max_body
        self.questions = questions
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=10.0))
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        if not allowed_path(scope["path"]):
            return await _reply(send, 404, "not found: this endpoint serves /v1/* only", "not_found_error")
        if not token_matches(self.token, _header(scope, b"authorization")):
            return await _reply(send, 401, "missing or wrong bearer token", "authentication_error",
                                [(b"www-authenticate", b"Bearer")])
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            return await _reply(send, 413, f"request body over {self.max_body} bytes", "invalid_request_error")
        try:
            body = await _read_body(receive, self.max_body)
        except _TooLarge:
            return await _reply(send, 413, f"request body over {self.max_body} bytes", "invalid_request_error")
        except ConnectionResetError:
            return None
        illegal = self.questions.problem_in_body(body) if self.questions and scope["method"] == "POST" else None
        if illegal is not None:
            return await _reply(send, 400, illegal[0], "invalid_request_error", param=illegal[1])
        await self._forward(scope, body, receive, send)

    async def _forward(self, scope: Scope, body: bytes, receive: Any, send: Any) -> None:
        assert self.client is not None, "lifespan startup has not run"
        url = self.upstream + quote(scope["path"]) + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else "")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_HEADERS]
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError:
            return await _reply(send, 502, "the model server is not reachable (starting or restarting)", "server_error")
        relay = asyncio.ensure_future(self._relay(response, send))
        gone = asyncio.ensure_future(self._disconnected(receive))
        try:
            await asyncio.wait({relay, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, gone):
                task.cancel()
            await response.aclose()  # a client gone mid-stream: closing upstream aborts the generation
        if relay.done() and not relay.cancelled() and relay.exception() is not None:
            raise relay.exception()

    @staticmethod
    async def _relay(response: httpx.Response, send: Any) -> None:
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_HEADERS]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _disconnected(receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="0.0.0.0", help="address to listen on; default all")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--upstream", default="http://127.0.0.1:8001", help="vLLM's loopback address")
    p.add_argument("--cert", required=True, help="PEM certificate (chain) served to clients")
    p.add_argument("--key", required=True, help="PEM private key of --cert (a 0600 file)")
    p.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES)
    p.add_argument("--model-dir", type=Path, help="the served artifact: its task's illegal questions get a 400")
    args = p.parse_args(argv)
    token = load_token()
    if token is None:
        print("error: $STRATOS_API_TOKEN is not set; the gateway never runs without a token", file=sys.stderr)
        return 2
    questions = QuestionCheck.for_artifact(args.model_dir) if args.model_dir else None
    import uvicorn

    uvicorn.run(
        Gateway(args.upstream, token, args.max_body_bytes, questions), host=args.host, port=args.port,
        ssl_certfile=args.cert, ssl_keyfile=args.key, lifespan="on", server_header=False,
        proxy_headers=False, log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
