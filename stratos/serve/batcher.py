"""Dynamic batching: concurrent requests are decoded together by one worker thread.

Why one worker: the model is one set of weights on a few CPU cores (or one
GPU); running requests side by side in separate threads only makes them fight
over the same cores, while stacking them into one batch turns N matrix-vector
products into one matrix-matrix product at nearly the cost of one. The worker
takes the first waiting request, then waits up to ``max_wait_s`` for more (up
to ``max_batch_size``), decodes them as one batch and resolves each caller's
future; new arrivals queue for the next batch.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stratos.serve.engine import GenerationEngine, GenerationResult, SamplingParams

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

    ``observe_batch(size)`` (optional) is told each batch's size, for metrics.
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
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.perf_counter() + self.max_wait_s
            stop_after = False
            while len(batch) < self.max_batch_size:
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
                    stop_after = True
                    break
                batch.append(job)
            self._decode(batch)
            if stop_after:
                return

    def _decode(self, batch: list[_Job]) -> None:
        if self._observe is not None:
            self._observe(len(batch))

        def on_text(i: int, text: str) -> None:
            job = batch[i]
            if job.on_text is not None:
                job.loop.call_soon_threadsafe(job.on_text, text)

        try:
            results = self.engine.generate_batch(
                [j.prompt for j in batch], [j.params for j in batch], on_text
            )
        except Exception as exc:  # noqa: BLE001 - delivered to the callers, never kills the worker
            if len(batch) > 1:
                # One bad request must not fail its batch-mates: retry each on its own.
                for job in batch:
                    self._decode([job])
                return
            _resolve(batch[0], exc=exc)
            return
        for job, result in zip(batch, results, strict=True):
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
