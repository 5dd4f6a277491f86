"""The server refuses an illegal question of its artifact's task with a 400 and serves the rest."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from helpers.tiny_model import make_tiny_model_dir
from pydantic import SecretStr

from stratos.serve.questions import QuestionCheck
from stratos.serve.server import ServeConfig, build_server_app
from stratos.tasks.mahjong.task import MahjongTask

AUTH = {"Authorization": "Bearer t0ken-for-tests"}
TASK = MahjongTask()
LEGAL = TASK.prompt("123m456p789s1122z")
# the canonical prompt with a fifth 1m written on the hand line
FIVE_COPIES = LEGAL.replace("123m456p789s1122z", "11111m456p789s112z")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    model_dir = make_tiny_model_dir(tmp_path_factory.mktemp("mj"), task="mahjong")
    config = ServeConfig(model_dir=model_dir, model_name="mj", token=SecretStr("t0ken-for-tests"), engine="transformers")
    with TestClient(build_server_app(config)) as c:
        yield c


def chat(client, content):
    body = {"model": "mj", "messages": [{"role": "user", "content": content}], "max_tokens": 4, "temperature": 0}
    return client.post("/v1/chat/completions", json=body, headers=AUTH)


def test_an_illegal_hand_is_a_400_in_openai_shape(client):
    r = chat(client, FIVE_COPIES)
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "message": "not a legal 13-tile hand: 5 copies of 1m in '11111m456p789s112z': there are only 4 of each tile",
            "type": "invalid_request_error", "param": "messages", "code": None,
        }
    }


def test_a_legal_hand_and_free_chat_are_answered(client):
    assert chat(client, LEGAL).status_code == 200
    assert chat(client, "hello, which tiles do you like?").status_code == 200


def test_the_completion_route_checks_its_prompt_too(client):
    body = {"model": "mj", "prompt": LEGAL.replace("123m456p789s1122z", "123m456p"), "max_tokens": 4}
    r = client.post("/v1/completions", json=body, headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"
    assert "has 6 tiles, expected 13" in r.json()["error"]["message"]
    assert client.post("/v1/completions", json={**body, "prompt": LEGAL}, headers=AUTH).status_code == 200


def test_an_artifact_of_an_unknown_task_or_none_is_served_unchecked(tmp_path):
    assert QuestionCheck.for_artifact(make_tiny_model_dir(tmp_path / "t", task="no-such-task")) is None
    assert QuestionCheck.for_artifact(make_tiny_model_dir(tmp_path / "hf", manifest=False)) is None
    assert QuestionCheck.for_artifact(make_tiny_model_dir(tmp_path / "m", task="mahjong")).problem(FIVE_COPIES)
