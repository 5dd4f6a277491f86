"""Run an ASGI app under a real uvicorn server on a free loopback port, in a background thread.

Why: clients that need real HTTP (the openai SDK, the eval client) can then be
tested against an app built in-process (fast: no second interpreter importing
torch), and the server is always stopped when the ``with`` block ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serve_in_thread(app: Any, *, timeout_s: float = 30.0) -> Iterator[str]:
    """Yield ``http://127.0.0.1:<port>`` while ``app`` is served; shut it down afterwards."""
    import uvicorn

    # loop="asyncio": "auto" would install uvloop as the process-wide policy and break
    # later tests that drive asyncio themselves (Pulumi mocks).
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)


def rss_mib(pid: int) -> float:
    """Resident set size of a process in MiB (Linux /proc; no psutil dependency)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class LoopbackStub:
    """Base of the stdlib HTTP stubs (OpenAI API, Hub API): a threaded server on a free
    loopback port, started by ``with`` and always shut down. Subclasses give ``_handler()``."""

    def _start_server(self, path: str = "") -> None:
        from http.server import ThreadingHTTPServer

        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _handler(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
