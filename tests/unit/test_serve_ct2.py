"""The engine layer: selection and fallback, CTranslate2 conversion cache, parity with transformers, streaming."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest
from helpers.tiny_model import make_tiny_model_dir

from stratos.exceptions import ArtifactError, ConfigError
from stratos.serve import ct2_convert, ct2_tuning
from stratos.serve.ct2_convert import CT2_MANIFEST
from stratos.serve.ct2_engine import CT2Engine
from stratos.serve.decoding import Request, SamplingParams
from stratos.serve.engine import GenerationEngine
from stratos.serve.engines import engine_for_model, load_engine

# A fixed set of prompts of different lengths, including an empty one and one-token ones.
PARITY_PROMPTS = [
    "",
    "a",
    "hi",
    "hello",
    "2+2=",
    "1112345678999m",
    "123m456p789s1122z",
    "a much longer prompt than the first few",
    "What tiles complete 2345m?",
    "The quick brown fox jumps over the lazy dog.",
    "x" * 40,
    "mid length prompt",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("ct2") / "tiny")


@pytest.fixture(scope="module")
def hf(model_dir):
    return GenerationEngine.from_dir(model_dir, threads=1, dtype="float32")


@pytest.fixture(scope="module")
def ct2(model_dir):
    return CT2Engine.from_dir(model_dir, quantization="float32", threads=1)


# ---------------------------------------------------------------- selection and fallback
def test_auto_picks_ctranslate2_for_llama_in_float32(model_dir):
    """float32 by default: its greedy answers are the transformers engine's, which the job measured."""
    engine = load_engine(model_dir, threads=1)
    assert engine.kind == "ctranslate2" and engine.quantization == "float32"


def test_unknown_architecture_falls_back_with_a_log_line(tmp_path, caplog):
    neo = make_tiny_model_dir(tmp_path / "neo", arch="gpt_neo")
    with caplog.at_level(logging.WARNING, logger="stratos.serve"):
        engine = load_engine(neo, threads=1, dtype="float32")
    assert engine.kind == "transformers"
    assert "ctranslate2 cannot serve" in caplog.text and "GPTNeoConfig" in caplog.text
    # Asking for CTranslate2 by name is an error that says what to do, not a silent fallback.
    with pytest.raises(ConfigError, match="--engine auto"):
        load_engine(neo, engine="ctranslate2", threads=1)


def test_in_memory_model_of_unknown_architecture_falls_back(tmp_path, caplog):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    neo = make_tiny_model_dir(tmp_path / "neo", arch="gpt_neo")
    model, tok = AutoModelForCausalLM.from_pretrained(neo), AutoTokenizer.from_pretrained(neo)
    with caplog.at_level(logging.WARNING, logger="stratos.serve"):
        assert engine_for_model(model, tok, name="student").kind == "transformers"
    assert "GPTNeoConfig" in caplog.text


def test_explicit_transformers_engine_and_bad_names(model_dir):
    assert load_engine(model_dir, engine="transformers", threads=1, dtype="float32").kind == "transformers"
    with pytest.raises(ConfigError, match="engine 'tensorrt'"):
        load_engine(model_dir, engine="tensorrt")
    with pytest.raises(ConfigError, match="quantization 'int4'"):
        load_engine(model_dir, quantization="int4")


def test_auto_quantization_is_measured_once_and_remembered(tmp_path, monkeypatch):
    d = make_tiny_model_dir(tmp_path / "m")
    engine = load_engine(d, quantization="auto", threads=1)
    record = json.loads(ct2_tuning.record_path(d, "auto").read_text())
    assert engine.quantization == record["chosen"]["quantization"] in ("float32", "int8")
    assert set(record["tokens_per_s"]) == {"float32/1", "int8/1"} and min(record["tokens_per_s"].values()) > 0

    def no_measuring(*_a, **_k):
        raise AssertionError("measured again")

    monkeypatch.setattr("stratos.serve.ct2_tuning.measure_decode_rates", no_measuring)
    assert load_engine(d, quantization="auto", threads=1).quantization == record["chosen"]["quantization"]


def test_a_setup_record_of_another_shape_is_measured_again(tmp_path):
    d = make_tiny_model_dir(tmp_path / "m")
    load_engine(d, quantization="float32", threads=2)
    record = ct2_tuning.record_path(d, "float32")
    saved = json.loads(record.read_text())
    record.write_text(json.dumps({**saved, "chosen": {"replica_count": 2}}))
    assert load_engine(d, quantization="float32", threads=2).parallelism in (1, 2)
    assert set(json.loads(record.read_text())["chosen"]) == {"quantization", "replicas", "gemm"}


def test_each_setup_is_measured_in_a_process_of_its_own(tmp_path, monkeypatch):
    """CTranslate2's threads outlive a generator: one setup measured in the process slowed the next."""
    from stratos.serve import ct2_rate

    d = make_tiny_model_dir(tmp_path / "m")
    children = []
    run = ct2_rate.subprocess.run

    def spy(cmd, **kwargs):
        children.append(json.loads(cmd[-1]))
        return run(cmd, **kwargs)

    monkeypatch.setattr(ct2_rate.subprocess, "run", spy)
    rates = ct2_tuning.measure_decode_rates(d, ("float32", "int8"), (1, 2), threads=2, rounds=1)
    assert set(rates) == {"float32/1", "float32/2", "int8/1", "int8/2"} and min(rates.values()) > 0
    assert [(c["quantization"], c["replicas"]) for c in children] == [
        ("float32", 1), ("float32", 2), ("int8", 1), ("int8", 2)]


def test_a_setup_that_cannot_run_is_reported_with_its_name(tmp_path):
    from stratos.exceptions import ArtifactError
    from stratos.serve.ct2_rate import rate_in_own_process

    with pytest.raises(ArtifactError, match="measuring CTranslate2 int8 x 2 on .*nowhere failed"):
        rate_in_own_process(model_dir=str(tmp_path / "nowhere"), quantization="int8", threads=2, replicas=2,
                            tokens=["a"], length=4, rounds=1)


SERVE_ONE_MODEL = """
import json, sys
from stratos.serve.ct2_convert import allow_gemm_choice
from stratos.serve.engines import load_engine
allow_gemm_choice()
engine = load_engine(sys.argv[1], quantization="int8", threads=2)
import ctranslate2
print(json.dumps({**engine.describe(), "mkl_running": "int16" in ctranslate2.get_supported_compute_types("cpu")}))
"""


def test_a_process_serving_one_model_may_run_int8_on_mkl_and_runs_what_it_chose(tmp_path):
    """The GEMM library is read when CTranslate2 is imported: the choice must come first, and hold."""
    d = make_tiny_model_dir(tmp_path / "m")
    env = {k: v for k, v in os.environ.items() if k != "CT2_USE_MKL"}
    out = subprocess.run([sys.executable, "-c", SERVE_ONE_MODEL, str(d)], capture_output=True, text=True,
                         env=env, check=True)
    served = json.loads(out.stdout.strip().splitlines()[-1])
    record = json.loads(ct2_tuning.record_path(d, "int8+mkl").read_text())
    assert set(record["tokens_per_s"]) == {"int8/1", "int8/2", "int8@mkl/1", "int8@mkl/2",
                                           "int8@mkl-avx2_e1/1", "int8@mkl-avx2_e1/2"}
    assert served["gemm"] == (record["chosen"]["gemm"] or "dnnl")
    assert served["mkl_running"] == served["gemm"].startswith("mkl")


MKL_CAPPED = """
import sys
from pathlib import Path
from stratos.serve.ct2_convert import allow_gemm_choice, use_gemm
from stratos.serve.ct2_engine import CT2Engine
allow_gemm_choice()
use_gemm(sys.argv[2])
CT2Engine.from_dir(Path(sys.argv[1]), quantization="int8", threads=1).generate(["hello"], max_new_tokens=2)
import ctranslate2
print("mkl running:", "int16" in ctranslate2.get_supported_compute_types("cpu"))
"""


@pytest.mark.parametrize(("gemm", "isa"), [("mkl", None), ("mkl-avx2_e1", "Advanced Vector Extensions 2")])
def test_a_capped_mkl_runs_below_avx512(model_dir, gemm, isa):
    """The cap reaches MKL: its verbose banner names the instruction set it dispatched to. (CTranslate2
    runs MKL on Intel CPUs only; elsewhere no MKL call, so no banner, is the right outcome.)"""
    env = {k: v for k, v in os.environ.items() if k not in ("CT2_USE_MKL", "MKL_ENABLE_INSTRUCTIONS")}
    r = subprocess.run([sys.executable, "-c", MKL_CAPPED, str(model_dir), gemm], capture_output=True, text=True,
                       env=env | {"MKL_VERBOSE": "1"}, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    banners = [line for line in r.stdout.splitlines() if "for Intel(R) 64 architecture" in line]
    if "mkl running: False" in r.stdout:
        assert not banners
        return
    assert banners, r.stdout[-2000:]
    if isa:
        assert isa in banners[0] and "AVX-512" not in banners[0], banners[0]


def test_gemm_names_round_trip(monkeypatch):
    import stratos.serve.ct2_convert as convert

    for key in ("CT2_USE_MKL", convert.MKL_ISA_ENV):
        monkeypatch.delenv(key, raising=False)
    for name in ("mkl-avx2_e1", "mkl", "dnnl"):
        convert.set_gemm_env(name)
        assert convert.gemm_backend() == name
    assert convert.MKL_ISA_ENV not in os.environ


def test_a_process_that_imported_ctranslate2_keeps_its_gemm_library(tmp_path, monkeypatch):
    import stratos.serve.ct2_convert as convert

    monkeypatch.setitem(convert._GEMM, "choosable", True)
    assert "ctranslate2" in sys.modules and not convert.gemm_choosable()
    with pytest.raises(RuntimeError, match="fixed in this process"):
        convert.use_gemm("mkl")


def test_the_thread_layout_is_measured_per_thread_budget(tmp_path):
    d = make_tiny_model_dir(tmp_path / "m")
    engine = load_engine(d, quantization="float32", threads=2)
    record = json.loads(ct2_tuning.record_path(d, "float32").read_text())
    assert set(record["tokens_per_s"]) == {"float32/1", "float32/2"}
    assert engine.parallelism == record["chosen"]["replicas"] in (1, 2)
    assert record["key"]["threads"] == 2 and record["key"]["quantization"] == "float32"


@pytest.mark.parametrize(
    ("rates", "chosen"),
    [
        # one core decodes one stream as fast as two: a replica per core
        ({"float32/1": 1000, "float32/2": 1000, "int8/1": 1100, "int8/2": 1050}, ("float32", 2)),
        # the step splits well over cores (a large model): every core on one stream
        ({"float32/1": 40, "float32/2": 24, "int8/1": 41, "int8/2": 30}, ("float32", 1)),
        # int8 wins only by more than its margin
        ({"float32/1": 40, "float32/2": 24, "int8/1": 80, "int8/2": 75}, ("int8", 2)),
        # the faster int8 library, then its layout
        ({"float32/1": 40, "float32/2": 24, "int8/1": 80, "int8/2": 75, "int8@mkl/1": 20, "int8@mkl/2": 120},
         ("int8", 2, "mkl")),
        ({"float32/1": 100, "float32/2": 60, "int8/1": 80, "int8/2": 75, "int8@mkl/1": 20, "int8@mkl/2": 110},
         ("float32", 1)),
        # MKL capped below AVX-512 decodes one stream fastest
        ({"float32/1": 40, "float32/2": 24, "int8/1": 80, "int8/2": 75, "int8@mkl/1": 100, "int8@mkl/2": 120,
          "int8@mkl-avx2_e1/1": 110, "int8@mkl-avx2_e1/2": 130}, ("int8", 2, "mkl-avx2_e1")),
    ],
)
def test_setup_decision(rates, chosen):
    formats = tuple(sorted({key.split("/")[0] for key in rates}, key=len))
    setup = ct2_tuning.decide(rates, formats, (1, 2))
    assert (setup.quantization, setup.replicas, setup.gemm) == (*chosen, *([None] * (3 - len(chosen))))


def test_replicas_share_one_callers_batch_and_answer_the_same(model_dir, ct2):
    two = CT2Engine.from_dir(model_dir, quantization="float32", threads=2, replicas=2)
    assert two.parallelism == 2
    assert two.generate(PARITY_PROMPTS, max_new_tokens=6) == ct2.generate(PARITY_PROMPTS, max_new_tokens=6)


# ---------------------------------------------------------------- conversion cache
def _entries(model_dir, quantization="float32"):
    return sorted((model_dir.parent / f"{model_dir.name}.ct2").glob(f"{quantization}-*"))


def test_conversion_is_cached_and_reused(tmp_path, monkeypatch):
    d = make_tiny_model_dir(tmp_path / "m")
    CT2Engine.from_dir(d, threads=1)
    [entry] = _entries(d)
    body = json.loads((entry / CT2_MANIFEST).read_text())
    assert body["source"] == ct2_convert.source_id(d) and set(body["files"]) >= {"model.bin", "config.json"}

    def no_converting(*_a, **_k):
        raise AssertionError("converted again")

    monkeypatch.setattr(ct2_convert, "convert_model", no_converting)
    CT2Engine.from_dir(d, threads=1)
    assert _entries(d) == [entry]


def test_changed_artifact_invalidates_the_conversion(tmp_path):
    d = make_tiny_model_dir(tmp_path / "m", seed=0)
    CT2Engine.from_dir(d, threads=1)
    [old] = _entries(d)
    old_weights = json.loads((old / CT2_MANIFEST).read_text())["files"]["model.bin"]
    make_tiny_model_dir(d, seed=1)  # new weights and a new manifest in the same dir
    engine = CT2Engine.from_dir(d, threads=1)
    [new] = _entries(d)
    assert new != old and not old.exists()
    assert json.loads((new / CT2_MANIFEST).read_text())["files"]["model.bin"] != old_weights
    reference = GenerationEngine.from_dir(d, threads=1, dtype="float32")
    assert engine.generate(PARITY_PROMPTS, max_new_tokens=8) == reference.generate(PARITY_PROMPTS, max_new_tokens=8)


def test_plain_hf_dir_is_keyed_by_its_files(tmp_path):
    d = make_tiny_model_dir(tmp_path / "plain", manifest=False)
    before = ct2_convert.source_id(d)
    (d / "generation_config.json").write_text((d / "generation_config.json").read_text() + " ")
    assert ct2_convert.source_id(d) != before


def test_corrupted_conversion_is_refused_at_start(tmp_path):
    from pydantic import SecretStr

    from stratos.serve.server import ServeConfig, build_server_app

    d = make_tiny_model_dir(tmp_path / "m")
    CT2Engine.from_dir(d, threads=1)
    [entry] = _entries(d)
    blob = bytearray((entry / "model.bin").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (entry / "model.bin").write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="model.bin.*corrupted: delete"):
        CT2Engine.from_dir(d, threads=1)
    config = ServeConfig(model_dir=d, token=SecretStr("t"), engine="ctranslate2", quantization="float32")
    with pytest.raises(ArtifactError, match="failed verification"):
        build_server_app(config)


def test_read_only_parent_uses_the_stratos_cache(tmp_path, monkeypatch):
    d = make_tiny_model_dir(tmp_path / "ro" / "m")
    monkeypatch.setenv("STRATOS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ct2_convert.os, "access", lambda *_a: False)
    assert ct2_convert.cache_root(d) == tmp_path / "cache" / "ct2" / "m"


def test_tokenizer_without_bos_converts(tmp_path):
    d = make_tiny_model_dir(tmp_path / "nb", bos=False)
    engine = CT2Engine.from_dir(d, threads=1)
    [entry] = _entries(d)
    assert json.loads((entry / "config.json").read_text())["bos_token"] == "</s>"
    reference = GenerationEngine.from_dir(d, threads=1, dtype="float32")
    assert engine.generate(["hello"], max_new_tokens=6)[0].token_ids == reference.generate(
        ["hello"], max_new_tokens=6
    )[0].token_ids


# ---------------------------------------------------------------- same answers
def test_greedy_parity_with_transformers_on_a_fixed_set(hf, ct2):
    ours = ct2.generate(PARITY_PROMPTS, max_new_tokens=16)
    theirs = hf.generate(PARITY_PROMPTS, max_new_tokens=16)
    differ = [p for p, a, b in zip(PARITY_PROMPTS, ours, theirs, strict=True) if a != b]
    assert not differ, f"outputs differ for {differ}"
    singles = [ct2.generate([p], max_new_tokens=16)[0] for p in PARITY_PROMPTS]
    assert singles == ours


def test_in_memory_conversion_matches_the_dir(model_dir, ct2, hf):
    engine = engine_for_model(hf.model, hf.tokenizer, name="student")
    assert engine.kind == "ctranslate2"
    assert engine.generate(PARITY_PROMPTS, max_new_tokens=8) == ct2.generate(PARITY_PROMPTS, max_new_tokens=8)


def test_int8_runs_and_mostly_agrees(model_dir, ct2):
    int8 = CT2Engine.from_dir(model_dir, quantization="int8", threads=1)
    out = int8.generate(PARITY_PROMPTS, max_new_tokens=8)
    assert all(r.completion_tokens == 8 for r in out)


def test_per_row_lengths_stop_strings_and_eos(hf, ct2):
    params = [SamplingParams(n) for n in (3, 9, 1, 5)]
    prompts = PARITY_PROMPTS[:4]
    assert ct2.generate_batch(prompts, params) == hf.generate_batch(prompts, params)
    text = hf.generate(["hello"], max_new_tokens=12)[0].text
    stop = SamplingParams(12, stop=(text[3:5],))
    assert ct2.generate_batch(["hello"], [stop]) == hf.generate_batch(["hello"], [stop])


def test_eos_ends_a_row_without_counting_it(model_dir):
    engine = CT2Engine.from_dir(model_dir, quantization="float32", threads=1)
    first = engine.generate(["hello"], max_new_tokens=4)[0].token_ids[0]
    engine.eos_ids.add(first)
    engine._end = sorted(engine.eos_ids)
    out = engine.generate(["hello"], max_new_tokens=4)[0]
    assert out.finish_reason == "stop" and out.completion_tokens == 0 and out.text == ""


def test_streamed_pieces_add_up_to_the_text(hf, ct2):
    prompt = PARITY_PROMPTS[7]
    text = hf.generate([prompt], max_new_tokens=12)[0].text
    counts = []
    for params in (SamplingParams(12), SamplingParams(12, stop=(text[5:7],))):
        pieces: list[str] = []
        out = ct2.generate_batch([prompt], [params], on_text=lambda _i, t, sink=pieces: sink.append(t))[0]
        assert "".join(pieces) == out.text
        assert out == hf.generate_batch([prompt], [params])[0]
        counts.append(len(pieces))
    assert counts[0] >= 2  # streamed token by token, not in one piece at the end


def test_rows_finish_early_and_cancel(ct2):
    finished = []
    flag = {"stop": False}
    seen = []

    def sink(text):
        seen.append(text)
        flag["stop"] = len(seen) >= 3

    reqs = [
        Request(ct2.encode("hello"), SamplingParams(2), tag="short", on_done=finished.append),
        Request(ct2.encode("hi"), SamplingParams(200), tag="long", on_text=sink, cancelled=lambda: flag["stop"]),
    ]
    done = dict(ct2.run(reqs))
    assert done["short"].completion_tokens == 2 and finished == [done["short"]]
    # Cancelled right after its third piece: the row stopped instead of decoding 200 tokens.
    assert done["long"].finish_reason == "cancelled" and done["long"].completion_tokens <= 4


def test_seeded_sampling_matches_the_transformers_engine(hf, ct2):
    a = ct2.generate(["hello"] * 2, max_new_tokens=8, temperature=1.5, seed=7)
    assert a == ct2.generate(["hello"] * 2, max_new_tokens=8, temperature=1.5, seed=7)
    assert a == hf.generate(["hello"] * 2, max_new_tokens=8, temperature=1.5, seed=7)
    unseeded = ct2.generate(["hello"] * 4, max_new_tokens=8, temperature=1.5)
    greedy = ct2.generate(["hello"], max_new_tokens=8)[0]
    assert any(r.token_ids != greedy.token_ids for r in unseeded)


@pytest.mark.parametrize("user_env, backend", [({}, "DNNL"), ({"CT2_USE_MKL": "1"}, "MKL|DNNL")])
def test_ctranslate2_runs_onednn_unless_the_user_says_otherwise(model_dir, user_env, backend):
    """CTranslate2 reads its GEMM library once, at import: every import goes through
    ``ctranslate2_module``, which asks for oneDNN (MKL is Intel-only, so an AMD host reports oneDNN
    even when asked for MKL); a user's ``CT2_USE_MKL`` wins, and the setup record is keyed by it."""
    code = ("import json, os; from pathlib import Path; from stratos.serve.ct2_engine import CT2Engine; "
            "from stratos.serve.ct2_convert import gemm_backend; "
            f"CT2Engine.from_dir(Path({str(model_dir)!r}), threads=1); print(json.dumps(gemm_backend()))")
    env = {k: v for k, v in os.environ.items() if k != "CT2_USE_MKL"} | user_env | {"CT2_VERBOSE": "1"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(rf"SGEMM backend: ({backend})", r.stderr + r.stdout), r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == ("mkl" if user_env else "dnnl")


_THREADS_LEFT = """
import gc, os, sys
from stratos.serve.ct2_convert import converted_dir
from stratos.serve.ct2_engine import _generator
entry = converted_dir(sys.argv[1], "int8")
before = len(os.listdir("/proc/self/task"))
generator = _generator(entry, "int8", threads=2, replicas=1)
generator.generate_batch([["a"] * 8], max_length=4)
del generator
gc.collect()
print(before, len(os.listdir("/proc/self/task")))
"""


def test_loading_leaves_no_openmp_threads_behind(model_dir):
    """A generator's threads end with it: the loading thread's OpenMP team (quantizing int8 weights on
    two cores) must not outlive the load, or every later multi-core step sleeps and wakes per op."""
    out = subprocess.run([sys.executable, "-c", _THREADS_LEFT, str(model_dir)], capture_output=True, text=True,
                         check=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    before, after = map(int, out.stdout.split())
    assert after == before
