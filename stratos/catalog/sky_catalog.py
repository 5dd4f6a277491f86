"""Cloud offerings from SkyPilot's price catalog (schema v8).

``load_cloud_offerings(dir)`` finds the catalog tree (the one given, else SkyPilot's own,
fetched by SkyPilot when online, see ``sky_fetch``), reads it through ``sky.catalog``
(in a subprocess, see ``sky_dump``) and caches the rows as JSON under the Stratos cache,
keyed by the files' size and mtime, so a plan after the first costs milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from stratos.catalog.offering import Offering
from stratos.exceptions import CatalogError
from stratos.io import atomic_write_text

SCHEMA = "v8"
#: Shape of the cached rows (``sky_dump``); part of the cache key, so a new shape is never read as an old one.
ROW_FORMAT = 2
CLOUDS = ("aws", "gcp", "lambda", "runpod")


def cache_dir() -> Path:
    """``$STRATOS_CACHE`` or ``~/.cache/stratos``."""
    return Path(os.environ.get("STRATOS_CACHE") or Path.home() / ".cache" / "stratos")


def resolve_catalog_dir(catalog_dir: str | os.PathLike | None = None, clouds: list[str] | None = None) -> Path:
    """The ``v8`` tree: from the argument, else ``$STRATOS_CATALOG_DIR``, else (online) SkyPilot's
    own catalog for ``clouds``; accepts the tree or its parent."""
    raw = catalog_dir or os.environ.get("STRATOS_CATALOG_DIR")
    if not raw:
        return _skypilot_tree(clouds or list(CLOUDS))
    root = Path(raw).expanduser()
    for cand in (root / SCHEMA, root):
        if cand.is_dir() and any((cand / c / "vms.csv").is_file() for c in CLOUDS):
            return cand.resolve()
    raise CatalogError(
        f"{root} holds no SkyPilot {SCHEMA} catalog (expected {root}/{SCHEMA}/<cloud>/vms.csv for "
        f"one of {', '.join(CLOUDS)}). Point --catalog / STRATOS_CATALOG_DIR at such a tree."
    )


_NO_CATALOG = (
    f"Pass --catalog DIR or set STRATOS_CATALOG_DIR to a SkyPilot catalog tree (<dir>/{SCHEMA}/<cloud>/vms.csv; "
    "scripts/env.sh offline sets it to ../shared/catalog when that snapshot exists), or use target: local, "
    "which needs no catalog."
)


def _skypilot_tree(clouds: list[str]) -> Path:
    """SkyPilot's own catalog, fetched or refreshed by SkyPilot; the offline profile never fetches."""
    if os.environ.get("STRATOS_PROFILE") == "offline":
        raise CatalogError(f"no price catalog: the offline profile does not download SkyPilot's. {_NO_CATALOG}")
    env = dict(os.environ, SKYPILOT_DISABLE_USAGE_COLLECTION="1")
    proc = subprocess.run([sys.executable, "-m", "stratos.catalog.sky_fetch", *clouds],
                          env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CatalogError(f"no price catalog: SkyPilot could not fetch its catalog for {', '.join(clouds)} ({last}). "
                           f"{_NO_CATALOG}")
    return Path(proc.stdout.strip().splitlines()[-1]).resolve()


def available_clouds(tree: Path) -> list[str]:
    """Clouds whose ``vms.csv`` exists in the tree."""
    return [c for c in CLOUDS if (tree / c / "vms.csv").is_file()]


def _fingerprint(tree: Path, clouds: list[str]) -> str:
    h = hashlib.sha256(f"{tree}:{ROW_FORMAT}".encode())
    for c in clouds:
        st = (tree / c / "vms.csv").stat()
        h.update(f"{c}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _runtime_dir(tree: Path, key: str) -> Path:
    """A SkyPilot runtime dir whose ``.sky/catalogs/v8`` links to the tree's files (no .meta: never fetched)."""
    rt = cache_dir() / "sky-runtime" / key
    dest = rt / ".sky" / "catalogs" / SCHEMA
    for sub in ("common", *available_clouds(tree)):
        src = tree / sub
        if not src.is_dir():
            continue
        (dest / sub).mkdir(parents=True, exist_ok=True)
        for f in src.glob("*.csv"):
            link = dest / sub / f.name
            if not link.exists():
                link.symlink_to(f)
    return rt


def _read_rows(tree: Path, clouds: list[str]) -> list[dict]:
    """Rows per cloud, from the JSON cache or (for the missing clouds, in one go) from sky.catalog."""
    paths = {c: cache_dir() / "catalog" / f"{c}-{_fingerprint(tree, [c])}.json" for c in clouds}
    missing = [c for c, p in paths.items() if not p.is_file()]
    if missing:
        rt = _runtime_dir(tree, _fingerprint(tree, available_clouds(tree)))
        env = dict(os.environ, SKY_RUNTIME_DIR=str(rt), SKYPILOT_DISABLE_USAGE_COLLECTION="1")
        proc = subprocess.run(
            [sys.executable, "-m", "stratos.catalog.sky_dump", *missing],
            env=env, capture_output=True, text=True, timeout=300,
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise CatalogError(
                f"SkyPilot could not read the catalog at {tree}:\n{tail}\nCheck the CSVs (schema {SCHEMA})."
            )
        rows = json.loads(proc.stdout)
        for c in missing:
            paths[c].parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(paths[c], json.dumps([r for r in rows if r["cloud"] == c]))
    out: list[dict] = []
    for c in clouds:
        out.extend(json.loads(paths[c].read_text()))
    return out


@cache
def _offerings(tree: Path, clouds: tuple[str, ...]) -> tuple[Offering, ...]:
    out: list[Offering] = []
    for r in _read_rows(tree, list(clouds)):
        vcpus = r["vcpus"] or 1.0
        mem = r["memory_gb"] or 1.0
        base = dict(
            cloud=r["cloud"], region=r["region"], zone=r["zone"], instance_type=r["instance_type"],
            accelerator=r["accelerator"], accelerator_count=r["accelerator_count"], vcpus=vcpus, memory_gb=mem,
        )
        out.append(Offering(**base, price_per_hour=r["price"], spot=False))
        # One spot offering per zone at that zone's price: AWS spot prices differ by zone, and the
        # plan launches in the zone it names.
        for zone, spot_price in r["spot_zones"]:
            out.append(Offering(**{**base, "zone": zone}, price_per_hour=spot_price, spot=True))
    return tuple(out)


def load_cloud_offerings(
    catalog_dir: str | os.PathLike | None = None, clouds: list[str] | None = None
) -> list[Offering]:
    """GPU offerings for ``clouds`` (default: all in the tree): on-demand per region (in its
    preferred standard zone), spot per zone where priced. Edge zones are included; the planner
    drops them unless the request allows them (``Offering.edge_zone``)."""
    tree = resolve_catalog_dir(catalog_dir, clouds)
    present = available_clouds(tree)
    wanted = list(clouds) if clouds else present
    missing = [c for c in wanted if c not in present]
    if missing:
        raise CatalogError(
            f"the catalog at {tree} has no vms.csv for {', '.join(missing)} (it has: {', '.join(present)}). "
            "Add the cloud's file to the tree or drop it from `clouds`."
        )
    return list(_offerings(tree, tuple(sorted(wanted))))
