"""The Stratos source archive Pulumi uploads for the nodes is an installable package:
zipped like Pulumi zips the ``AssetArchive``, pip installs it from the same
``stratos[train] @ file://...`` requirement the bootstrap uses, and the CLI runs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.bootstrap.render import INSTALL_SPEC, SOURCE_ARCHIVE, source_archive


@pytest.mark.slow
def test_uploaded_source_archive_installs_with_the_bootstrap_requirement(tmp_path: Path) -> None:
    home = tmp_path / "opt-stratos"
    home.mkdir()
    archive = home / SOURCE_ARCHIVE
    with zipfile.ZipFile(archive, "w") as zf:
        for name, path in source_archive().items():
            zf.write(path, name)
    requirement = INSTALL_SPEC.replace("@STRATOS_HOME@", str(home))
    assert requirement == f"stratos[train] @ file://{home}/{SOURCE_ARCHIVE}"
    target = tmp_path / "site"
    # --no-deps/--no-build-isolation: the test checks the archive, not PyPI (the node has both).
    res = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), requirement],
        capture_output=True, text=True, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert (target / "stratos" / "cli.py").is_file() and (target / "stratos" / "zoo" / "data" / "models.yaml").is_file()
    (dist,) = target.glob("stratos-*.dist-info")
    assert "stratos = stratos.cli:main" in (dist / "entry_points.txt").read_text()
    assert "Provides-Extra: train" in (dist / "METADATA").read_text()


def test_the_archive_holds_no_bytecode_so_it_changes_only_with_the_source() -> None:
    names = set(source_archive())
    assert {"pyproject.toml", "README.md", "stratos/cli.py", "stratos/zoo/data/models.yaml"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
