"""stratos.io: a file or dir is whole or absent, whatever happens while it is written."""

from __future__ import annotations

import pytest

from stratos.io import atomic_dir, atomic_open, atomic_write_json, read_json


def test_json_round_trip_and_absent_is_none(tmp_path):
    assert read_json(tmp_path / "nope.json") is None
    body = {"a": 1, "path": tmp_path}
    assert atomic_write_json(tmp_path / "sub" / "x.json", body) is body
    assert read_json(tmp_path / "sub" / "x.json") == {"a": 1, "path": str(tmp_path)}
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.json"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "data.jsonl"
    atomic_write_json(path, [1])
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write("half a line")
        raise RuntimeError("killed")
    assert read_json(path) == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_atomic_dir_replaces_or_yields_to_a_winner(tmp_path):
    out = tmp_path / "artifact"
    with atomic_dir(out) as d:
        (d / "a").write_text("1")
        assert not out.exists()  # invisible until complete
    assert (out / "a").read_text() == "1"
    with atomic_dir(out) as d:
        (d / "b").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b"]  # replaced whole
    with atomic_dir(out, replace=False) as d:
        (d / "c").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["b"]  # another process won: keep theirs
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "torn") as d:
        (d / "x").write_text("x")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"]
