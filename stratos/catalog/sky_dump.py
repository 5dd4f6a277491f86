"""Subprocess entry point: read a catalog tree through ``sky.catalog`` and print rows as JSON.

Run as ``python -m stratos.catalog.sky_dump CLOUD [CLOUD...]`` with ``SKY_RUNTIME_DIR`` set
to a dir holding ``.sky/catalogs/v8/<cloud>/vms.csv``. SkyPilot fixes its catalog path at
import time and keeps per-cloud dataframes in module globals, so reading a second catalog
tree in one process would mean patching its privates; a short-lived process per tree keeps
Stratos' own process free of SkyPilot state (and of its 1.5 s import). Files without a
``.meta/<cloud>/vms.csv.md5`` are user-provided for SkyPilot, so it never re-downloads them;
the caller only asks for clouds whose ``vms.csv`` exists, so nothing is fetched.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys

_STANDARD_AZ = re.compile(r"^([a-z]+\d?-az\d+|[a-z]+-[a-z]+\d+-[a-z])$")


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _zones(cloud: str) -> dict[tuple[str, str], str]:
    """(instance type, region) -> one availability zone, preferring standard (non local-zone) AZs."""
    from sky.catalog import common

    df = common.read_catalog(f"{cloud}/vms.csv")
    if "AvailabilityZone" not in df.columns:
        return {}
    out: dict[tuple[str, str], str] = {}
    for itype, region, zone in zip(df["InstanceType"], df["Region"], df["AvailabilityZone"], strict=True):
        if not isinstance(zone, str):
            continue
        key = (itype, region)
        best = out.get(key)
        if best is None or (bool(_STANDARD_AZ.match(zone)), -len(zone)) > (
            bool(_STANDARD_AZ.match(best)),
            -len(best),
        ):
            out[key] = zone
    return out


def dump(clouds: list[str]) -> list[dict]:
    """Every GPU instance type in every region of ``clouds``, with prices, via sky.catalog."""
    import sky.catalog

    rows: list[dict] = []
    for cloud in clouds:
        zones = _zones(cloud)
        listing = sky.catalog.list_accelerators(gpus_only=True, clouds=cloud, all_regions=True)
        for infos in listing.values():
            for info in infos:
                price = _num(info.price)
                # Fractional GPUs (AWS g6f: 1/8 of an L4) are skipped: an Offering counts whole devices.
                if price is None or info.instance_type is None or info.accelerator_count < 1:
                    continue
                rows.append(
                    {
                        "cloud": cloud,
                        "region": info.region,
                        "zone": zones.get((info.instance_type, info.region)),
                        "instance_type": info.instance_type,
                        "accelerator": info.accelerator_name,
                        "accelerator_count": int(info.accelerator_count),
                        "vcpus": _num(info.cpu_count),
                        "memory_gb": _num(info.memory),
                        "device_memory_gb": _num(info.device_memory),
                        "price": price,
                        "spot_price": _num(info.spot_price),
                    }
                )
    return rows


if __name__ == "__main__":
    os.environ.setdefault("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
    json.dump(dump(sys.argv[1:]), sys.stdout)
