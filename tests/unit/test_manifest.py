"""A manifest catches a corrupted or missing artifact file."""

import pytest

from stratos.exceptions import ArtifactError
from stratos.manifest import manifest_hash, verify_manifest, write_manifest


def test_manifest_roundtrip_and_corruption(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\x00\x01")
    write_manifest(tmp_path, {"task": "mahjong"})
    body = verify_manifest(tmp_path)
    assert set(body["files"]) == {"a.txt", "sub/b.bin"} and body["task"] == "mahjong"
    h = manifest_hash(tmp_path)
    (tmp_path / "a.txt").write_text("hellO")
    with pytest.raises(ArtifactError, match="a.txt"):
        verify_manifest(tmp_path)
    (tmp_path / "sub" / "b.bin").unlink()
    with pytest.raises(ArtifactError, match="b.bin"):
        verify_manifest(tmp_path)
    assert len(h) == 64


def test_missing_manifest_says_what_to_do(tmp_path):
    with pytest.raises(ArtifactError, match="not a finished Stratos artifact"):
        verify_manifest(tmp_path)
