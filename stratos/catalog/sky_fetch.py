"""Subprocess entry point: have SkyPilot fetch (or refresh) its own hosted catalog, print its tree.

Run as ``python -m stratos.catalog.sky_fetch CLOUD [CLOUD...]``. Online, Stratos prices from
the catalog SkyPilot itself keeps (downloaded from its hosted catalog into
``~/.sky/catalogs/v8``, refreshed when older than ``PULL_HOURS``), so a SkyPilot user's cache is
shared and Stratos writes no downloader of its own. ``STRATOS_CATALOG_URL`` points both of
SkyPilot's hosted locations at a mirror (an internal copy, or a test server). A separate
process for the same reason as ``sky_dump``: SkyPilot fixes its paths at import time.
"""

from __future__ import annotations

import os
import sys

PULL_HOURS = 7 * 24


def fetch(clouds: list[str]) -> str:
    """Make sure each cloud's ``vms.csv`` is in SkyPilot's catalog dir; return that dir."""
    from sky.catalog import common
    from sky.skylet import constants

    mirror = os.environ.get("STRATOS_CATALOG_URL")
    if mirror:
        constants.HOSTED_CATALOG_DIR_URL = constants.HOSTED_CATALOG_DIR_URL_S3_MIRROR = mirror.rstrip("/")
    for cloud in clouds:
        len(common.read_catalog(f"{cloud}/vms.csv", pull_frequency_hours=PULL_HOURS).columns)
    return common.get_catalog_path("")


if __name__ == "__main__":
    print(fetch(sys.argv[1:]))
