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
import sys

from stratos.catalog.offering import is_edge_zone


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _preferred(zones: list[str]) -> str | None:
    """The zone an on-demand offering names: a standard AZ first (the price is the region's),
    then the shortest name, so the choice is stable."""
    return min(zones, key=lambda z: (is_edge_zone(z), len(z), z)) if zones else None


def _zone_rows(cloud: str) -> tuple[dict, dict]:
    """Per-zone catalog rows, as ``((instance type, region) -> [(zone, spot, whole)])`` and
    ``((accelerator, count, region) -> {zones})`` for clouds that price a GPU in its own row (GCP).

    ``whole`` says the row prices the instance with its GPUs (AWS, RunPod); a host-only row (GCP)
    has a spot price of the host alone, so its zone's price is SkyPilot's region price.
    """
    from sky.catalog import common

    df = common.read_catalog(f"{cloud}/vms.csv")
    if "AvailabilityZone" not in df.columns:
        return {}, {}
    inst: dict[tuple[str, str], list[tuple[str, float | None, bool]]] = {}
    gpu: dict[tuple[str, int, str], set[str]] = {}
    for itype, acc, count, region, zone, spot in zip(
        df["InstanceType"], df["AcceleratorName"], df["AcceleratorCount"], df["Region"],
        df["AvailabilityZone"], df["SpotPrice"], strict=True,
    ):
        if not isinstance(zone, str):
            continue
        if isinstance(itype, str) and itype:
            inst.setdefault((itype, region), []).append((zone, _num(spot), isinstance(acc, str) and bool(acc)))
        elif isinstance(acc, str) and acc and _num(count):
            gpu.setdefault((acc, int(count), region), set()).add(zone)
    return inst, gpu


def _zones_of(info, inst: dict, gpu: dict) -> list[tuple[str, float | None]]:
    """(zone, spot price in that zone) for one SkyPilot listing row; GPUs priced apart must exist
    in the zone too."""
    rows = inst.get((info.instance_type, info.region), [])
    gpu_zones = gpu.get((info.accelerator_name, int(info.accelerator_count), info.region))
    out = []
    for zone, spot, whole in sorted(rows):
        if gpu_zones is not None and zone not in gpu_zones:
            continue
        out.append((zone, spot if whole else _num(info.spot_price)))
    return out


def dump(clouds: list[str]) -> list[dict]:
    """Every GPU instance type in every region of ``clouds``, with prices, via sky.catalog.

    On-demand prices are the region's (they do not vary by zone); spot prices are listed per
    zone (``spot_zones``), because AWS spot prices do and a plan launches in the zone it names.
    """
    import sky.catalog

    rows: list[dict] = []
    for cloud in clouds:
        inst, gpu = _zone_rows(cloud)
        listing = sky.catalog.list_accelerators(gpus_only=True, clouds=cloud, all_regions=True)
        for infos in listing.values():
            for info in infos:
                price = _num(info.price)
                # Fractional GPUs (AWS g6f: 1/8 of an L4) are skipped: an Offering counts whole devices.
                if price is None or info.instance_type is None or info.accelerator_count < 1:
                    continue
                zones = _zones_of(info, inst, gpu)
                spot = _num(info.spot_price)
                rows.append(
                    {
                        "cloud": cloud,
                        "region": info.region,
                        "zone": _preferred([z for z, _ in zones]),
                        "instance_type": info.instance_type,
                        "accelerator": info.accelerator_name,
                        "accelerator_count": int(info.accelerator_count),
                        "vcpus": _num(info.cpu_count),
                        "memory_gb": _num(info.memory),
                        "device_memory_gb": _num(info.device_memory),
                        "price": price,
                        "spot_zones": [[z, p] for z, p in zones if p is not None and p > 0]
                        if zones else ([[None, spot]] if spot is not None and spot > 0 else []),
                    }
                )
    return rows


if __name__ == "__main__":
    os.environ.setdefault("SKYPILOT_DISABLE_USAGE_COLLECTION", "1")
    json.dump(dump(sys.argv[1:]), sys.stdout)
