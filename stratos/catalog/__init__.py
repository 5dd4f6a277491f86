"""Server offerings: SkyPilot's price catalog, GPU datasheet facts, this machine."""

from stratos.catalog.offering import Offering

__all__ = ["Offering"]
