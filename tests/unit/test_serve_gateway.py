"""The serving node's TLS gateway in front of a stand-in vLLM that, like vLLM, leaves
``/invocations``, ``/pause``, ``/tokenize`` ... unguarded: only ``/v1/*`` with the token
gets through, over TLS with the stack's certificate, streams pass through and a client
that hangs up cancels the generation upstream."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time

import httpx
import pytest
import uvicorn

from infra.providers.certificate import fingerprint, self_signed
from stratos.serve.auth import load_token
from stratos.serve.gateway import Gateway, allowed_path
from stratos.serve.questions import QuestionCheck
from stratos.tasks.mahjong.task import MahjongTask

TOKEN = "gw-token-0123456789abcdef0123456789abcdef"
UNGUARDED = ["/invocations", "/pause", "/abort_requests", "/update_weights", "/tokenize", "/metrics",
             "/v1/../pause", "/v1/%2e%2e/pause", "/v1//models", "/v2/models", "/V1/models", "/v1"]


class FakeVllm:
    """Records every request; /v1/chat/completions streams 200 events, one every 10 ms and,
    like vLLM, aborts the generation when its client (the gateway) disconnects."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str | None]] = []
        self.streamed = 0
        self.cancelled = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        auth = dict(scope["headers"]).get(b"authorization", b"").decode() or None
        self.hits.append((scope["path"], auth))
        if scope["path"] == "/v1/chat/completions":
            while (await receive()).get("more_body"):
                pass  # the request body

            async def listen() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                self.cancelled.set()

            watcher = asyncio.ensure_future(listen())
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
            for i in range(200):
                if self.cancelled.is_set():
                    return
                await send({"type": "http.response.body", "body": f"data: {i}\n\n".encode(), "more_body": True})
                self.streamed += 1
                await asyncio.sleep(0.01)
            watcher.cancel()
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
            return
        body = b'{"data": [{"id": "stratos-mahjong"}]}'
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app, port: int, **ssl_files) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", **ssl_files))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    return server


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(["127.0.0.1"], ["localhost"])
    (tmp / "cert.pem").write_text(cert)
    (tmp / "key.pem").write_text(key)
    vllm, up_port, gw_port = FakeVllm(), _port(), _port()
    upstream = _serve(vllm, up_port)
    token = load_token(env={"STRATOS_API_TOKEN": TOKEN})
    questions = QuestionCheck(MahjongTask())
    gateway = _serve(Gateway(f"http://127.0.0.1:{up_port}", token, max_body=64 * 1024, questions=questions), gw_port,
                     ssl_certfile=str(tmp / "cert.pem"), ssl_keyfile=str(tmp / "key.pem"))
    yield {"vllm": vllm, "url": f"https://127.0.0.1:{gw_port}", "cert": tmp / "cert.pem", "port": gw_port}
    gateway.should_exit = upstream.should_exit = True


def _client(node, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=node["url"], verify=ssl.create_default_context(cafile=str(node["cert"])),
                        headers=headers, timeout=10)


def test_v1_with_the_token_reaches_vllm_over_verified_tls(node) -> None:
    with _client(node) as c:
        r = c.get("/v1/models")
    assert r.status_code == 200 and r.json()["data"][0]["id"] == "stratos-mahjong"
    assert node["vllm"].hits[-1] == ("/v1/models", f"Bearer {TOKEN}")  # vLLM checks the key too


@pytest.mark.parametrize("token", [None, "wrong", TOKEN[:-1]])
def test_no_or_wrong_token_is_401_and_never_forwarded(node, token) -> None:
    before = len(node["vllm"].hits)
    with _client(node, token) as c:
        r = c.post("/v1/chat/completions", json={"model": "x", "messages": []})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert len(node["vllm"].hits) == before


@pytest.mark.parametrize("path", UNGUARDED)
def test_everything_outside_v1_is_404_even_with_the_token(node, path) -> None:
    before = len(node["vllm"].hits)
    with socket.create_connection(("127.0.0.1", node["port"])) as raw:
        ctx = ssl.create_default_context(cafile=str(node["cert"]))
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:  # raw, so no client normalises the path
            tls.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                        "Content-Length: 2\r\nConnection: close\r\n\r\n{}".encode())
            status = tls.recv(64).split(b" ")[1]
    assert status in (b"404", b"400"), (path, status)
    assert len(node["vllm"].hits) == before, f"{path} reached vLLM"


def test_path_rule() -> None:
    assert allowed_path("/v1/chat/completions") and allowed_path("/v1/models")
    assert not any(allowed_path(p) for p in ["/v1/../pause", "/v1/./x", "/v1//x", "/v1/a/../b", "/v1/x\\y", "/v1/\x00"])


def test_plain_http_and_unverified_clients_get_nothing(node) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{node['port']}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    with pytest.raises(httpx.ConnectError):  # a self-signed certificate: clients must pin it
        httpx.get(node["url"] + "/v1/models", timeout=5)
    assert fingerprint(node["cert"].read_text()).startswith("sha256:")


def test_an_oversized_body_is_413_before_it_is_forwarded(node) -> None:
    before = len(node["vllm"].hits)
    with _client(node) as c:
        r = c.post("/v1/chat/completions", content=b"x" * (65 * 1024))
    assert r.status_code == 413 and len(node["vllm"].hits) == before


def test_an_illegal_hand_is_a_400_at_the_gateway_and_never_forwarded(node) -> None:
    task, before = MahjongTask(), len(node["vllm"].hits)
    five_copies = task.prompt("123m456p789s1122z").replace("123m456p789s1122z", "11111m456p789s112z")
    with _client(node) as c:
        chat = c.post("/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": five_copies}]})
        parts = c.post("/v1/chat/completions", json={"model": "x", "messages": [
            {"role": "user", "content": [{"type": "text", "text": five_copies}]}]})
        completion = c.post("/v1/completions", json={"model": "x", "prompt": [five_copies]})
    for r, param in ((chat, "messages"), (parts, "messages"), (completion, "prompt")):
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == param and "5 copies of 1m" in r.json()["error"]["message"]
    assert len(node["vllm"].hits) == before


def test_a_legal_hand_and_free_chat_pass_the_gateway(node) -> None:
    legal = MahjongTask().prompt("123m456p789s1122z")
    with _client(node) as c:
        for content in (legal, "hello there"):
            before = len(node["vllm"].hits)
            r = c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": content}]})
            assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
            assert len(node["vllm"].hits) == before + 1


def test_streams_pass_through_and_a_disconnect_cancels_upstream(node) -> None:
    vllm = node["vllm"]
    streamed_before = vllm.streamed
    with _client(node) as c:
        with c.stream("POST", "/v1/chat/completions", json={"stream": True}) as r:
            assert r.status_code == 200
            lines = []
            for line in r.iter_lines():
                if line:
                    lines.append(line)
                if len(lines) == 5:
                    break
    assert lines == [f"data: {i}" for i in range(5)]
    assert vllm.cancelled.wait(5), "the upstream generation kept running after the client left"
    assert vllm.streamed - streamed_before < 200
