"""manifest.json's record of the sentence-vector kind (index/spans.py); the backend and
model checks are in test_onnx_embedder.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.errors import IndexMismatchError
from index.manifest import MANIFEST_NAME, Manifest


def manifest(**fields) -> Manifest:
    return Manifest(format_version=2, model_name="m", model_sha256="fake-64", dim=64,
                    faiss_type="IDMap2,Flat(IP)", articles=0, passages=0, created_at="t",
                    updated_at="t", dense_generation=0, **fields)


def test_the_kind_is_written_and_read_back(tmp_path: Path) -> None:
    manifest(sentence_vectors="pooled").write(tmp_path)
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["sentence_vectors"] == "pooled"
    assert Manifest.read(tmp_path).sentence_vectors == "pooled"


def test_a_manifest_from_before_the_kind_is_encoded(tmp_path: Path) -> None:
    manifest(sentence_vectors="pooled").write(tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    del data["sentence_vectors"]
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))
    assert Manifest.read(tmp_path).sentence_vectors == "encoded"


def test_only_the_index_kind_or_no_request_is_accepted(tmp_path: Path) -> None:
    built = manifest(sentence_vectors="pooled")
    built.check_sentence_vectors(tmp_path, None)
    built.check_sentence_vectors(tmp_path, "pooled")
    with pytest.raises(IndexMismatchError, match="holds pooled sentence vectors; this run "
                                                 "asked for encoded"):
        built.check_sentence_vectors(tmp_path, "encoded")
    with pytest.raises(ValueError, match="unknown sentence_vectors"):
        manifest(sentence_vectors="averaged")
