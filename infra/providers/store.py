"""``LocalDirectory``: the local artifact store, a folder this stack owns.

Delete first removes what interrupted creates left there (the ledger
``infra.recover`` writes, see ``leftovers``), then the folder itself, only when we
created it and it is empty: everything else in it belongs to the job and server
resources, which delete their own folders first.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

from infra.providers import leftovers
from infra.providers.portable import portable


class LocalDirectoryProvider(ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict) -> CreateResult:
        path = Path(props["path"])
        existed = path.exists()
        path.mkdir(parents=True, exist_ok=True)
        return CreateResult(
            id_=str(path), outs={**props, "uri": path.as_uri(), "created": not existed}
        )

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        replaces = ["path"] if olds.get("path") != news.get("path") else []
        gone = not Path(olds.get("path", "")).is_dir()
        return DiffResult(
            changes=bool(replaces) or gone, replaces=replaces or (["path"] if gone else [])
        )

    def delete(self, _id: str, props: dict) -> None:
        path = Path(props["path"])
        leftovers.sweep(path)
        if props.get("created") and path.is_dir() and not any(path.iterdir()):
            path.rmdir()


class LocalDirectory(Resource, module="stratos", name="LocalDirectory"):
    """A folder on this machine; ``uri`` is its ``file://`` URI."""

    uri: pulumi.Output[str]
    path: pulumi.Output[str]

    def __init__(self, name: str, path: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            portable(LocalDirectoryProvider),
            name,
            {"path": path, "uri": None, "created": None},
            opts,
        )
