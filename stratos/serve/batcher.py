"""Dynamic batching: concurrent requests are decoded together by one worker thread.

Why one worker: the model is one set of weights on a few CPU cores (or one
GPU); running requests side by side in separate threads only makes them fight
over the same cores, while stacking them into one batch turns N matrix-vector
products into one matrix-matrix product at nearly the cost of one. The worker
takes the first waiting request, then waits up to ``max_wait_s`` for more (up
to ``max_batch_size``), decodes them as one batch and resolves each caller's
future. The wait is only taken while requests come together (others are
queued already, or were in flight when this one arrived; and for the first
request, which has no history): a lone client's request would wait for
nobody, so it starts at once.
Continuous batching: while a batch decodes, requests that arrive join it at
the next step (their prompts are prefilled as a small batch and their KV cache
rows stacked onto the running one), and finished rows leave at once, so nobody
waits for a whole batch to drain. Engines that decode a whole
batch in one call (CTranslate2) cannot take rows mid-decode; they declare
``parallelism`` > 1 and get that many workers, so a request that arrives
during a long batch starts at once on another replica. ``observe_batch`` sees
the number of rows in every forward pass (prefill or decode step).

Overload and failure: the queue is bounded (``submit`` raises ``QueueFull``,
which the server answers with 429), a request whose caller went away is
dropped from its batch at the next step, and a batch whose prefill fails is
retried one request at a time so a poisoned request fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stratos.serve.decoding import GenerationResult, Request, SamplingParams
from stratos.serve.engine_base import EngineBase

log = logging.getLogger("stratos.serve")

# Called with each new piece of text for one request (on the event loop).
TextSink = Callable[[str], None]


@dataclass
class _Job:
    prompt: str
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    on_text: TextSink | None = None
    enqueued: float = field(default_factory=time.perf_counter)
    companions: int = 0  # requests in flight (submitted, not answered) when this one arrived
    cancelled: bool = False  # set on the event loop when the caller stops waiting


_STOP = object()


class QueueFull(Exception):
    """The batcher's queue holds ``max_queue`` requests already; retry after a moment."""


class Batcher:
    """Queue in front of an engine; ``await submit(...)`` returns the result.

    ``observe_batch(rows)`` (optional) is told the rows of every forward pass, for metrics.
    ``max_queue`` bounds the requests waiting to be admitted (0: unbounded).
    """

    def __init__(
        self,
        engine: EngineBase,
        *,
        max_batch_size: int = 16,
        max_wait_s: float = 0.01,
        max_queue: int = 0,
        observe_batch: Callable[[int], None] | None = None,
    ):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._observe = observe_batch
        # The stop sentinels bypass the bound (put with block=False never happens for them).
        self._queue: queue.Queue[Any] = queue.Queue()
        self.max_queue = max_queue
        self._threads: list[threading.Thread] = []
        self._in_flight = 0  # submitted and not yet answered (counted on the event loop)
        self._started_any = False

    def start(self) -> None:
        if not self._threads:
            for i in range(max(1, self.engine.parallelism)):
                t = threading.Thread(target=self._run, name=f"stratos-generate-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batches in flight, then stop the workers."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def full(self) -> bool:
        """True when ``max_queue`` requests are waiting already."""
        return bool(self.max_queue) and self._queue.qsize() >= self.max_queue

    async def submit(
        self, prompt: str, params: SamplingParams, on_text: TextSink | None = None
    ) -> GenerationResult:
        """Queue one request and wait for its result (raises what the engine raised, or ``QueueFull``).

        Cancelling the awaiting task (a client that went away) ends the request's decoding.
        """
        if self.full():
            raise QueueFull(f"{self._queue.qsize()} requests are waiting")
        loop = asyncio.get_running_loop()
        job = _Job(prompt, params, loop, loop.create_future(), on_text, companions=self._in_flight)
        self._in_flight += 1
        self._queue.put(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            job.cancelled = True
            raise
        finally:
            self._in_flight -= 1

    # ---------------------------------------------------------------- worker
    def _run(self) -> None:
        running: Any = None
        while True:
            if running is None:
                # Idle: block for a request, then give others max_wait to join it.
                first = self._queue.get()
                if first is _STOP:
                    return
                wait = self.max_wait_s if self._others_expected(first) else 0.0
                jobs, stop = self._collect([first], self.max_batch_size, wait)
            else:
                # Decoding: whoever arrived since the last step joins now (continuous batching),
                # as long as the cache can take new rows.
                room = self.max_batch_size - len(running)
                jobs, stop = ([], False)
                if room > 0 and self.engine.can_merge(running):
                    jobs, stop = self._collect([], room, 0.0)
            if jobs:
                fresh = self._prefill(jobs)
                if fresh is not None:
                    running = fresh if running is None else self.engine.merge(running, fresh)
            if running is not None:
                self._step(running)
                if len(running) == 0:
                    running = None
            if stop:
                while running is not None:  # finish what was accepted, then exit
                    self._step(running)
                    running = running if len(running) else None
                return

    def _others_expected(self, first: _Job) -> bool:
        """Whether waiting for companions of ``first`` can pay: others are queued already, others
        were in flight when it arrived, or it is the first request (no history to go by)."""
        first_ever, self._started_any = not self._started_any, True
        return first_ever or first.companions > 0 or not self._queue.empty()

    def _collect(self, batch: list[_Job], limit: int, wait_s: float) -> tuple[list[_Job], bool]:
        """Up to ``limit`` queued jobs, waiting at most ``wait_s``; also says whether stop was asked."""
        deadline = time.perf_counter() + wait_s
        while len(batch) < limit:
            remaining = deadline - time.perf_counter()
            try:
                job = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if job is _STOP:
                return batch, True
            batch.append(job)
        return batch, False

    def _prefill(self, jobs: list[_Job]) -> Any:
        """Validate each job (a bad one fails alone), then prefill the rest as one batch."""
        requests = []
        for job in jobs:
            if job.cancelled:
                continue
            try:
                ids = self.engine.encode(job.prompt)
                self.engine.check_length(len(ids), job.params)
            except Exception as exc:  # noqa: BLE001 - delivered to the caller, never kills the worker
                _resolve(job, exc=exc)
                continue
            requests.append(_request(job, ids))
        if not requests:
            return None
        if self._observe is not None:
            self._observe(len(requests))
        try:
            batch, done = self.engine.prefill(requests)
        except Exception as exc:  # noqa: BLE001
            if len(requests) == 1:
                _resolve(requests[0].tag, exc=exc)
                return None
            # Someone in this batch is poisoned: retry alone so only that request fails.
            log.warning("a batch of %d failed in prefill (%s); retrying one by one", len(requests), exc)
            self._prefill_each(requests)
            return None
        for job, result in done:
            _resolve(job, result=result)
        return batch

    def _prefill_each(self, requests: list[Request]) -> None:
        """Decode each request of a failed batch alone, to the end (a rare path: simple over fast)."""
        for r in requests:
            try:
                done = self.engine.run([r])
            except Exception as exc:  # noqa: BLE001
                _resolve(r.tag, exc=exc)
                continue
            for job, result in done:
                _resolve(job, result=result)

    def _step(self, batch: Any) -> None:
        if self._observe is not None:
            self._observe(len(batch))
        try:
            done = self.engine.step(batch)
        except Exception as exc:  # noqa: BLE001 - fail this batch's callers, keep serving
            for row in batch.rows:
                _resolve(row.tag, exc=exc)
            batch.rows = []
            return
        for job, result in done:
            _resolve(job, result=result)


def _request(job: _Job, ids: list[int]) -> Request:
    """The engine's view of a job: text goes back to the event loop, cancellation is polled."""
    sink = None
    if job.on_text is not None:
        sink = lambda text: job.loop.call_soon_threadsafe(job.on_text, text)  # noqa: E731
    return Request(
        ids, job.params, tag=job, on_text=sink,
        cancelled=lambda: job.cancelled,
        on_done=lambda result: _resolve(job, result=result),
    )


def _resolve(
    job: _Job, *, result: GenerationResult | None = None, exc: BaseException | None = None
) -> None:
    def settle() -> None:
        if job.future.done():  # the caller went away
            return
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    job.loop.call_soon_threadsafe(settle)
