"""Dynamic batching: concurrent requests are decoded together by one worker thread.

Why one worker: the model is one set of weights on a few CPU cores (or one
GPU); running requests side by side in separate threads only makes them fight
over the same cores, while stacking them into one batch turns N matrix-vector
products into one matrix-matrix product at nearly the cost of one. The worker
takes the first waiting request, then waits up to ``max_wait_s`` for more (up
to ``max_batch_size``), decodes them as one batch and resolves each caller's
future. Continuous batching: while a batch decodes, requests that arrive
join it at the next step (their prompts are prefilled as a small batch and
their KV cache rows stacked onto the running one), and finished rows leave at
once, so nobody waits for a whole batch to drain. ``observe_batch`` sees the
number of rows in every forward pass (prefill or decode step).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stratos.serve.engine import (
    DecodeBatch,
    GenerationEngine,
    GenerationResult,
    Request,
    SamplingParams,
)

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


_STOP = object()


class Batcher:
    """Queue in front of a ``GenerationEngine``; ``await submit(...)`` returns the result.

    ``observe_batch(rows)`` (optional) is told the rows of every forward pass, for metrics.
    """

    def __init__(
        self,
        engine: GenerationEngine,
        *,
        max_batch_size: int = 16,
        max_wait_s: float = 0.01,
        observe_batch: Callable[[int], None] | None = None,
    ):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._observe = observe_batch
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="stratos-generate", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in flight, then stop the worker."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    async def submit(
        self, prompt: str, params: SamplingParams, on_text: TextSink | None = None
    ) -> GenerationResult:
        """Queue one request and wait for its result (raises what the engine raised)."""
        loop = asyncio.get_running_loop()
        job = _Job(prompt, params, loop, loop.create_future(), on_text)
        self._queue.put(job)
        return await job.future

    # ---------------------------------------------------------------- worker
    def _run(self) -> None:
        running: DecodeBatch | None = None
        while True:
            if running is None:
                # Idle: block for a request, then give others max_wait to join it.
                first = self._queue.get()
                if first is _STOP:
                    return
                jobs, stop = self._collect([first], self.max_batch_size, self.max_wait_s)
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

    def _prefill(self, jobs: list[_Job]) -> DecodeBatch | None:
        """Validate each job (a bad one fails alone), then prefill the rest as one batch."""
        requests = []
        for job in jobs:
            try:
                ids = self.engine.encode(job.prompt)
                self.engine.check_length(len(ids), job.params)
            except Exception as exc:  # noqa: BLE001 - delivered to the caller, never kills the worker
                _resolve(job, exc=exc)
                continue
            sink = None
            if job.on_text is not None:
                sink = lambda text, job=job: job.loop.call_soon_threadsafe(job.on_text, text)  # noqa: E731
            requests.append(Request(ids, job.params, tag=job, on_text=sink))
        if not requests:
            return None
        if self._observe is not None:
            self._observe(len(requests))
        try:
            batch, done = self.engine.prefill(requests)
        except Exception as exc:  # noqa: BLE001
            for r in requests:
                _resolve(r.tag, exc=exc)
            return None
        for job, result in done:
            _resolve(job, result=result)
        return batch

    def _step(self, batch: DecodeBatch) -> None:
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
