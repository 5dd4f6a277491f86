"""``Offering``: one rentable server shape at one price (the catalog's value object).

Immutable and self-validating like SkyPilot's ``Resources``; it knows its own
cost so estimators never multiply prices by hand.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

#: AWS zone IDs of Local Zones (``use1-atl2-az1``) and Wavelength Zones (``use1-wl1-bos-wlz1``)
#: carry a location segment between the region code and the AZ number; standard AZs
#: (``use1-az1``), GCP zones (``us-central1-a``) and RunPod's (``CA-MTL-1``) do not.
_EDGE_ZONE = re.compile(r"^[a-z]+\d+(-[a-z0-9]+)+-(az|wlz)\d+$")


def is_edge_zone(zone: str | None) -> bool:
    """Whether ``zone`` is a Local Zone or Wavelength Zone: opt-in per account, fewer instance
    types and services, and priced apart from the region's standard zones."""
    return bool(zone) and bool(_EDGE_ZONE.match(zone))


class Offering(BaseModel):
    """A server you can train or serve on: a cloud instance type, or this machine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cloud: str = Field(description="aws | gcp | lambda | runpod | local")
    region: str | None = Field(None, description="cloud region; None for local")
    zone: str | None = Field(
        None, description="availability zone, when the catalog names one (AWS: a zone ID such as use1-az1)"
    )
    instance_type: str = Field(description="the cloud's instance type name, or 'local'")
    accelerator: str | None = Field(None, description="GPU model as SkyPilot names it (e.g. 'H100'); None for CPU")
    accelerator_count: int = Field(0, ge=0)
    vcpus: float = Field(gt=0)
    memory_gb: float = Field(gt=0, description="host memory, GiB")
    price_per_hour: float = Field(ge=0, description="USD/hour actually paid (spot price when spot)")
    spot: bool = False
    gflops: float | None = Field(
        None, gt=0, description="measured dense matmul GFLOP/s (local machine only; GPUs use the spec table)"
    )
    bandwidth_gbps: float | None = Field(
        None, gt=0, description="measured memory bandwidth GB/s (local machine only)"
    )
    read_gbps: tuple[float, ...] | None = Field(
        None, description="one core's measured read rate, GB/s, of buffers of READ_SIZES_MIB (local machine "
        "only): a batch-1 decode step reads its weights at the rate for their size"
    )

    @property
    def edge_zone(self) -> bool:
        """Launches in a Local Zone or Wavelength Zone (see ``is_edge_zone``)."""
        return is_edge_zone(self.zone)

    def cost(self, hours: float) -> float:
        """USD for ``hours`` of this offering."""
        return self.price_per_hour * max(hours, 0.0)

    @property
    def label(self) -> str:
        """Short human name, e.g. ``aws:us-east-1:p4d.24xlarge(8xA100)``; a spot offering names
        its zone (``... spot use1-az2``), since its price is that zone's."""
        acc = f"({self.accelerator_count}x{self.accelerator})" if self.accelerator else ""
        where = f"{self.cloud}:{self.region}:" if self.region else f"{self.cloud}:"
        spot = (f" spot {self.zone}" if self.zone else " spot") if self.spot else ""
        return f"{where}{self.instance_type}{acc}{spot}"
