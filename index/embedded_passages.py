"""The embedded backend's store as the answering pipeline reads it (`PassageSource`):
SQLite, with two reads served from faster copies kept beside it.

- Word counts from tantivy, when it is the keyword engine: FTS5 counts a common name's
  passages one by one ("kim" at 100k passages: the costliest read of a question whose
  words are not cached yet).
- Candidates' vectors from FAISS, in memory: the store keeps them in its wide rows, a disk
  read each when the page cache is cold (a million passages: 4.7 ms for a question's 12
  candidates, against ~0.3 ms from FAISS).
- Candidates' articles from an in-memory map (index/passage_articles.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.passage_articles import PassageArticles
from index.records import EvidenceRow, PassageRow
from index.storage import Table
from index.store import Store
from index.tantivy_keyword import TantivyKeywords
from index.vectors import FaissVectors


class EmbeddedPassages:
    def __init__(self, store: Store, vectors: FaissVectors,
                 keywords: TantivyKeywords | None, articles: PassageArticles) -> None:
        self._store = store
        self._vectors = vectors
        self._keywords = keywords
        self._articles = articles

    def generation(self) -> int:
        return self._store.generation()

    def passages(self, passage_ids: Sequence[int],
                 scopes: Sequence[str]) -> dict[int, PassageRow]:
        return self._store.passages(passage_ids, scopes)

    def articles_of(self, passage_ids: Sequence[int],
                    scopes: Sequence[str]) -> dict[int, str]:
        return self._articles.articles_of(passage_ids, scopes)

    def passage_vectors(self, passage_ids: Sequence[int],
                        scopes: Sequence[str]) -> dict[int, np.ndarray]:
        if self._store.has_passages_outside(scopes):  # FAISS knows no scopes
            passage_ids = list(self._articles.articles_of(passage_ids, scopes))
        held = self._vectors.passage_vectors(passage_ids)
        # Added by another process and not caught up yet: as the store has them.
        missing = [passage_id for passage_id in passage_ids if passage_id not in held]
        return held | self._store.passage_vectors(missing, scopes) if missing else held

    def evidence(self, passage_ids: Sequence[int], scopes: Sequence[str],
                 dim: int) -> list[EvidenceRow]:
        return self._store.evidence(passage_ids, scopes, dim)

    def document_frequency(self, word: str, scopes: Sequence[str]) -> int:
        counted = (None if self._keywords is None
                   else self._keywords.document_frequency(word, scopes))
        return self._store.document_frequency(word, scopes) if counted is None else counted

    def count(self, table: Table, scopes: Sequence[str]) -> int:
        return self._store.count(table, scopes)
