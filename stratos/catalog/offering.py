"""``Offering``: one rentable server shape at one price (the catalog's value object).

Immutable and self-validating like SkyPilot's ``Resources``; it knows its own
cost so estimators never multiply prices by hand.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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

    def cost(self, hours: float) -> float:
        """USD for ``hours`` of this offering."""
        return self.price_per_hour * max(hours, 0.0)

    @property
    def label(self) -> str:
        """Short human name, e.g. ``aws:us-east-1:p4d.24xlarge(8xA100)``."""
        acc = f"({self.accelerator_count}x{self.accelerator})" if self.accelerator else ""
        where = f"{self.cloud}:{self.region}:" if self.region else f"{self.cloud}:"
        return f"{where}{self.instance_type}{acc}{' spot' if self.spot else ''}"
