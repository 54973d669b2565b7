"""Which article each passage belongs to, in memory, for the embedded backend.

Fusion asks it of every candidate, about a hundred a question (each retriever's 50), and
SQLite answered with an index lookup per passage: 0.17 ms a side at 100k passages, 0.25 ms
at a million, one side on the question's path after its vector, the other beside its
embedding, slowing the model (benchmarks/README.md, "Stop 17"). Passage ids are never
reused (AUTOINCREMENT) and a passage never changes article or scope, so the map only
learns passages and forgets them: kept in step with the store as dense.faiss is (applied
by the writer, caught up after another process's writes), and a passage it does not know
yet is asked of the store.

Memory: an int32 per passage id plus one (article id, scope) pair per article written,
~30 MB at a million passages in 317k articles. The ids sit in an `array.array`, read one
by one from Python (a numpy array's per-call overhead made 50 lookups cost half what
SQLite did) and changed in bulk through a numpy view of the same memory.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from index.store import Store

UNKNOWN = -1


class PassageArticles:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()  # one change at a time; reads take no lock
        # Passage id -> index into `_articles` (UNKNOWN: no such passage). A grown copy
        # replaces the array, so a reader holding the old one sees a consistent prefix.
        self._article_at = array("i")
        self._articles: list[tuple[str, str]] = []  # (article id, scope); only appended
        with store.snapshot():  # the rows of the generation recorded
            self.generation = store.generation()
            self._learn(store.passage_articles())

    def articles_of(self, passage_ids: Sequence[int],
                    scopes: Sequence[str]) -> dict[int, str]:
        """Passage id -> article id, for those within `scopes` (as `Store.articles_of`)."""
        article_at, articles = self._article_at, self._articles
        size = len(article_at)
        found: dict[int, str] = {}
        unknown: list[int] = []
        for passage_id in passage_ids:
            index = article_at[passage_id] if 0 <= passage_id < size else UNKNOWN
            if index == UNKNOWN:
                unknown.append(passage_id)
                continue
            article_id, scope = articles[index]
            if scope in scopes:
                found[passage_id] = article_id
        if unknown:  # written by another process since the map caught up (or gone)
            found |= self._store.articles_of(unknown, scopes)
        return found

    # -- kept in step: by the one writer, under the storage's write lock ------------------
    def apply(self, removed: Sequence[int], added: Sequence[int],
              articles: Sequence[tuple[str, str]], generation_before: int,
              generation_after: int) -> None:
        """After one committed write: `articles[i]` is the (article id, scope) of passage
        `added[i]`. A write that did not start from the map's generation (another process
        wrote meanwhile) is caught up from the store instead."""
        with self._lock:
            if self.generation != generation_before:
                self._sync()
                return
            self._forget(removed)
            self._learn((passage_id, article_id, scope) for passage_id, (article_id, scope)
                        in zip(added, articles, strict=True))
            self.generation = generation_after

    def sync(self) -> None:
        """Learn and forget what the store gained and lost since the map's generation."""
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        generation, missing, extra = self._store.passage_difference(
            np.flatnonzero(self._view() != UNKNOWN))
        self._forget(extra.tolist())
        self._learn(self._store.passage_articles(missing.tolist()) if len(missing) else [])
        self.generation = generation

    def _forget(self, passage_ids: Sequence[int]) -> None:
        known = [pid for pid in passage_ids if 0 <= pid < len(self._article_at)]
        self._view()[known] = UNKNOWN

    def _view(self) -> np.ndarray:
        """The ids' array as numpy, sharing its memory."""
        return np.frombuffer(self._article_at, dtype=np.int32)

    def _learn(self, rows: Iterable[tuple[int, str, str]]) -> None:
        """Rows of (passage id, article id, scope), read once: each article gets one
        entry, each scope one string."""
        entry: dict[tuple[str, str], int] = {}
        scopes: dict[str, str] = {}
        ids, at = array("q"), array("i")
        for passage_id, article_id, scope in rows:
            key = (article_id, scopes.setdefault(scope, scope))
            if key not in entry:
                entry[key] = len(self._articles)
                self._articles.append(key)
            ids.append(passage_id)
            at.append(entry[key])
        if not ids:
            return
        id_view = np.frombuffer(ids, dtype=np.int64)
        size, highest = len(self._article_at), int(id_view.max())
        if highest >= size:
            grown = array("i", [UNKNOWN]) * max(highest + 1, size * 3 // 2)
            grown[:size] = self._article_at
            np.frombuffer(grown, dtype=np.int32)[id_view] = at
            self._article_at = grown  # published whole: readers see it filled
        else:
            self._view()[id_view] = at
