"""A cloud stack whose teacher is an OpenAI-compatible endpoint, previewed under mocks: the
program plans and sizes it (no teacher weights on the node) and ships the endpoint to the
job in the plan, never a key."""

from __future__ import annotations

import json

import test_aws_gcp_stacks as stacks

from stratos.zoo.endpoint import TeacherEndpoint

TEACHER = {"base_url": "https://llm.example.com/v1", "model": "my-72b", "api_key_env": "LLM_KEY"}


def test_aws_stack_with_an_endpoint_teacher(monkeypatch) -> None:
    plain = stacks.stack_config("mahjong-aws")
    monkeypatch.setattr(stacks, "stack_config", lambda name: {**plain, "stratos:teacher": json.dumps(TEACHER)})
    result, exports = stacks.preview("mahjong-aws", monkeypatch)
    assert exports["plan"]["teacher"] == TeacherEndpoint(**TEACHER).spec()
    assert any("price unknown" in a for a in exports["estimatedCost"]["assumptions"])
    train = next(s for s in result.of_type(stacks.INSTANCE["aws"]).values() if s["tags"]["stratos-role"] == "train")
    assert "my-72b" in json.dumps(train) and "LLM_KEY" in json.dumps(train)  # the plan travels in user-data ...
    assert "sk-" not in json.dumps(train)  # ... and holds the key's name, not a key
