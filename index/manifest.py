"""manifest.json: what an index folder holds and how it was made, so a mismatch is caught."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from index.embedder import equivalent_backends
from index.errors import IndexMismatchError
from index.spans import KINDS, LEGACY_KIND, SentenceVectors

# 2: passages carry their sentences' spans and vectors (the extractive answerer's). An
# index of format 1 is upgraded in place when opened.
FORMAT_VERSION = 2
OLDEST_UPGRADABLE_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass
class Manifest:
    format_version: int
    model_name: str
    model_sha256: str
    dim: int
    faiss_type: str
    articles: int
    passages: int
    created_at: str
    updated_at: str
    # The store generation the dense file was written at; a lower one means a crash came
    # between the SQLite commit and the FAISS write, so dense.faiss is rebuilt from SQLite.
    dense_generation: int
    # Which runtime computed the vectors (index/embedder.py BACKENDS). Manifests from before
    # backends were recorded are torch's; quantised backends also mark the fingerprint.
    embedding_backend: str = ""
    # How the sentence vectors were made (index/spans.py): "encoded" (each sentence through
    # the model on its own: every index before the kind was recorded) or "pooled" (from the
    # passage's token embeddings). They differ, so an index keeps its kind for good and the
    # answerer uses the weights fitted for it.
    sentence_vectors: SentenceVectors = LEGACY_KIND

    def __post_init__(self) -> None:
        if not self.embedding_backend:
            self.embedding_backend = inferred_backend(self.model_sha256)
        if self.sentence_vectors not in KINDS:  # read() reports it as unreadable
            raise ValueError(f"unknown sentence_vectors {self.sentence_vectors!r}")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as error:
            raise IndexMismatchError(
                f"{path} is unreadable ({error.__class__.__name__}); rebuild the index with "
                f"`python -m index build --rebuild --index {folder}`."
            ) from error

    def write(self, folder: Path) -> None:
        handle, temp_name = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(asdict(self), out, indent=2)
            out.write("\n")
        os.replace(temp_name, folder / MANIFEST_NAME)

    def check_compatible(self, folder: Path | str, model_name: str, model_sha256: str, dim: int,
                         backend: str | None = None, *, rebuild: str | None = None) -> None:
        """`folder` names the index in messages (a folder, or a database's URL), and
        `rebuild` says how to rebuild it (the default: the folder's build command)."""
        rebuild = rebuild or (
            f"Rebuild it: `python -m index build --rebuild --index {folder} --corpus PATH`.")
        self._check_backend(folder, model_sha256, backend, rebuild)
        if not OLDEST_UPGRADABLE_VERSION <= self.format_version <= FORMAT_VERSION:
            raise IndexMismatchError(
                f"The index at {folder} has format version {self.format_version}; this "
                f"Spotlight reads versions {OLDEST_UPGRADABLE_VERSION} to {FORMAT_VERSION}. "
                f"{rebuild}"
            )
        if self.dim != dim or self.model_sha256 != model_sha256:
            raise IndexMismatchError(
                f"The index at {folder} was built with {self.model_name} (dim {self.dim}); "
                f"this run embeds with {model_name} (dim {dim}), so its vectors would not "
                f"compare. {rebuild}"
            )

    def check_sentence_vectors(self, folder: Path | str, requested: str | None) -> None:
        """An index keeps the sentence-vector kind it was built with; asking explicitly for
        the other one is refused rather than served, or added to, with vectors that mix."""
        if requested is None or requested == self.sentence_vectors:
            return
        raise IndexMismatchError(
            f"The index at {folder} holds {self.sentence_vectors} sentence vectors; this run "
            f"asked for {requested} ones, and the two are never mixed. Open it without "
            f"asking (it keeps {self.sentence_vectors}), or rebuild it: `python -m index "
            f"build --rebuild --index {folder} --corpus PATH`.")

    def _check_backend(self, folder: Path | str, model_sha256: str, backend: str | None,
                       rebuild: str) -> None:
        """Same weights, vectors from another backend (int8 beside fp32, or another int8
        recipe): refused, naming both, unless the two give the same vectors to float
        rounding (torch and onnx-fp32)."""
        ours = backend or inferred_backend(model_sha256)
        if weights_digest(self.model_sha256) != weights_digest(model_sha256) or not (
                ours and self.embedding_backend):
            return  # other weights: the model check below says so
        if equivalent_backends(self.embedding_backend, ours) and (
                self.model_sha256 == model_sha256):
            return
        theirs = describe_backend(self.embedding_backend, self.model_sha256)
        mine = describe_backend(ours, model_sha256)
        raise IndexMismatchError(
            f"The index at {folder} holds vectors from the {theirs} embedding backend; this "
            f"run embeds with {mine}, whose vectors differ, and the two are never mixed. "
            f"Set SPOTLIGHT_EMBEDDING_BACKEND={self.embedding_backend} to serve it, or "
            f"rebuild it with {ours}. {rebuild}"
        )


def weights_digest(fingerprint: str) -> str:
    """The weights' sha256 in an embedder fingerprint (`<sha256>[+<backend>.<recipe>]`)."""
    return fingerprint.partition("+")[0]


def fingerprint_backend(fingerprint: str) -> str | None:
    """The backend a fingerprint names (quantised backends do), else None."""
    _, plus, rest = fingerprint.partition("+")
    return rest.partition(".")[0] if plus else None


def inferred_backend(fingerprint: str) -> str:
    """For a manifest or embedder that does not say: the backend its fingerprint names, else
    torch for a real model's sha256 (all there was before backends), else unknown ("")."""
    named = fingerprint_backend(fingerprint)
    if named:
        return named
    digest = weights_digest(fingerprint)
    is_sha256 = len(digest) == 64 and all(ch in "0123456789abcdef" for ch in digest)
    return "torch" if is_sha256 else ""


def describe_backend(backend: str, fingerprint: str) -> str:
    _, _, recipe = fingerprint.partition("+")[2].partition(".")
    return f"{backend} ({recipe})" if recipe else backend
