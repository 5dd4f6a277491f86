"""A cloud stack whose teacher is an OpenAI-compatible endpoint, previewed under mocks: the
program plans and sizes it (no teacher weights on the node, no teacher server), ships the
endpoint to the job in the run's plan.json, never a key, and refuses the preview when the
endpoint names a key the node could only get from the unset stack secret."""

from __future__ import annotations

import json

import pytest
import test_aws_gcp_stacks as stacks

from stratos.zoo.endpoint import TeacherEndpoint

TEACHER = {"base_url": "https://llm.example.com/v1", "model": "my-72b", "api_key_env": "LLM_KEY"}
KEY = "sk-live-endpoint-key-3c9f"


def _with_teacher(monkeypatch) -> None:
    plain = stacks.stack_config("mahjong-aws")
    monkeypatch.setattr(stacks, "stack_config", lambda name: {**plain, "stratos:teacher": json.dumps(TEACHER)})


def test_aws_stack_with_an_endpoint_teacher(monkeypatch) -> None:
    _with_teacher(monkeypatch)
    result, exports = stacks.preview("mahjong-aws", monkeypatch, secrets={"stratos:teacherApiKey": KEY})
    assert exports["plan"]["teacher"] == TeacherEndpoint(**TEACHER).spec()
    assert any("price unknown" in a for a in exports["estimatedCost"]["assumptions"])
    train = next(s for s in result.of_type(stacks.INSTANCE["aws"]).values() if s["tags"]["stratos-role"] == "train")
    assert "STRATOS_TEACHER_HUB=''" in train["userData"], "the endpoint serves the teacher: no vLLM on the node"
    (plan_object,) = [s for s in result.of_type("aws:s3/bucketObjectv2:BucketObjectv2").values()
                      if s["key"].endswith("/plan.json")]
    assert "my-72b" in plan_object["content"] and "LLM_KEY" in plan_object["content"]  # the plan the node fetches ...
    for state in (train, plan_object):
        assert KEY not in json.dumps(state)  # ... holds the key's name, never the key


def test_an_endpoint_naming_a_key_without_the_stack_secret_fails_the_preview(monkeypatch) -> None:
    _with_teacher(monkeypatch)
    with pytest.raises(Exception, match=r"stratos:teacherApiKey"):
        stacks.preview("mahjong-aws", monkeypatch)
