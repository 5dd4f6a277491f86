"""Server offerings: SkyPilot's price catalog, GPU datasheet facts, this machine."""

from stratos.catalog.gpus import GpuSpec, gpu_spec, gpu_specs
from stratos.catalog.local import local_offering, local_profile
from stratos.catalog.offering import Offering
from stratos.catalog.sky_catalog import load_cloud_offerings, resolve_catalog_dir

__all__ = [
    "GpuSpec",
    "Offering",
    "gpu_spec",
    "gpu_specs",
    "load_cloud_offerings",
    "local_offering",
    "local_profile",
    "resolve_catalog_dir",
]
