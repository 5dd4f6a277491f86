"""DistillationRequest: plain YAML and Pulumi stack files, defaults, readable errors."""

from __future__ import annotations

import pytest

from stratos.exceptions import ConfigError
from stratos.spec import STACK_KEYS, DistillationRequest, load_request, parse_request


def test_defaults_are_the_local_target_with_no_hard_limits():
    r = DistillationRequest()
    assert r.target == "local" and r.task == "mahjong"
    assert r.constraints.min_accuracy == 0 and r.constraints.budget_usd is None
    assert r.search_clouds == ["local"]
    assert r.network.ssh_cidrs == [] and r.network.serving_port == 8000


def test_plain_yaml_request(tmp_path):
    p = tmp_path / "req.yaml"
    p.write_text(
        "target: aws\nconstraints:\n  min_accuracy: 0.7\n  max_latency_ms: 300\n  budget_usd: 40\n"
        "regions: [us-east-1]\nspot: true\njob: {profile: fast, seed: 3}\n"
    )
    r = load_request(p)
    assert r.target == "aws" and r.constraints.max_latency_ms == 300 and r.constraints.budget_usd == 40
    assert r.search_clouds == ["aws"] and r.spot and r.job.profile == "fast" and r.job.seed == 3


def test_pulumi_stack_file_with_namespaced_and_structured_keys(tmp_path):
    p = tmp_path / "Pulumi.mahjong-gcp.yaml"
    p.write_text(
        "config:\n"
        "  gcp:project: demo\n"
        "  stratos:target: gcp\n"
        "  stratos:constraints:\n    min_accuracy: 0.8\n    serving_hours: 48\n"
        "  stratos:network:\n    allowed_cidrs: [203.0.113.0/24]\n"
        "  stratos:endpointToken:\n    secure: v1:abcdef\n"
    )
    r = load_request(p)
    assert r.target == "gcp" and r.constraints.min_accuracy == 0.8 and r.constraints.serving_hours == 48
    assert r.network.allowed_cidrs == ["203.0.113.0/24"]


def test_from_stack_config_accepts_keys_without_prefix():
    r = DistillationRequest.from_stack_config({"target": "aws", "stratos:spot": True, "teacher_api_key": "x"})
    assert r.target == "aws" and r.spot


def test_invalid_value_names_key_and_allowed_values():
    with pytest.raises(ConfigError) as e:
        parse_request({"target": "azure"})
    msg = str(e.value)
    assert "'target'" in msg and "'local', 'aws' or 'gcp'" in msg


def test_unknown_nested_key_lists_valid_keys():
    with pytest.raises(ConfigError) as e:
        parse_request({"constraints": {"min_acc": 0.5}})
    assert "constraints.min_acc" in str(e.value) and "min_accuracy" in str(e.value)


def test_range_errors_and_stack_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"constraints\.min_accuracy"):
        parse_request({"constraints": {"min_accuracy": 1.5}})
    p = tmp_path / "Pulumi.bad.yaml"
    p.write_text("config:\n  stratos:clouds: [azure]\n")
    with pytest.raises(ConfigError, match="Pulumi.bad.yaml") as e:
        load_request(p)
    assert "'aws', 'gcp', 'lambda' or 'runpod'" in str(e.value)


def test_network_rules():
    with pytest.raises(ConfigError, match="0.0.0.0/0"):
        parse_request({"network": {"ssh_cidrs": ["0.0.0.0/0"]}})
    with pytest.raises(ConfigError, match="not a CIDR"):
        parse_request({"network": {"allowed_cidrs": ["example.com"]}})


def test_clouds_must_include_target_and_widen_search():
    with pytest.raises(ConfigError, match="include the target"):
        parse_request({"target": "aws", "clouds": ["gcp"]})
    assert parse_request({"target": "aws", "clouds": ["aws", "lambda"]}).search_clouds == ["aws", "lambda"]


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_request(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("target: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_request(bad)


def test_stack_keys_describe_every_field_with_type_and_default():
    names = {k["name"] for k in STACK_KEYS}
    assert names == {f.alias or k for k, f in DistillationRequest.model_fields.items()}  # as the stack spells them
    by = {k["name"]: k for k in STACK_KEYS}
    assert by["target"]["enum"] == ["local", "aws", "gcp"] and by["target"]["type"] == "string"
    cons = {k["name"]: k for k in by["constraints"]["properties"]}
    assert cons["max_latency_ms"]["type"] == "number" and "millisecond" in cons["max_latency_ms"]["description"]
    assert by["clouds"]["items"]["enum"] == ["aws", "gcp", "lambda", "runpod"]

    def walk(keys):
        for k in keys:
            assert k["description"], k["name"]
            assert "default" in k
            walk(k.get("properties", []))

    walk(STACK_KEYS)
