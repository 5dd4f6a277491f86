"""Prices of the zone a plan names: every offering's price is its own zone's catalog row.

The whole-snapshot check reads the SkyPilot snapshot in ``shared/catalog`` beside the
checkout (CI has the same copy beside its clone; ``scripts/env.sh`` points
``STRATOS_CATALOG_DIR`` at it), so it is not skipped anywhere.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from stratos.catalog import load_cloud_offerings, sky_catalog
from stratos.catalog.offering import Offering, is_edge_zone
from stratos.planner.search import make_plan
from stratos.spec import parse_request

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "catalog"


def _snapshot() -> Path:
    beside = ROOT.parent / "shared" / "catalog"
    path = beside if (beside / "v8").is_dir() else Path(os.environ.get("STRATOS_CATALOG_DIR", beside))
    assert (path / "v8" / "aws" / "vms.csv").is_file(), f"the catalog snapshot is missing at {path}"
    return path / "v8"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        d = tmp_path_factory.mktemp("stratos-cache")
        mp.setenv("STRATOS_CACHE", str(d))
        sky_catalog._offerings.cache_clear()
        yield d
        sky_catalog._offerings.cache_clear()


def _rows(tree: Path, cloud: str) -> list[dict[str, str]]:
    with (tree / cloud / "vms.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _catalog_price(rows: list[dict[str, str]], o: Offering) -> float:
    """The price the catalog gives ``o`` in its own zone: the instance row, plus the GPU's own
    row where the cloud prices it apart (GCP); regions without zones (Lambda) by region."""
    col = "SpotPrice" if o.spot else "Price"
    here = [r for r in rows if r["Region"] == o.region and (o.zone is None or r.get("AvailabilityZone") == o.zone)]
    inst = [r for r in here if r["InstanceType"] == o.instance_type]
    assert len(inst) == 1, f"{o.label}: {len(inst)} catalog rows for zone {o.zone}"
    price = float(inst[0][col])
    if not inst[0]["AcceleratorName"]:
        gpu = [r for r in here if not r["InstanceType"] and r["AcceleratorName"] == o.accelerator
               and float(r["AcceleratorCount"] or 0) == o.accelerator_count]
        assert len(gpu) == 1, f"{o.label}: no {o.accelerator_count}x{o.accelerator} row in {o.zone}"
        price += float(gpu[0][col])
    return price


def test_every_offering_is_priced_at_its_named_zone(cache):
    tree = _snapshot()
    offs = load_cloud_offerings(tree)
    rows = {c: _rows(tree, c) for c in {o.cloud for o in offs}}
    wrong = [
        f"{o.label} in {o.zone}: {o.price_per_hour} vs {_catalog_price(rows[o.cloud], o)}"
        for o in offs if abs(o.price_per_hour - _catalog_price(rows[o.cloud], o)) > 1e-6
    ]
    assert not wrong, f"{len(wrong)} offerings priced off their zone, e.g. {wrong[:5]}"
    # one spot offering per (instance, GPUs, zone), and an AWS spot price for every zone the catalog prices
    spot = Counter((o.cloud, o.instance_type, o.accelerator, o.accelerator_count, o.zone) for o in offs if o.spot)
    assert max(spot.values()) == 1
    aws_types = {o.instance_type for o in offs if o.cloud == "aws"}
    priced = {(r["InstanceType"], r["AvailabilityZone"]) for r in rows["aws"]
              if r["InstanceType"] in aws_types and r["SpotPrice"] and float(r["SpotPrice"]) > 0}
    assert priced == {(it, z) for c, it, _, _, z in spot if c == "aws"}


def test_p5_spot_in_a_standard_zone_is_that_zones_price(cache):
    offs = load_cloud_offerings(_snapshot(), ["aws"])
    p5 = {o.zone: o for o in offs if o.instance_type == "p5.48xlarge" and o.region == "us-east-1" and o.spot}
    assert p5["use1-az1"].price_per_hour == 55.04 and p5["use1-atl2-az1"].price_per_hour == pytest.approx(10.2397)
    assert p5["use1-atl2-az1"].edge_zone and not p5["use1-az1"].edge_zone
    assert "spot use1-az1" in p5["use1-az1"].label
    ondemand = [o for o in offs if o.instance_type == "p5.48xlarge" and o.region == "us-east-1" and not o.spot]
    assert [o.zone for o in ondemand] == ["use1-az1"]  # a standard zone, never the Local Zone


@pytest.mark.parametrize(
    ("zone", "edge"),
    [("use1-az1", False), ("apne1-az4", False), ("use1-atl2-az1", True), ("usw2-lax1-az2", True),
     ("use1-wl1-bos-wlz1", True), ("us-central1-a", False), ("CA-MTL-1", False), (None, False)],
)
def test_edge_zones_are_recognised_by_their_zone_id(zone, edge):
    assert is_edge_zone(zone) is edge


@pytest.fixture
def edge_tree(tmp_path, cache):
    """The unit fixture plus a g6.xlarge Local Zone row with the cheapest spot price."""
    tree = tmp_path / "catalog"
    shutil.copytree(FIXTURE, tree)
    aws = tree / "v8" / "aws" / "vms.csv"
    g6 = next(line for line in aws.read_text().splitlines() if line.startswith("g6.xlarge") and "use1-az1" in line)
    aws.write_text(aws.read_text() + g6.replace(",0.80,0.30,", ",0.80,0.05,").replace("use1-az1", "use1-atl2-az1") + "\n")
    return tree


def _train_zone(tree: Path, **extra) -> tuple[str, float]:
    request = parse_request({
        "target": "aws", "regions": ["us-east-1"], "gpus": ["L4"], "spot": True,
        "student": "qwen2.5-0.5b-instruct", "teacher": "qwen2.5-7b-instruct",
        "constraints": {"serving_hours": 1}, **extra,
    })
    plan = make_plan(request, str(tree)).chosen
    assert plan.train.spot
    return plan.train.zone, plan.train.price_per_hour


def test_local_zones_only_when_the_request_allows_them(edge_tree):
    assert _train_zone(edge_tree) == ("use1-az1", 0.30)
    assert _train_zone(edge_tree, edge_zones=True) == ("use1-atl2-az1", 0.05)
