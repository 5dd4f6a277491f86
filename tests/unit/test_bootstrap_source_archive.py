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


def test_the_task_files_ride_in_the_archive_under_task(tmp_path: Path, monkeypatch) -> None:
    """A dataset task's file and its taskModule reach the node at their project-relative paths."""
    import pytest

    from stratos.exceptions import ConfigError

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "qa.jsonl").write_text('{"question": "q"}\n')
    (tmp_path / "my_task.py").write_text("# registers a task\n")
    files = source_archive(["data/qa.jsonl", "my_task.py"], task_root=tmp_path)
    assert files["task/data/qa.jsonl"] == tmp_path / "data" / "qa.jsonl"
    assert files["task/my_task.py"] == tmp_path / "my_task.py"
    assert "stratos/cli.py" in files
    with pytest.raises(ConfigError, match="must be a path inside the project"):
        source_archive([str(tmp_path / "data" / "qa.jsonl")], task_root=tmp_path)
    with pytest.raises(ConfigError, match="no such file"):
        source_archive(["data/missing.jsonl"], task_root=tmp_path)


def test_the_training_node_runs_the_job_inside_the_unpacked_task_files(tmp_path: Path) -> None:
    """The node's unpack line, run by bash as the script runs it: task/ comes out of the archive and
    becomes the working directory; a plan without task files renders no such line."""
    from infra.bootstrap.render import TASK_DIR, enter_task_dir

    home = tmp_path / "home"
    home.mkdir()
    with zipfile.ZipFile(home / SOURCE_ARCHIVE, "w") as zf:
        zf.writestr("stratos/cli.py", "")
        zf.writestr(f"{TASK_DIR}/data/qa.jsonl", '{"question": "q"}\n')
    script = f'die() {{ echo "$*"; exit 1; }}\n{enter_task_dir()}\ncat data/qa.jsonl\n'
    env = {"PATH": "/usr/bin:/bin", "STRATOS_HOME": str(home), "STRATOS_SOURCE_ARCHIVE": SOURCE_ARCHIVE}
    res = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
    assert res.stdout == '{"question": "q"}\n' and not (home / "stratos").exists()
    template = (Path(__file__).resolve().parents[2] / "infra/bootstrap/templates/train.sh").read_text()
    assert "install_stratos\n" in template.split("@@{enter_task_dir}")[0]  # before the job runs
