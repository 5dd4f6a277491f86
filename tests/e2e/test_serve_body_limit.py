"""An oversized request body, with and without the token, against a server process: refused early, RSS flat.

The server runs as its own process (as deployed) so its resident memory is its
own: before the fix a 40 MB body was read and parsed as JSON (without a token
too) and the process grew by over 100 MB per such request.
"""

from __future__ import annotations

import httpx
import pytest
from helpers.server import rss_mib
from helpers.tiny_model import make_tiny_model_dir

from stratos.evaluate.local import local_server

pytestmark = [pytest.mark.e2e]

BODY_MB = 40
MAX_GROWTH_MB = 15


def test_oversized_bodies_are_refused_before_parsing(tmp_path):
    model_dir = make_tiny_model_dir(tmp_path / "tiny")
    blob = b'{"model": "tiny", "messages": [{"role": "user", "content": "' + b"x" * (BODY_MB << 20) + b'"}]}'

    def chunks():  # no Content-Length: the server must count as it reads
        for i in range(0, len(blob), 1 << 20):
            yield blob[i : i + (1 << 20)]

    with local_server(model_dir, threads=1, extra_args=["--model-name", "tiny"]) as server:
        url = f"{server.base_url}/v1/chat/completions"
        auth = {"Authorization": f"Bearer {server.token}", "content-type": "application/json"}
        ok = httpx.post(url, headers=auth, json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
                                                 "max_tokens": 2}, timeout=60)
        assert ok.status_code == 200
        before = rss_mib(server.process.pid)
        replies = [
            httpx.post(url, headers={"content-type": "application/json"}, content=blob, timeout=60),
            httpx.post(url, headers=auth, content=blob, timeout=60),
            httpx.post(url, headers=auth, content=chunks(), timeout=60),
        ]
        growth = rss_mib(server.process.pid) - before
    assert [r.status_code for r in replies] == [401, 413, 413], [r.text[:200] for r in replies]
    assert replies[1].json()["error"]["code"] == "request_too_large"
    assert growth < MAX_GROWTH_MB, f"the server grew {growth:.0f} MB reading {3 * BODY_MB} MB of bodies"
