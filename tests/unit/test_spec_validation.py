"""Hostile and mistaken request values: each is refused with one line naming the key and the fix."""

from __future__ import annotations

import pytest

from stratos.distill.settings import SEED_MAX
from stratos.exceptions import ConfigError
from stratos.spec import load_request, parse_request

CASES = [
    # (request, key named in the error, words of the fix)
    ({"constraints": {"budget_usd": float("inf")}}, "constraints.budget_usd", "finite"),
    ({"constraints": {"max_latency_ms": float("nan")}}, "constraints.max_latency_ms", "finite"),
    ({"constraints": {"min_accuracy": float("nan")}}, "constraints.min_accuracy", "finite"),
    ({"weights": {"cost": float("inf")}}, "weights.cost", "finite"),
    ({"local": {"price_per_hour": float("inf")}}, "local.price_per_hour", "finite"),
    ({"constraints": {"budget_usd": "1e400"}}, "constraints.budget_usd", "finite"),
    ({"constraints": {"min_accuracy": True}}, "constraints.min_accuracy", "boolean, not a number"),
    ({"constraints": {"prompt_tokens": True}}, "constraints.prompt_tokens", "boolean, not a number"),
    ({"job": {"seed": False}}, "job.seed", "boolean, not a number"),
    ({"network": {"serving_port": True}}, "network.serving_port", "boolean, not a number"),
    ({"gpus": []}, "gpus", "omit the key for any"),
    ({"regions": []}, "regions", "omit the key for any"),
    ({"clouds": []}, "clouds", "omit the key for any"),
    ({"task": "chess"}, "task", "registered:"),  # then the registered tasks
    ({"network": {"allowed_cidrs": ["2001:db8::/32"]}}, "network.allowed_cidrs", "IPv6"),
    ({"network": {"ssh_cidrs": ["::/0"]}}, "network.ssh_cidrs", "IPv6"),
    ({"network": {"serving_port": 22}}, "network.serving_port", "choose another"),
    ({"network": {"ssh_cidrs": ["0.0.0.0/1", "128.0.0.0/1"]}}, "network.ssh_cidrs", "every address"),
    ({"network": {"ssh_cidrs": ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]}}, "network.ssh_cidrs", "every address"),
    ({"network": {"ssh_cidrs": ["0.0.0.0/0"]}}, "network.ssh_cidrs", "every address"),
    ({"job": {"seed": 2**64}}, "job.seed", str(SEED_MAX)),
    ({"job": {"seed": -1}}, "job.seed", "greater than or equal to 0"),
]


@pytest.mark.parametrize(("request_body", "key", "fix"), CASES, ids=[c[1] + ":" + repr(c[0])[:40] for c in CASES])
def test_bad_value_is_one_line_naming_the_key(request_body, key, fix) -> None:
    with pytest.raises(ConfigError) as e:
        parse_request(request_body)
    lines = [line for line in str(e.value).splitlines() if f"'{key}'" in line]
    assert len(lines) == 1, str(e.value)
    assert fix in lines[0], lines[0]


def test_1e400_in_a_yaml_request_is_refused(tmp_path) -> None:
    p = tmp_path / "req.yaml"
    p.write_text("constraints:\n  budget_usd: 1e400\n  max_train_hours: .inf\n")
    with pytest.raises(ConfigError) as e:
        load_request(p)
    assert "constraints.budget_usd" in str(e.value) and "constraints.max_train_hours" in str(e.value)


def test_values_at_the_edges_are_accepted() -> None:
    r = parse_request(
        {
            "job": {"seed": SEED_MAX},
            "network": {"serving_port": 443, "ssh_cidrs": ["0.0.0.0/1"], "allowed_cidrs": ["0.0.0.0/0"]},
            "constraints": {"min_accuracy": 1, "budget_usd": 1e6},
            "gpus": ["L4"],
            "regions": ["us-east-1"],
        }
    )
    assert r.job.seed == SEED_MAX and r.network.serving_port == 443


def test_a_task_registered_at_run_time_is_accepted(monkeypatch) -> None:
    from stratos.tasks import base

    monkeypatch.setitem(base._REGISTRY, "harden-test-task", lambda: base.get_task("mahjong"))
    assert parse_request({"task": "harden-test-task"}).task == "harden-test-task"
