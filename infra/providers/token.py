"""``GeneratedToken``: a random bearer token created once and kept in the stack state.

What ``random.RandomPassword`` would do, without its provider plugin (which can't
be downloaded here): the value is made in ``create`` (never during preview), so
it is stable across ``pulumi up`` runs and stored encrypted as a secret output.
"""

from __future__ import annotations

import secrets

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

from infra.providers.portable import portable

TOKEN_BYTES = 32  # 256 bits, URL-safe base64 -> 43 characters


class GeneratedTokenProvider(ResourceProvider):
    serialize_as_secret_always = False

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        # Explicit, so the engine never falls back to comparing the pickled provider.
        changed = olds.get("bytes") != news.get("bytes")
        return DiffResult(changes=changed, replaces=["bytes"] if changed else [])

    def create(self, props: dict) -> CreateResult:
        value = secrets.token_urlsafe(int(props.get("bytes", TOKEN_BYTES)))
        return CreateResult(
            id_=secrets.token_hex(8), outs={"bytes": props.get("bytes"), "value": value}
        )


class GeneratedToken(Resource, module="stratos", name="GeneratedToken"):
    """A secret random token; ``value`` is a secret Output."""

    value: pulumi.Output[str]

    def __init__(
        self, name: str, nbytes: int = TOKEN_BYTES, opts: pulumi.ResourceOptions | None = None
    ):
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["value"])
        )
        super().__init__(
            portable(GeneratedTokenProvider), name, {"bytes": nbytes, "value": None}, opts
        )
