"""Accelerator requests the way SkyPilot users write them: ``H100``, ``h100``, ``A100:8``.

SkyPilot's ``resources.accelerators`` takes ``NAME[:COUNT]`` and matches names without regard
to case; ``stratos:gpus`` accepts the same so a SkyPilot user's habits carry over. The name is
resolved against what the catalog actually offers (not a fixed list), so the answer to a typo
is "did you mean" over the offered names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stratos.exceptions import ConfigError, UnknownNameError
from stratos.names import did_you_mean


@dataclass(frozen=True)
class AcceleratorRequest:
    """One entry of ``gpus``: a name and, optionally, the exact count per instance."""

    name: str
    count: int | None = None

    def admits(self, accelerator: str | None, count: int) -> bool:
        """Whether an offering with ``count`` x ``accelerator`` satisfies this request."""
        if accelerator is None or accelerator.lower() != self.name.lower():
            return False
        return self.count is None or self.count == count


def parse_accelerator(entry: str) -> AcceleratorRequest:
    """``"A100:8"`` -> (A100, 8); ``"l4"`` -> (l4, None). Raises ConfigError (a ValueError) naming the fix."""
    name, sep, count = entry.strip().partition(":")
    if not name:
        raise ConfigError(f"{entry!r} names no accelerator; write NAME or NAME:COUNT, e.g. H100 or A100:8")
    if not sep:
        return AcceleratorRequest(name)
    try:
        n = int(count)
    except ValueError:
        n = 0
    if n < 1 or str(n) != count.strip():
        raise ConfigError(f"{entry!r}: the count after ':' must be a whole number of GPUs >= 1, e.g. {name}:8")
    return AcceleratorRequest(name, n)


def resolve_names(requests: Iterable[AcceleratorRequest], offered: Iterable[str], key: str = "gpus") -> None:
    """Raise one line naming the key when a requested accelerator is offered nowhere in the catalog."""
    names = sorted(set(offered))
    lower = {n.lower() for n in names}
    for r in requests:
        if r.name.lower() not in lower:
            raise UnknownNameError(
                f"{key}: unknown GPU {r.name!r}{did_you_mean(r.name, names)}; "
                f"offered here: {', '.join(names)} (`stratos gpus` lists them with prices)"
            )
