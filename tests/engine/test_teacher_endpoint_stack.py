"""``stratos:teacher`` as an endpoint mapping under the real Pulumi CLI.

Pulumi's config schema has no "string or object" type, so ``Pulumi.yaml`` leaves the key
untyped; this checks the engine accepts the mapping form and the plan names the endpoint.
"""

from __future__ import annotations

import pytest
from test_local_stack import FAST_CONFIG, LocalProject, free_port, needs_engine


@pytest.mark.engine
@needs_engine
def test_preview_plans_an_endpoint_teacher_from_a_stack_mapping(tmp_path) -> None:
    teacher = {"base_url": "http://127.0.0.1:9/v1", "model": "my-finetune", "api_key_env": "MY_KEY"}
    config = {**FAST_CONFIG, "stratos:network": {"serving_port": free_port()}, "stratos:teacher": teacher}
    project = LocalProject(tmp_path, "endpointteacher", config)
    out = project.pulumi("preview")
    assert "teacher http://127.0.0.1:9/v1#my-finetune&api_key_env=MY_KEY" in out.stdout
    project.write_config({**config, "stratos:teacher": {"model": "m"}})
    bad = project.pulumi("preview", check=False)
    assert bad.returncode != 0 and "base_url" in bad.stdout + bad.stderr
