"""Progress from inside a dynamic provider to the Pulumi display.

The engine starts provider plugins with its own gRPC address as the first
argument, but ``pulumi.dynamic`` offers providers no logging API. We call the
engine's ``Log`` RPC ourselves with the resource's URN: an *ephemeral* message
becomes the live status text on the resource's row ("train 42% loss=1.3"), a
normal one a diagnostic listed under the resource. Without an engine address
(providers called directly, in tests) lines go to stderr, which the engine also
shows, as info lines without a resource.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _engine() -> Any | None:
    addr = next((a for a in sys.argv[1:] if ":" in a and not a.startswith("-")), None)
    if addr is None:
        return None
    try:
        import grpc
        from pulumi.runtime.proto import engine_pb2_grpc

        return engine_pb2_grpc.EngineStub(grpc.insecure_channel(addr))
    except Exception:  # noqa: BLE001 - progress is best effort, never fail the resource over it
        return None


def report(urn: str | None, message: str, *, ephemeral: bool = False) -> None:
    """Show ``message`` on the resource ``urn`` (status line when ``ephemeral``)."""
    stub = _engine()
    if stub is not None and urn:
        try:
            from pulumi.runtime.proto import engine_pb2

            stub.Log(
                engine_pb2.LogRequest(
                    severity=engine_pb2.INFO, message=message, urn=urn, ephemeral=ephemeral
                ),
                timeout=5,
            )
            return
        except Exception:  # noqa: BLE001
            pass
    if not ephemeral:
        print(message, file=sys.stderr, flush=True)
