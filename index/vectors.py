"""The vector index behind dense retrieval: dense.faiss, kept in step with store.sqlite.

SQLite is the source of truth; this is a cache of its vectors that can always be rebuilt
from it. A search sees one consistent snapshot (the FAISS index and the scope selectors
of one store generation), and a scope filter is skipped only when the store holds no
passage outside the asker's scopes, never because two counts happen to agree.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from index.dense import DenseIndex
from index.parts import Ranking
from index.store import Store
from index.visible import ArticleLookup, visible_top

DENSE_NAME = "dense.faiss"
# dense.faiss is rewritten once this many passages changed since it was written (or a
# twentieth of the index, if more): small adds then cost no rewrite, and what the file
# lacks is caught up from the store on the next open.
UNWRITTEN_LIMIT = 2_000
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
    def __init__(self, folder: Path, store: Store, articles: ArticleLookup, dim: int,
                 dense: DenseIndex, *, written_at: int) -> None:
        self.folder = folder
        self.dim = dim
        self._store = store
        self._articles = articles
        self._snapshot = _Snapshot(store.generation(), dense)
        self._selector_lock = threading.Lock()
        # The generation dense.faiss on disk holds, and passages changed since.
        self.written_at = written_at
        self._unwritten_changes = 0 if written_at == store.generation() else UNWRITTEN_LIMIT

    @classmethod
    def load(cls, folder: Path, store: Store, articles: ArticleLookup, dim: int,
             written_at: int) -> FaissVectors:
        """dense.faiss brought up to the store's generation: the file is written only now
        and then (rewriting it whole per add would cost seconds at 200k passages), so the
        passages added or removed since it was written are applied to it here. A missing,
        damaged or foreign file is rebuilt from the store."""
        path = folder / DENSE_NAME
        dense = None
        if path.exists():
            try:
                dense = DenseIndex.read(path)
            except RuntimeError as error:
                log.warning("%s is unreadable (%s); rebuilding it from the store", path, error)
        if dense is None or dense.dim != dim:
            log.info("Rebuilding %s from the store", path)
            return cls(folder, store, articles, dim, cls._from_store(store, dim),
                       written_at=-1)
        vectors = cls(folder, store, articles, dim, dense, written_at=written_at)
        if written_at != store.generation():
            vectors.sync()
        return vectors

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
        difference with the store is applied instead."""
        snapshot = self._snapshot
        if snapshot.generation != generation_before:
            self.sync()
            return
        snapshot.dense.remove(removed)
        snapshot.dense.add(added_ids, added)
        self._unwritten_changes += len(removed) + len(added_ids)
        self._snapshot = _Snapshot(generation_after, snapshot.dense)

    def sync(self) -> None:
        """Apply what the store holds and FAISS does not (or the reverse): another process's
        writes, or those made after dense.faiss was last written."""
        dense = self._snapshot.dense
        generation, missing, extra = self._store.passage_difference(dense.ids())
        dense.remove(extra.tolist())
        if len(missing):
            dense.add(*self._store.vectors(missing.tolist()))
        self._unwritten_changes += len(missing) + len(extra)
        self._snapshot = _Snapshot(generation, dense)

    def restructure_if_needed(self) -> None:
        if self._snapshot.dense.needs_restructure():
            generation = self._store.generation()
            self._snapshot = _Snapshot(generation, self._from_store(self._store, self.dim))
            self._unwritten_changes = UNWRITTEN_LIMIT

    @property
    def has_unwritten_changes(self) -> bool:
        return self._unwritten_changes > 0

    def write(self, *, force: bool = False) -> None:
        """dense.faiss, replaced atomically, when enough changed since it was last written
        (or `force`)."""
        limit = max(UNWRITTEN_LIMIT, self.size // 20)
        if not force and self._unwritten_changes < limit:
            return
        snapshot = self._snapshot
        snapshot.dense.write(self.folder / DENSE_NAME)
        self.written_at = snapshot.generation
        self._unwritten_changes = 0

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

    def passage_vectors(self, passage_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Those of the passages this snapshot holds, whatever their scope."""
        return self._snapshot.dense.vectors(passage_ids)

    def search(self, vector: np.ndarray, k: int, scopes: tuple[str, ...]) -> Ranking:
        snapshot = self._snapshot  # one consistent view, even if a writer swaps it now
        if not self._store.has_passages_outside(scopes):
            return snapshot.dense.search(vector, k)
        return visible_top(
            k, lambda n: snapshot.dense.search(vector, n),
            lambda ids: self._articles.articles_of(ids, scopes),
            lambda: snapshot.dense.search(vector, k, self._selector(snapshot, scopes)))
