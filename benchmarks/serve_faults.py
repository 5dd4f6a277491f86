"""Faults and hostile inputs against ``stratos serve`` (transformers engine, tiny model): what happens.

Prints one line per fault, so the same script run on two checkouts gives the
"before -> after" table of issue #19::

    source scripts/env.sh
    python benchmarks/serve_faults.py                          # this checkout
    git -C /work/main archive HEAD stratos | tar -x -C /tmp/old && \
        PYTHONPATH=/tmp/old python benchmarks/serve_faults.py   # another one (main)

Servers bind 127.0.0.1 on free ports (in this process, uvicorn in a thread).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.server import serve_in_thread  # noqa: E402
from helpers.tiny_model import make_tiny_model_dir  # noqa: E402

from stratos.serve.batcher import Batcher  # noqa: E402
from stratos.serve.engine import GenerationEngine, SamplingParams  # noqa: E402
from stratos.serve.server import ServeConfig, build_server_app  # noqa: E402

TOKEN = "faults-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def body(**kw) -> dict:
    return {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, **kw}


def app_for(model_dir: Path, engine, **kw):
    fields = ServeConfig.model_fields
    config = ServeConfig(model_dir=model_dir, model_name="tiny", token=SecretStr(TOKEN),
                         **{k: v for k, v in kw.items() if k in fields})
    return build_server_app(config, engine=engine)


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def seed_out_of_range(base: str) -> str:
    r = httpx.post(f"{base}/v1/chat/completions", headers=AUTH, json=body(temperature=0.7, seed=2**64), timeout=30)
    try:
        s = httpx.post(f"{base}/v1/chat/completions", headers=AUTH,
                       json=body(temperature=0.7, seed=2**64, stream=True), timeout=30)
        stream = f"{s.status_code}, last line {s.text.strip().splitlines()[-1:]}"
    except httpx.HTTPError as exc:
        stream = f"connection dropped ({type(exc).__name__})"
    return f"json {r.status_code}; stream {stream}"


def poisoned_batch(engine) -> str:
    batcher = Batcher(engine, max_batch_size=8, max_wait_s=0.5)
    bad = SamplingParams(3, temperature=0.7, seed=1)
    object.__setattr__(bad, "seed", 2**64)

    async def main():
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(p, s) for p, s in (
                ("one", SamplingParams(3)), ("two", bad), ("three", SamplingParams(3)))), return_exceptions=True)
        finally:
            batcher.stop()

    out = asyncio.run(main())
    return f"{sum(isinstance(o, Exception) for o in out)} of 3 requests failed"


def disconnect(model_dir: Path, engine) -> str:
    counted = []
    inner = engine.step

    def step(batch):
        counted.append(1)
        time.sleep(0.005)
        return inner(batch)

    engine.step = step
    try:
        with serve_in_thread(app_for(model_dir, engine, max_tokens=400)) as base:
            with httpx.stream("POST", f"{base}/v1/chat/completions", headers=AUTH,
                              json=body(max_tokens=400, temperature=0, stream=True), timeout=30) as r:
                for n, _ in enumerate(r.iter_lines()):
                    if n >= 6:
                        break
            last, since = len(counted), time.monotonic()
            while time.monotonic() - since < 2.0:  # until nothing was decoded for 2 s
                time.sleep(0.1)
                if len(counted) != last:
                    last, since = len(counted), time.monotonic()
    finally:
        del engine.step
    return f"{len(counted)} of 400 decode steps ran after the client read 3 events and left"


def full_queue(model_dir: Path, engine) -> str:
    entered, release = threading.Event(), threading.Event()
    inner = engine.prefill

    def held(requests):
        entered.set()
        release.wait(20)
        return inner(requests)

    engine.prefill = held
    try:
        app = app_for(model_dir, engine, max_queue=1, max_batch_size=1, max_wait_ms=0)
        with serve_in_thread(app) as base:
            post = lambda: httpx.post(f"{base}/v1/chat/completions", headers=AUTH, json=body(), timeout=30)  # noqa: E731
            threads = [threading.Thread(target=post) for _ in range(2)]
            threads[0].start()
            entered.wait(10)
            threads[1].start()
            time.sleep(0.5)
            try:
                r = httpx.post(f"{base}/v1/chat/completions", headers=AUTH, json=body(), timeout=3)
                out = f"3rd request: {r.status_code}, Retry-After {r.headers.get('retry-after')}"
            except httpx.TimeoutException:
                out = "3rd request: no answer within 3 s (queued without bound)"
            release.set()
            for t in threads:
                t.join(30)
    finally:
        del engine.prefill
    return out


def big_body(base: str, with_token: bool) -> str:
    blob = json.dumps(body(messages=[{"role": "user", "content": "x" * 40_000_000}])).encode()
    headers = {**(AUTH if with_token else {}), "content-type": "application/json"}
    before = rss_mb()
    r = httpx.post(f"{base}/v1/chat/completions", headers=headers, content=blob, timeout=120)
    return f"{r.status_code}; this process's RSS +{rss_mb() - before:.0f} MB"


def slow_template(model_dir: Path, engine) -> str:
    inner = engine.render_chat
    engine.render_chat = lambda m: (time.sleep(1.5), inner(m))[1]
    try:
        with serve_in_thread(app_for(model_dir, engine)) as base:
            t = threading.Thread(target=lambda: httpx.post(f"{base}/v1/chat/completions", headers=AUTH,
                                                            json=body(), timeout=30))
            t.start()
            time.sleep(0.3)
            t0 = time.perf_counter()
            httpx.get(f"{base}/health", timeout=10)
            waited = time.perf_counter() - t0
            t.join(30)
    finally:
        del engine.render_chat
    return f"/health answered in {waited:.2f} s during a 1.5 s chat template"


def main() -> None:
    import stratos

    print(f"stratos from {Path(stratos.__file__).parent}")
    model_dir = make_tiny_model_dir(Path(tempfile.mkdtemp()) / "tiny")
    engine = GenerationEngine.from_dir(model_dir, threads=1, dtype="float32")
    rows = []
    with serve_in_thread(app_for(model_dir, engine, max_tokens=8)) as base:
        rows.append(("seed 2**64", seed_out_of_range(base)))
        rows.append(("40 MB body, no token", big_body(base, False)))
        rows.append(("40 MB body, with token", big_body(base, True)))
        many = [{"role": "user", "content": "x"}] * 5000
        r = httpx.post(f"{base}/v1/chat/completions", headers=AUTH, json=body(messages=many), timeout=60)
        rows.append(("5000 messages", str(r.status_code)))
    rows.append(("one poisoned request in a batch of 3", poisoned_batch(engine)))
    rows.append(("client leaves mid-stream", disconnect(model_dir, engine)))
    rows.append(("queue full (max_queue=1, worker busy)", full_queue(model_dir, engine)))
    with serve_in_thread(app_for(model_dir, engine, host="0.0.0.0")) as base:
        rows.append(("/docs, /openapi.json with host 0.0.0.0",
                     f"{httpx.get(f'{base}/docs').status_code}, {httpx.get(f'{base}/openapi.json').status_code}"))
    rows.append(("chat template taking 1.5 s", slow_template(model_dir, engine)))
    for fault, outcome in rows:
        print(f"| {fault} | {outcome} |")


if __name__ == "__main__":
    main()
