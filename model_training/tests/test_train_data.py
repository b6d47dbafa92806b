"""Reading a data version: the split hash is the one DVC writes in its metafiles."""

from __future__ import annotations

from model_training.data import dvc_md5


def test_dvc_md5_is_the_md5_of_the_bytes(tmp_path):
    path = tmp_path / "split.parquet"
    path.write_bytes(b"abc")
    # RFC 1321's test vector for "abc".
    assert dvc_md5(path) == "900150983cd24fb0d6963f7d28e17f72"
