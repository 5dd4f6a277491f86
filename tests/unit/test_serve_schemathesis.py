"""Fuzz the server against its own OpenAPI spec (bounded): no 500s, replies match the documented shapes.

Schemathesis generates schema-valid (positive) and schema-violating
(negative) requests for every operation and checks that none is answered with
a 5xx, that status codes, content types and bodies are the documented ones,
that invalid data is rejected, and that auth is not ignored (not that every schema-valid
request is accepted: see below). Bounded by
``MAX_EXAMPLES`` per operation and mode, derandomised, in-process (ASGI), so it
takes seconds and runs in CI. Runs against both CPU engines. Every integer
field is bounded in the schema, so the positive run also sends each bound
(hypothesis tries the extremes of a bounded integer first) and the negative
run the values just past them.
"""

from __future__ import annotations

import pytest
import schemathesis
from helpers.tiny_model import make_tiny_model_dir
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from stratos.serve.engines import load_engine
from stratos.serve.server import ServeConfig, build_server_app

TOKEN = "fuzz-token"
MAX_EXAMPLES = 25


@pytest.fixture(scope="module", params=["transformers", "ctranslate2"])
def app(tmp_path_factory, request):
    model_dir = make_tiny_model_dir(tmp_path_factory.mktemp("fuzz"))
    config = ServeConfig(
        model_dir=model_dir,
        model_name="tiny",
        token=SecretStr(TOKEN),
        max_tokens=8,
        default_max_tokens=4,
        max_wait_ms=0,
    )
    engine = load_engine(model_dir, engine=request.param, quantization="float32", threads=1)
    app = build_server_app(config, engine=engine)
    batcher = app.state.serving.batcher
    batcher.start()  # the ASGI test transport may not run the app's lifespan
    yield app
    batcher.stop()


def operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_spec_covers_every_route(app):
    labels = {op.label for op in operations(app)}
    assert labels >= {
        "GET /health",
        "GET /metrics",
        "GET /v1/models",
        "POST /v1/chat/completions",
        "POST /v1/completions",
    }


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_api_conforms_to_its_spec(app, mode):
    # Negative data needs something to break: the GET routes take no input at all.
    ops = [
        op
        for op in operations(app)
        if mode == GenerationMode.POSITIVE or op.method.upper() == "POST"
    ]
    for op in ops:

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            if mode == GenerationMode.POSITIVE and isinstance(case.body, dict):
                # A random model name stops every request at the 404 check; name the served
                # model so valid requests reach generation (unknown models are tested elsewhere).
                case.body["model"] = "tiny"
            # Schema-valid requests may still exceed limits that depend on the loaded model
            # (context length in tokens, the server's max_tokens cap): those get a documented 400,
            # so "valid data must be accepted" is excluded; every other default check runs.
            case.call_and_validate(
                headers={"Authorization": f"Bearer {TOKEN}"},
                excluded_checks=[positive_data_acceptance],
            )

        check()
