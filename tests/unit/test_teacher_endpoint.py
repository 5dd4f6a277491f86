"""Any OpenAI-compatible teacher in a stack: ``stratos:teacher: {base_url, model, ...}``.

The request accepts it beside zoo ids, the plan carries it as one string the job reads
back, and the planner prices it: a zoo model behind its own provider at list price (half
with the Batch API), anything else with its price stated as unknown.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.planning import write_local_profile

from stratos.exceptions import ConfigError
from stratos.planner import make_plan
from stratos.spec import load_request, parse_request
from stratos.zoo.endpoint import TeacherEndpoint, teacher_model, teacher_notes

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "catalog")
VLLM = {"base_url": "http://10.0.0.5:8000/v1", "model": "Qwen/Qwen2.5-72B-Instruct", "api_key_env": "VLLM_KEY"}


@pytest.fixture(autouse=True)
def _machine_profile(tmp_path, monkeypatch):
    """A pre-written local-machine profile, so planning the local target measures nothing."""
    monkeypatch.setenv("STRATOS_CACHE", str(tmp_path))
    write_local_profile()


def test_the_spec_string_round_trips_every_option():
    ep = TeacherEndpoint(**VLLM, batch=True, usd_per_m_input=0.5, usd_per_m_output=1.25)
    spec = ep.spec()
    assert spec == "http://10.0.0.5:8000/v1#Qwen/Qwen2.5-72B-Instruct&api_key_env=VLLM_KEY&batch=true&usd_per_m_input=0.5&usd_per_m_output=1.25"
    assert TeacherEndpoint.parse(spec) == ep
    assert TeacherEndpoint.parse("https://api.together.xyz/v1/#meta-llama/Llama-3-70b").base_url == "https://api.together.xyz/v1"


def test_stack_file_with_an_endpoint_teacher(tmp_path):
    stack = tmp_path / "Pulumi.x.yaml"
    stack.write_text("config:\n  stratos:teacher:\n" + "".join(f"    {k}: {v}\n" for k, v in VLLM.items()))
    assert load_request(stack).teacher == TeacherEndpoint(**VLLM)
    assert parse_request({"teacher": "gpt-4o"}).teacher == "gpt-4o"


@pytest.mark.parametrize(
    ("teacher", "says"),
    [
        ({"model": "m"}, "base_url"),
        ({"base_url": "ftp://host/v1", "model": "m"}, "not an http(s) URL"),
        ({"base_url": "http://h/v1", "model": "m", "modle": 1}, "did you mean 'model'"),
        ({"base_url": "http://h/v1", "model": "m", "api_key": "sk-live-123"}, "stratos:teacherApiKey"),
        ({"base_url": "http://h/v1", "model": "m", "usd_per_m_input": -1}, "usd_per_m_input"),
        ("http://h/v1", "names no model"),
        ("http://h/v1#m&temperature=2", "unknown option"),
        (7, "zoo id"),
    ],
)
def test_bad_endpoint_teachers_fail_with_the_key_and_the_fix(teacher, says):
    with pytest.raises(ConfigError) as err:
        parse_request({"teacher": teacher})
    assert says in str(err.value) and "sk-live-123" not in str(err.value)  # a key is never echoed


def test_endpoint_facts_known_model_own_provider_and_batch_discount():
    gpt = teacher_model(TeacherEndpoint(base_url="https://api.openai.com/v1", model="gpt-4o"))
    assert (gpt.usd_per_m_input, gpt.usd_per_m_output) == (2.5, 10.0) and gpt.is_api and gpt.task_coverage("mahjong") == 0.55
    batch = teacher_model(TeacherEndpoint(base_url="https://api.openai.com/v1", model="gpt-4o", batch=True))
    assert (batch.usd_per_m_input, batch.usd_per_m_output) == (1.25, 5.0)
    hosted = teacher_model(TeacherEndpoint(**VLLM))  # a zoo model on your own server: its size, no price
    assert hosted.params_b == 72.7 and hosted.usd_per_m_input is None and hosted.id == TeacherEndpoint(**VLLM).spec()
    assert any("price unknown" in n for n in teacher_notes(hosted.id))
    assert teacher_notes("gpt-4o") == []


def test_the_planner_plans_an_endpoint_teacher_and_says_what_it_assumed():
    unknown = {"base_url": "http://127.0.0.1:8000/v1", "model": "my-finetune"}
    r = make_plan(parse_request({"target": "local", "teacher": unknown, "job": {"profile": "fast"}}), FIXTURE)
    p = r.chosen
    assert p.teacher == TeacherEndpoint(**unknown).spec() and p.mode == "injection" and not p.logit_kd
    said = " ".join(p.cost.assumptions)
    assert "unknown model" in said and "price unknown" in said


def test_batch_api_halves_the_planned_synthesis_cost():
    base = {"target": "aws", "student": "qwen2.5-0.5b-instruct", "mode": "alignment", "constraints": {"serving_hours": 1}}
    sync = {"base_url": "https://api.openai.com/v1", "model": "gpt-4o"}
    a = make_plan(parse_request({**base, "teacher": sync}), FIXTURE).chosen
    b = make_plan(parse_request({**base, "teacher": {**sync, "batch": True}}), FIXTURE).chosen
    zoo = make_plan(parse_request({**base, "teacher": "gpt-4o"}), FIXTURE).chosen
    assert a.cost.synthesis_usd > 0 and a.cost.synthesis_usd == pytest.approx(zoo.cost.synthesis_usd)
    assert b.cost.synthesis_usd == pytest.approx(a.cost.synthesis_usd / 2)
    assert any("Batch API" in x for x in b.cost.assumptions)
