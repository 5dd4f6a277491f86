"""Prometheus metrics for the server, in a registry of its own (one per app).

A private registry (not prometheus_client's global one) keeps two apps in one
process - as in tests - from double-registering, and keeps /metrics to what
this server measured. Request counts and latency are recorded by an ASGI
middleware when the last body byte is sent, so a streamed response's latency
covers the whole stream, not just its first chunk.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# The *_created timestamp series double the output and no dashboard uses them.
disable_created_metrics()

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServerMetrics:
    """The counters and histograms /metrics exposes."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "stratos_requests",
            "HTTP requests by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "stratos_request_errors",
            "HTTP requests answered with a 4xx/5xx, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stratos_request_latency_seconds",
            "Time from request to last response byte.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "stratos_prompt_tokens", "Prompt tokens processed.", registry=self.registry
        )
        self.completion_tokens = Counter(
            "stratos_completion_tokens", "Completion tokens generated.", registry=self.registry
        )
        self.batch_size = Histogram(
            "stratos_batch_size",
            "Requests decoded together per forward pass (prefill or decode step).",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def observe_tokens(self, prompt: int, completion: int) -> None:
        self.prompt_tokens.inc(prompt)
        self.completion_tokens.inc(completion)


class MetricsMiddleware:
    """ASGI middleware: count each HTTP request and time it to its final body chunk."""

    def __init__(self, app: Any, metrics: ServerMetrics, routes: set[str]):
        self.app = app
        self.metrics = metrics
        # Label by known paths only: arbitrary request paths would make unbounded label sets.
        self.routes = routes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path = scope.get("path", "")
        route = path if path in self.routes else "other"
        status = {"code": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self._record(route, status["code"], start)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            self._record(route, 500, start)
            raise

    def _record(self, route: str, code: int, start: float) -> None:
        self.metrics.requests.labels(route, str(code)).inc()
        if code >= 400:
            self.metrics.errors.labels(route, str(code)).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - start)
