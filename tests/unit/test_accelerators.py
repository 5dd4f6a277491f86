"""``stratos:gpus`` as SkyPilot users write it: any case, ``NAME:COUNT``."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratos.catalog.accelerators import AcceleratorRequest, parse_accelerator
from stratos.exceptions import InfeasibleError, UnknownNameError
from stratos.planner.search import make_plan
from stratos.spec import DistillationRequest, parse_request

FIXTURE = str(Path(__file__).resolve().parents[1] / "fixtures" / "catalog")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATOS_CACHE", str(tmp_path))


def plan(**req):
    return make_plan(parse_request(req), FIXTURE)


@pytest.mark.parametrize(("entry", "want"), [
    ("H100", AcceleratorRequest("H100")), ("l4", AcceleratorRequest("l4")), ("A100:8", AcceleratorRequest("A100", 8)),
    (" a100:1 ", AcceleratorRequest("a100", 1)),
])
def test_parse(entry, want):
    assert parse_accelerator(entry) == want


@pytest.mark.parametrize("entry", ["A100:0", "A100:x", "A100:-1", ":8", "A100:1.5"])
def test_a_bad_entry_fails_the_request_naming_the_key(entry):
    with pytest.raises(ValueError, match="gpus") as e:
        DistillationRequest.model_validate({"target": "aws", "gpus": [entry]})
    assert "NAME" in str(e.value) or "whole number" in str(e.value)


def test_admits_is_case_insensitive_and_counts_exactly():
    assert AcceleratorRequest("h100").admits("H100", 8)
    assert AcceleratorRequest("H100", 8).admits("H100", 8)
    assert not AcceleratorRequest("H100", 1).admits("H100", 8)
    assert not AcceleratorRequest("H100").admits(None, 0)


def test_lower_case_names_plan_like_the_catalog_names():
    assert {c.train.accelerator for c in plan(target="aws", gpus=["l4"]).candidates} == {"L4"}


def test_a_count_keeps_only_instances_with_that_many():
    cands = plan(target="aws", gpus=["H100:8", "L4:1"]).candidates
    assert {(c.train.accelerator, c.train.accelerator_count) for c in cands} <= {("H100", 8), ("L4", 1)}


def test_a_count_no_instance_has_is_infeasible_naming_the_key():
    with pytest.raises(InfeasibleError, match=r"gpus: no offering has L4:3.*stratos gpus"):
        plan(target="aws", gpus=["L4:3"])


def test_an_unknown_name_suggests_the_offered_one():
    with pytest.raises(UnknownNameError, match=r"gpus: unknown GPU 'H10'.*did you mean 'H100'"):
        plan(target="aws", gpus=["H10"])
