"""``stratos gpus``: the accelerators the price catalog offers, like ``sky show-gpus``.

Without a name: one row per accelerator (the counts per instance, the clouds, the cheapest
on-demand and spot price per GPU-hour). With a name (``NAME`` or ``NAME:COUNT``, any case):
one row per cloud and instance type with its cheapest region, so a user can write
``stratos:gpus`` from what they see.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stratos.catalog.accelerators import parse_accelerator, resolve_names
from stratos.catalog.gpus import gpu_specs
from stratos.catalog.offering import Offering
from stratos.catalog.sky_catalog import load_cloud_offerings


def _cheapest(offs: list[Offering], spot: bool) -> Offering | None:
    priced = [o for o in offs if o.spot == spot]
    return min(priced, key=lambda o: o.price_per_hour, default=None)


def _per_gpu(o: Offering | None) -> float | None:
    return None if o is None else o.price_per_hour / max(o.accelerator_count, 1)


def summary_rows(offs: list[Offering]) -> list[dict]:
    """One row per accelerator."""
    by_name: dict[str, list[Offering]] = defaultdict(list)
    for o in offs:
        if o.accelerator:
            by_name[o.accelerator].append(o)
    specs = gpu_specs()
    rows = []
    for name in sorted(by_name):
        group = by_name[name]
        od, sp = _cheapest(group, False), _cheapest(group, True)
        rows.append({
            "gpu": name, "memory_gb": specs[name].memory_gb if name in specs else None,
            "counts": sorted({o.accelerator_count for o in group}), "clouds": sorted({o.cloud for o in group}),
            "usd_per_gpu_hour": _per_gpu(od), "spot_usd_per_gpu_hour": _per_gpu(sp),
        })
    return rows


def detail_rows(offs: list[Offering], entry: str) -> list[dict]:
    """One row per (cloud, instance type) offering the requested accelerator, cheapest region first."""
    want = parse_accelerator(entry)
    resolve_names([want], (o.accelerator for o in offs if o.accelerator), key="stratos gpus NAME")
    groups: dict[tuple[str, str], list[Offering]] = defaultdict(list)
    for o in offs:
        if want.admits(o.accelerator, o.accelerator_count):
            groups[(o.cloud, o.instance_type)].append(o)
    rows = []
    for (cloud, itype), group in groups.items():
        od, sp = _cheapest(group, False), _cheapest(group, True)
        first = od or sp
        rows.append({
            "gpu": first.accelerator, "count": first.accelerator_count, "cloud": cloud, "instance_type": itype,
            "vcpus": first.vcpus, "host_memory_gb": first.memory_gb,
            "usd_per_hour": od.price_per_hour if od else None, "region": od.region if od else None,
            "spot_usd_per_hour": sp.price_per_hour if sp else None, "spot_region": sp.region if sp else None,
        })
    return sorted(rows, key=lambda r: (r["count"], r["usd_per_hour"] or r["spot_usd_per_hour"] or 0.0))


def _money(x: float | None) -> str:
    return "-" if x is None else f"${x:,.2f}"


def _table(rows: list[dict], detail: bool) -> Table:
    if not detail:
        t = Table("GPU", "memory GB", "counts", "clouds", "$/GPU-h", "spot $/GPU-h", title="accelerators in the catalog")
        for r in rows:
            t.add_row(r["gpu"], "-" if r["memory_gb"] is None else f"{r['memory_gb']:g}",
                      ",".join(map(str, r["counts"])), ",".join(r["clouds"]),
                      _money(r["usd_per_gpu_hour"]), _money(r["spot_usd_per_gpu_hour"]))
        return t
    t = Table("GPU", "qty", "cloud", "instance type", "vCPUs", "host GB", "$/h", "region", "spot $/h", "spot region")
    for r in rows:
        t.add_row(r["gpu"], str(r["count"]), r["cloud"], r["instance_type"], f"{r['vcpus']:g}",
                  f"{r['host_memory_gb']:g}", _money(r["usd_per_hour"]), r["region"] or "-",
                  _money(r["spot_usd_per_hour"]), r["spot_region"] or "-")
    return t


def gpus(
    name: Annotated[str | None, typer.Argument(help="NAME or NAME:COUNT (any case) for per-instance detail.")] = None,
    cloud: Annotated[list[str] | None, typer.Option("--cloud", help="Only this cloud (repeatable).")] = None,
    catalog: Annotated[
        str | None, typer.Option("--catalog", help="SkyPilot catalog tree (default $STRATOS_CATALOG_DIR, else SkyPilot's own).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """List accelerators, counts and prices from the catalog (like `sky show-gpus`)."""
    offs = load_cloud_offerings(catalog, cloud)
    rows = detail_rows(offs, name) if name else summary_rows(offs)
    if as_json:
        print(json.dumps(rows))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))
    console.print(_table(rows, detail=name is not None))
