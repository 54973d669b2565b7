"""The vector index behind dense retrieval: dense.faiss, kept in step with store.sqlite.

SQLite is the source of truth; this is a cache of its vectors that can always be rebuilt
from it. A search sees one consistent snapshot (the FAISS index and the scope selectors
of one store generation), and a scope filter is skipped only when the store holds no
passage outside the asker's scopes, never because two counts happen to agree.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from index.dense import DenseIndex
from index.parts import Ranking
from index.store import Store

DENSE_NAME = "dense.faiss"
log = logging.getLogger(__name__)


class VectorIndex(Protocol):
    """What dense retrieval needs from a vector store (FAISS here; pgvector elsewhere)."""

    def search(self, vector: np.ndarray, k: int, scopes: tuple[str, ...]) -> Ranking: ...


@dataclass
class _Snapshot:
    generation: int
    dense: DenseIndex
    # Per scopes: None when nothing outside them exists (FAISS then searches unfiltered).
    selectors: dict[tuple[str, ...], faiss.IDSelector | None] = field(default_factory=dict)


class FaissVectors:
    def __init__(self, folder: Path, store: Store, dim: int, dense: DenseIndex) -> None:
        self.folder = folder
        self.dim = dim
        self._store = store
        self._snapshot = _Snapshot(store.generation(), dense)
        self._selector_lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, store: Store, dim: int, written_at: int) -> FaissVectors:
        """dense.faiss if it was written at the store's generation; otherwise (a crash
        between the SQLite commit and the FAISS write, or a damaged file) rebuilt."""
        path = folder / DENSE_NAME
        if written_at == store.generation() and path.exists():
            try:
                dense = DenseIndex.read(path)
                if dense.dim == dim and dense.size == store.total("passages"):
                    return cls(folder, store, dim, dense)
            except RuntimeError as error:
                log.warning("%s is unreadable (%s); rebuilding it from the store", path, error)
        log.info("Rebuilding %s from the store", path)
        return cls(folder, store, dim, cls._from_store(store, dim))

    @staticmethod
    def _from_store(store: Store, dim: int) -> DenseIndex:
        return DenseIndex.from_vectors(*store.all_vectors(dim), dim)

    @property
    def generation(self) -> int:
        return self._snapshot.generation

    @property
    def size(self) -> int:
        return self._snapshot.dense.size

    @property
    def kind(self) -> str:
        return self._snapshot.dense.kind

    # -- writing: called only by the one writer holding the library's write lock ---------
    def apply(self, removed: list[int], added_ids: np.ndarray, added: np.ndarray,
              generation_before: int, generation_after: int) -> None:
        """Bring FAISS to `generation_after` after one committed write. When the write did
        not start from the generation FAISS holds (another process wrote meanwhile), the
        index is rebuilt from the store instead of patched."""
        snapshot = self._snapshot
        if snapshot.generation != generation_before:
            self.reload()
            return
        snapshot.dense.remove(removed)
        snapshot.dense.add(added_ids, added)
        self._snapshot = _Snapshot(generation_after, snapshot.dense)

    def reload(self) -> None:
        generation = self._store.generation()
        self._snapshot = _Snapshot(generation, self._from_store(self._store, self.dim))

    def restructure_if_needed(self) -> None:
        if self._snapshot.dense.needs_restructure():
            self.reload()

    def write(self) -> None:
        """dense.faiss, replaced atomically."""
        self._snapshot.dense.write(self.folder / DENSE_NAME)

    # -- reading --------------------------------------------------------------------------
    def _selector(self, snapshot: _Snapshot, scopes: tuple[str, ...]) -> faiss.IDSelector | None:
        if scopes not in snapshot.selectors:
            with self._selector_lock:
                if scopes not in snapshot.selectors:
                    outside = self._store.has_passages_outside(scopes)
                    snapshot.selectors[scopes] = (
                        DenseIndex.selector(self._store.passage_ids_in(scopes)) if outside
                        else None)
        return snapshot.selectors[scopes]

    def search(self, vector: np.ndarray, k: int, scopes: tuple[str, ...]) -> Ranking:
        snapshot = self._snapshot  # one consistent view, even if a writer swaps it now
        return snapshot.dense.search(vector, k, self._selector(snapshot, scopes))
