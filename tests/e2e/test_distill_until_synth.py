"""What a GPU node asks of `stratos distill`: `--until synth` stops with the data, probe,
synthesis and the teacher's score on disk (so its vLLM server can go before training);
`--teacher-url` reaches the teacher through the OpenAI-compatible client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers.configs import DECISIONS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = {
    **DECISIONS,  # the rule teacher, the 3M scratch student, injection forced
    "n_train": 120, "n_val": 12, "n_test": 12, "probe_size": 4, "teacher_eval_size": 6,
    "max_steps": 6, "warmup_steps": 2, "eval_every": 6, "eval_samples": 2, "ckpt_every": 3,
    "seq_len": 256, "batch_blocks": 2, "micro_blocks": 2, "threads": 1,
    "scratch": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "num_kv_heads": 2,
                "intermediate_size": 64, "max_positions": 512},
    "rationale_budget": 2, "knowledge_examples": 2, "eval_max_new_tokens": 64,
    "patience": 0, "compile": False,
}


def _distill(cfg: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "stratos.cli", "distill", "--config", str(cfg), "--out", str(out), "--quiet", *extra]
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)


def test_until_synth_stops_before_training_and_the_next_run_reuses_the_teachers_score(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "run"
    r = _distill(cfg, out, "--until", "synth")
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("data/train_synth.jsonl", "synth.json", "probe.json", "eval_teacher.json"):
        assert (out / name).is_file(), name
    assert not (out / "ckpt").exists() and not (out / "artifact").exists() and not (out / "report.json").exists()
    teacher = json.loads((out / "eval_teacher.json").read_text())
    r = _distill(cfg, out)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["teacher_accuracy"] == teacher["accuracy"]
    assert (out / "artifact" / "manifest.json").is_file()


def test_until_refuses_a_phase_it_does_not_know(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(TINY))
    r = _distill(cfg, tmp_path / "run", "--until", "train")
    assert r.returncode != 0 and "--until 'train'" in r.stderr


def test_teacher_url_reaches_an_openai_compatible_teacher_with_the_key(tmp_path: Path) -> None:
    seen: list[tuple[str, dict]] = []

    class Teacher(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.headers.get("Authorization", ""), body))
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": "1m"}}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Teacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = tmp_path / "cfg.json"
        cfg.write_text(json.dumps({**TINY, "teacher": "qwen2.5-7b-instruct"}))
        url = f"http://127.0.0.1:{server.server_port}/v1#Qwen/Qwen2.5-7B-Instruct"
        r = _distill(cfg, tmp_path / "run", "--until", "synth", "--teacher-url", url,
                     env={"STRATOS_TEACHER_API_KEY": "node-local-key"})
        assert r.returncode == 0, r.stderr[-3000:]
    finally:
        server.shutdown()
    assert seen, "the job asked the endpoint, not a local copy of the hub model"
    assert {auth for auth, _ in seen} == {"Bearer node-local-key"}
    assert {body["model"] for _, body in seen} == {"Qwen/Qwen2.5-7B-Instruct"}
    # The config (and so the report) still names the plan's teacher, not the URL.
    assert json.loads((tmp_path / "run" / "config.json").read_text())["teacher"] == "qwen2.5-7b-instruct"
