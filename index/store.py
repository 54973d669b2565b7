"""store.sqlite: articles, passages (with their vectors), the FTS5 keyword index, questions.

SQLite is the source of truth. Passage vectors live here too, so dense.faiss is a cache
that can always be rebuilt from this file after a crash.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index.bm25 import common_bound, merge_split, split_common
from index.records import (
    GLOBAL_SCOPE,
    ArticleWrite,
    EvidenceRow,
    NewPassage,
    PassageRow,
    StoredArticle,
    locate_sentences,
    scope_of,
    utc_now,
    visible_scopes,
)
from index.results import ArticleInfo, QuestionStats
from index.signals import STORED_SIGNALS_STAMP, signals_current, stored_signals
from index.sqlite import ThreadConnections
from index.terms import fts_any, fts_phrase

# The records moved to index/records.py (every backend shares them); importing them from
# here still works.
__all__ = ["GLOBAL_SCOPE", "EvidenceRow", "NewPassage", "PassageRow", "Store", "StoredArticle",
           "locate_sentences", "scope_of", "utc_now", "visible_scopes"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    origin TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    url TEXT,
    date TEXT,
    content_hash TEXT NOT NULL,
    added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (scope, key)
);
CREATE INDEX IF NOT EXISTS articles_by_hash ON articles (content_hash);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL,
    -- JSON [[start, end], ...]: where each sentence of `text` is, for quoting it exactly.
    sentence_spans TEXT,
    -- float16, one row of `dim` per span: what the answerer compares the question with.
    sentence_vectors BLOB,
    -- What each sentence says about itself (index/signals.py, `stored_signals`).
    sentence_signals TEXT
);
CREATE INDEX IF NOT EXISTS passages_by_article ON passages (article_id);
CREATE INDEX IF NOT EXISTS passages_by_scope ON passages (scope);
-- What fusion reads of every candidate (articles_of): a row of `passages` holds its text
-- and vectors, so a lookup by id alone touches a page per row.
CREATE INDEX IF NOT EXISTS passages_articles ON passages (id, scope, article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5 (
    title, body, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    user_id INTEGER,
    question TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    asked_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_by_scope ON questions (scope);
CREATE TABLE IF NOT EXISTS feedback (
    question_id INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    voted_at TEXT NOT NULL,
    PRIMARY KEY (question_id, user_id)
);
"""


def _placeholders(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def spans_json(spans: Sequence[tuple[int, int]]) -> str:
    """`sentence_spans` as stored: JSON [[start, end], ...]."""
    return json.dumps([list(span) for span in spans], separators=(",", ":"))


def read_spans(stored: str | None) -> list[tuple[int, int]]:
    """`sentence_spans` as stored, read back (none stored: no spans)."""
    return [(start, end) for start, end in json.loads(stored)] if stored else []


class Store(ThreadConnections):
    """Safe to use from several threads (see index/sqlite.py)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._outside: dict[tuple[int, tuple[str, ...]], tuple[str, ...]] = {}
        self._counts: dict[str, int] = {}
        with self.transaction() as db:
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(passages)")}
            # Format 1 stored no sentences; Library.open fills them in (an upgrade). Signals
            # came later: until `fill_signals` stores them, they are computed when read.
            for column, kind in (("sentence_spans", "TEXT"), ("sentence_vectors", "BLOB"),
                                 ("sentence_signals", "TEXT")):
                if column not in columns:
                    db.execute(f"ALTER TABLE passages ADD COLUMN {column} {kind}")
            self._make_passages_unique(db)

    @staticmethod
    def _make_passages_unique(db: sqlite3.Connection) -> None:
        """One passage per (article, position): a second writer's copy is an error, not a
        silent duplicate. Copies stored before this rule are dropped first."""
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE name = "
                            "'passages_by_article_position'").fetchone()
        if exists:
            return
        copies = [row[0] for row in db.execute(
            "SELECT id FROM passages WHERE id NOT IN (SELECT MIN(id) FROM passages "
            "GROUP BY article_id, position)")]
        for start in range(0, len(copies), 500):
            chunk = copies[start:start + 500]
            db.execute(f"DELETE FROM passages_fts WHERE rowid IN ({_placeholders(chunk)})", chunk)
            db.execute(f"DELETE FROM passages WHERE id IN ({_placeholders(chunk)})", chunk)
        if copies:
            Store.bump_generation(db)
        db.execute("CREATE UNIQUE INDEX passages_by_article_position "
                   "ON passages (article_id, position)")

    # -- meta ---------------------------------------------------------------------------
    def generation(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def bump_generation(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('generation', '1') ON CONFLICT (key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('updated_at', ?) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value",
            (utc_now(),),
        )

    def updated_at(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'updated_at'").fetchone()
        return row[0] if row else None

    # -- articles -----------------------------------------------------------------------
    def stored_articles(self, scope: str) -> dict[str, StoredArticle]:
        """By key, the articles of one scope."""
        rows = self.db.execute(
            "SELECT id, scope, key, origin, content_hash, title, source, url, date "
            "FROM articles WHERE scope = ?", (scope,)
        )
        return {row[2]: StoredArticle(*row[:5], metadata=tuple(row[5:])) for row in rows}

    def article_with_hash(self, content_hash: str, scopes: Sequence[str]) -> str | None:
        row = self.db.execute(
            "SELECT id FROM articles WHERE content_hash = ? "
            f"AND scope IN ({_placeholders(scopes)})",
            (content_hash, *scopes),
        ).fetchone()
        return row[0] if row else None

    @staticmethod
    def upsert_article(db: sqlite3.Connection, article_id: str, scope: str, origin: str,
                       key: str, title: str, source: str, url: str | None, date: str | None,
                       content_hash: str) -> None:
        now = utc_now()
        db.execute(
            "INSERT INTO articles (id, scope, key, origin, title, source, url, date, "
            "content_hash, added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET title = excluded.title, source = excluded.source, "
            "url = excluded.url, date = excluded.date, content_hash = excluded.content_hash, "
            "updated_at = excluded.updated_at",
            (article_id, scope, key, origin, title, source, url, date, content_hash, now, now),
        )

    def write(self, articles: Sequence[ArticleWrite],
              removed: Sequence[str] = ()) -> tuple[list[int], list[int]]:
        """One transaction: each article's record, its new passages replacing its old ones,
        then the `removed` articles gone. Returns (passage ids deleted, passage ids added,
        in the order of the articles' passages)."""
        with self.transaction() as db:
            stale = Store.delete_passages_of(
                db, [write.article_id for write in articles if write.passages is not None])
            added: list[int] = []
            for write in articles:
                article = write.article
                Store.upsert_article(db, write.article_id, write.scope, write.origin,
                                     article.key, article.title, article.source, article.url,
                                     article.date, article.content_hash)
                if write.passages:
                    added += Store.insert_passages(db, write.article_id, write.scope,
                                                   article.title, write.passages)
            if removed:
                stale += Store.delete_articles(db, removed)
            Store.bump_generation(db)
        return stale, added

    @staticmethod
    def delete_passages_of(db: sqlite3.Connection, article_ids: Sequence[str]) -> list[int]:
        """Remove the articles' passages from the table and the keyword index; their ids."""
        if not article_ids:
            return []
        marks = _placeholders(article_ids)
        ids = [row[0] for row in db.execute(
            f"SELECT id FROM passages WHERE article_id IN ({marks})", tuple(article_ids))]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            db.execute(f"DELETE FROM passages_fts WHERE rowid IN ({_placeholders(chunk)})", chunk)
        db.execute(f"DELETE FROM passages WHERE article_id IN ({marks})", tuple(article_ids))
        return ids

    @staticmethod
    def delete_articles(db: sqlite3.Connection, article_ids: Sequence[str]) -> list[int]:
        passage_ids = Store.delete_passages_of(db, article_ids)
        db.execute(
            f"DELETE FROM articles WHERE id IN ({_placeholders(article_ids)})", tuple(article_ids)
        )
        return passage_ids

    @staticmethod
    def insert_passages(db: sqlite3.Connection, article_id: str, scope: str, title: str,
                        passages: Iterable[NewPassage]) -> list[int]:
        ids = []
        for passage in passages:
            cursor = db.execute(
                "INSERT INTO passages (article_id, scope, position, text, vector, "
                "sentence_spans, sentence_vectors, sentence_signals) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (article_id, scope, passage.position, passage.text,
                 np.ascontiguousarray(passage.vector, dtype=np.float32).tobytes(),
                 spans_json(passage.sentence_spans),
                 np.ascontiguousarray(passage.sentence_vectors, dtype=np.float16).tobytes(),
                 stored_signals(passage.text, passage.sentence_spans)),
            )
            passage_id = int(cursor.lastrowid)
            db.execute(
                "INSERT INTO passages_fts (rowid, title, body) VALUES (?, ?, ?)",
                (passage_id, title, passage.text),
            )
            ids.append(passage_id)
        return ids

    @staticmethod
    def set_sentences(db: sqlite3.Connection, passage_id: int, text: str,
                      spans: list[tuple[int, int]], vectors: np.ndarray) -> None:
        db.execute(
            "UPDATE passages SET sentence_spans = ?, sentence_vectors = ?, sentence_signals = ? "
            "WHERE id = ?",
            (spans_json(spans),
             np.ascontiguousarray(vectors, dtype=np.float16).tobytes(),
             stored_signals(text, spans), passage_id),
        )

    def signals_missing(self) -> bool:
        """Whether the oldest passage lacks the sentence signals these rules store: a
        library stored by an earlier version (one row read; `fill_signals` goes oldest
        first, and everything added since stores them)."""
        row = self.db.execute("SELECT sentence_spans, sentence_signals FROM passages "
                              "ORDER BY id LIMIT 1").fetchone()
        return row is not None and row[0] is not None and not signals_current(row[1])

    def fill_signals(self, batch: int) -> Iterator[int]:
        """Stores the sentence signals of the passages lacking them (stored before they
        were, or by other rules), `batch` passages a transaction; yields the count so far."""
        after, done = 0, 0
        while True:
            with self.transaction() as db:
                rows = db.execute(
                    "SELECT id, text, sentence_spans FROM passages WHERE id > ? "
                    "AND sentence_spans IS NOT NULL AND (sentence_signals IS NULL "
                    "OR substr(sentence_signals, 1, ?) != ?) ORDER BY id LIMIT ?",
                    (after, len(STORED_SIGNALS_STAMP), STORED_SIGNALS_STAMP, batch)).fetchall()
                db.executemany("UPDATE passages SET sentence_signals = ? WHERE id = ?", [
                    (stored_signals(text, read_spans(spans)), pid)
                    for pid, text, spans in rows])
            if not rows:
                return
            after, done = rows[-1][0], done + len(rows)
            yield done

    def passages_without_sentences(self, limit: int) -> list[tuple[int, str]]:
        """(id, text) of passages stored before sentence vectors existed."""
        return self.db.execute(
            "SELECT id, text FROM passages WHERE sentence_vectors IS NULL ORDER BY id LIMIT ?",
            (limit,)).fetchall()

    def article_info(self, article_id: str, scopes: Sequence[str]) -> ArticleInfo | None:
        rows = self._article_infos(f"a.id = ? AND a.scope IN ({_placeholders(scopes)})",
                                   (article_id, *scopes), limit=1, offset=0)
        return rows[0] if rows else None

    def list_articles(self, scopes: Sequence[str], *, offset: int,
                      limit: int) -> list[ArticleInfo]:
        return self._article_infos(f"a.scope IN ({_placeholders(scopes)})", tuple(scopes),
                                   limit=limit, offset=offset)

    def _article_infos(self, where: str, params: tuple, *, limit: int,
                       offset: int) -> list[ArticleInfo]:
        rows = self.db.execute(
            "SELECT a.id, a.title, a.source, a.url, a.date, a.scope, "
            "(SELECT COUNT(*) FROM passages p WHERE p.article_id = a.id), a.added_at "
            f"FROM articles a WHERE {where} ORDER BY a.added_at DESC, a.title LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [ArticleInfo(*row) for row in rows]

    def count(self, table: str, scopes: Sequence[str]) -> int:
        assert table in ("articles", "passages")
        row = self.db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE scope IN ({_placeholders(scopes)})", tuple(scopes)
        ).fetchone()
        return int(row[0])

    def total(self, table: str) -> int:
        """Rows in all scopes."""
        assert table in ("articles", "passages")
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    # -- passages -----------------------------------------------------------------------
    def has_passages_in(self, scopes: Sequence[str]) -> bool:
        row = self.db.execute(
            f"SELECT EXISTS (SELECT 1 FROM passages WHERE scope IN ({_placeholders(scopes)}))",
            tuple(scopes)).fetchone()
        return bool(row[0])

    def has_passages_outside(self, scopes: Sequence[str]) -> bool:
        """Whether any passage belongs to another scope: then every search must filter."""
        return bool(self.scopes_outside(scopes))

    def scopes_outside(self, scopes: Sequence[str]) -> tuple[str, ...]:
        """The other scopes holding articles, sorted. Cached per generation (the scan reads
        every article's scope)."""
        return self._outside_at(self.generation(), scopes)

    def _outside_at(self, generation: int, scopes: Sequence[str]) -> tuple[str, ...]:
        key = (generation, tuple(scopes))
        cached = self._outside.get(key)
        if cached is None:
            held = {row[0] for row in self.db.execute("SELECT DISTINCT scope FROM articles")}
            cached = tuple(sorted(held - set(scopes)))
            self._outside = {k: v for k, v in self._outside.items() if k[0] == generation}
            self._outside[key] = cached
        return cached

    def passage_ids_in(self, scopes: Sequence[str]) -> np.ndarray:
        rows = self.db.execute(
            f"SELECT id FROM passages WHERE scope IN ({_placeholders(scopes)})", tuple(scopes)
        ).fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.db.execute("SELECT id, vector FROM passages ORDER BY id").fetchall()
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32)
        return ids, vectors.reshape(len(rows), dim)

    def passage_ids(self) -> np.ndarray:
        """Every passage id, all scopes."""
        rows = self.db.execute("SELECT id FROM passages").fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def passage_difference(self, held: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """(generation, ids stored and not `held`, ids `held` and no longer stored), read
        in one snapshot: what a copy of the passages (FAISS, the article map) must learn and
        forget to stand at that generation."""
        with self.snapshot():
            generation, stored = self.generation(), self.passage_ids()
        return (generation, np.setdiff1d(stored, held, assume_unique=True),
                np.setdiff1d(held, stored, assume_unique=True))

    def vectors(self, passage_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of those of the passages that still exist."""
        found = list(self._rows_by_id("SELECT id, vector FROM passages", passage_ids))
        ids = np.fromiter((row[0] for row in found), dtype=np.int64, count=len(found))
        if not found:  # all removed since they were listed (another process wrote)
            return ids, np.zeros((0, 0), dtype=np.float32)
        vectors = np.frombuffer(b"".join(row[1] for row in found), dtype=np.float32)
        return ids, vectors.reshape(len(found), -1)

    def passage_articles(self, passage_ids: Sequence[int] | None = None
                         ) -> Iterable[tuple[int, str, str]]:
        """(passage id, article id, scope) of every passage, or of those of `passage_ids`
        that exist, as they are read: a million rows held at once would take ~200 MB."""
        select = "SELECT id, article_id, scope FROM passages INDEXED BY passages_articles"
        if passage_ids is None:
            return self.db.execute(select)
        return self._rows_by_id(select, passage_ids)

    def _rows_by_id(self, select: str, passage_ids: Sequence[int]) -> Iterator[tuple]:
        """`select` (FROM passages) for the rows of `passage_ids`, in chunks of ids that
        stay under SQLite's limit on bound values."""
        for start in range(0, len(passage_ids), 10_000):
            chunk = passage_ids[start:start + 10_000]
            yield from self.db.execute(f"{select} WHERE id IN ({_placeholders(chunk)})",
                                       tuple(chunk)).fetchall()

    def passage_vectors(self, passage_ids: Sequence[int],
                        scopes: Sequence[str]) -> dict[int, np.ndarray]:
        if not passage_ids:
            return {}
        # The vector follows the text in a row: its sentences' vectors (overflow pages) are
        # not read.
        return {passage_id: np.frombuffer(vector, dtype=np.float32)
                for passage_id, vector in self.db.execute(
                    f"SELECT id, vector FROM passages WHERE id IN ({_placeholders(passage_ids)}) "
                    f"AND +scope IN ({_placeholders(scopes)})", (*passage_ids, *scopes))}

    def evidence(self, passage_ids: Sequence[int], scopes: Sequence[str],
                 dim: int) -> list[EvidenceRow]:
        """The passages with their vectors, in the order asked. Ones deleted meanwhile, and
        any outside `scopes` (whatever a search returned), are left out."""
        if not passage_ids:
            return []
        # `+p.scope`: by primary key, as in articles_of.
        rows = {row[0]: row for row in self.db.execute(
            "SELECT p.id, p.article_id, p.position, p.text, a.title, a.source, a.url, a.date, "
            "p.vector, p.sentence_spans, p.sentence_vectors, p.sentence_signals "
            "FROM passages p JOIN articles a ON a.id = p.article_id "
            f"WHERE p.id IN ({_placeholders(passage_ids)}) "
            f"AND +p.scope IN ({_placeholders(scopes)})", (*passage_ids, *scopes))}
        evidence = []
        for passage_id in passage_ids:
            row = rows.get(passage_id)
            if row is None:
                continue
            spans = read_spans(row[9])
            sentence_vectors = (
                np.frombuffer(row[10], dtype=np.float16).astype(np.float32).reshape(-1, dim)
                if row[10] is not None else None
            )
            evidence.append(EvidenceRow(
                PassageRow(*row[:8]), np.frombuffer(row[8], dtype=np.float32), spans,
                sentence_vectors, row[11]))
        return evidence

    def articles_of(self, passage_ids: Sequence[int],
                    scopes: Sequence[str]) -> dict[int, str]:
        """Passage id -> article id, for those still existing within `scopes`."""
        if not passage_ids:
            return {}
        # Named: SQLite's planner prefers the primary key, which reads the wide rows.
        return dict(self.db.execute(
            "SELECT id, article_id FROM passages INDEXED BY passages_articles "
            f"WHERE id IN ({_placeholders(passage_ids)}) "
            f"AND scope IN ({_placeholders(scopes)})", (*passage_ids, *scopes)).fetchall())

    def passages(self, passage_ids: Sequence[int],
                 scopes: Sequence[str]) -> dict[int, PassageRow]:
        """By id, those of the passages that still exist within `scopes`."""
        if not passage_ids:
            return {}
        rows = self.db.execute(
            "SELECT p.id, p.article_id, p.position, p.text, a.title, a.source, a.url, a.date "
            "FROM passages p JOIN articles a ON a.id = p.article_id "
            f"WHERE p.id IN ({_placeholders(passage_ids)}) "
            f"AND p.scope IN ({_placeholders(scopes)})",
            (*passage_ids, *scopes),
        )
        return {row[0]: PassageRow(*row) for row in rows}

    def keyword_search(self, phrases: Sequence[str], scopes: Sequence[str],
                       k: int) -> list[tuple[int, float]]:
        """(passage id, bm25) of the top k passages holding any of `phrases`, best first
        (ties by id); bm25 is negated so that higher is better. When a few common phrases
        match most of those passages, the rare phrases' passages are ranked first and the
        common-only ones skipped if they provably cannot reach the top k (index/bm25.py):
        the same passages and scores as one query over all phrases, for less work."""
        with self.snapshot():  # the phrase counts and the queries see one state
            generation = self.generation()
            filtered = bool(self._outside_at(generation, scopes))
            rows = self._fts_rows(generation)
            hits = {phrase: self._phrase_hits(phrase, generation) for phrase in phrases}
            # A phrase no passage holds adds nothing to any score: leaving it out of the
            # OR changes nothing.
            present = [phrase for phrase in dict.fromkeys(phrases) if hits[phrase]]
            if not present:
                return []
            rare, common = split_common(present, hits, rows)
            if common:
                top = merge_split(
                    self._bm25(fts_any(rare), scopes, k, filtered),
                    self._bm25(f"({fts_any(rare)}) AND ({fts_any(common)})", scopes, k,
                               filtered),
                    k, common_bound(common, hits, rows))
                if top is not None:
                    return top
            return self._bm25(fts_any(present), scopes, k, filtered)

    def _bm25(self, match: str, scopes: Sequence[str], k: int,
              filtered: bool) -> list[tuple[int, float]]:
        """One FTS5 query's top k. The scope join (3x slower) is skipped only when nothing
        outside `scopes` exists (`filtered` False)."""
        if not filtered:
            rows = self.db.execute(
                "SELECT rowid, bm25(passages_fts, 0.5, 1.0) AS rank FROM passages_fts "
                "WHERE passages_fts MATCH ? ORDER BY rank, rowid LIMIT ?", (match, k))
            return [(row[0], -row[1]) for row in rows]
        rows = self.db.execute(
            "SELECT f.rowid, bm25(passages_fts, 0.5, 1.0) AS rank FROM passages_fts f "
            "JOIN passages p ON p.id = f.rowid "
            f"WHERE passages_fts MATCH ? AND p.scope IN ({_placeholders(scopes)}) "
            "ORDER BY rank, f.rowid LIMIT ?",
            (match, *scopes, k),
        )
        return [(row[0], -row[1]) for row in rows]

    def _fts_rows(self, generation: int) -> int:
        """Rows of the keyword index, all scopes: what FTS5's idf counts against."""
        return self._per_generation("\x00rows", generation, lambda: self.total("passages"))

    def _phrase_hits(self, phrase: str, generation: int) -> int:
        """Passages holding `phrase`, all scopes: FTS5's own idf input, so never scoped."""
        return self._per_generation(phrase, generation, lambda: int(self.db.execute(
            "SELECT COUNT(*) FROM passages_fts WHERE passages_fts MATCH ?",
            (fts_phrase(phrase),)).fetchone()[0]))

    def _per_generation(self, key: str, generation: int, count: Callable[[], int]) -> int:
        """A count cached until the next write ("kim" is asked about again and again);
        `generation` is the caller's, read in the same snapshot as `count` runs."""
        cache = self._counts
        if cache.get("\x00generation") != generation:
            cache = self._counts = {"\x00generation": generation}
        if key not in cache:
            cache[key] = count()
        return cache[key]

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """This thread's reads in one read transaction: one committed state throughout."""
        db = self.db
        if db.in_transaction:
            yield
            return
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")

    def document_frequency(self, word: str, scopes: Sequence[str]) -> int:
        """Passages in `scopes` holding `word` (stemmed as the keyword index stems)."""
        with self.snapshot():  # a count cached under the generation it was taken at
            generation = self.generation()
            if not self._outside_at(generation, scopes):
                return self._phrase_hits(word, generation)  # the keyword search counted it
        row = self.db.execute(
            "SELECT COUNT(*) FROM passages_fts f JOIN passages p ON p.id = f.rowid "
            f"WHERE passages_fts MATCH ? AND p.scope IN ({_placeholders(scopes)})",
            (fts_phrase(word), *scopes))
        return int(row.fetchone()[0])

    # -- questions and feedback ---------------------------------------------------------
    def log_question(self, scope: str, user_id: int | None, question: str,
                     abstained: bool) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO questions (scope, user_id, question, abstained, asked_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (scope, user_id, question, int(abstained), utc_now()),
            )
            return int(cursor.lastrowid)

    def record_feedback(self, question_id: int, user_id: int, vote: int) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO feedback (question_id, user_id, vote, voted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (question_id, user_id) DO UPDATE SET vote = excluded.vote, "
                "voted_at = excluded.voted_at",
                (question_id, user_id, vote, utc_now()),
            )

    def question_exists(self, question_id: int) -> bool:
        row = self.db.execute("SELECT 1 FROM questions WHERE id = ?", (question_id,)).fetchone()
        return row is not None

    def question_stats(self, scope: str, top: int) -> QuestionStats:
        asked, unanswered = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(abstained), 0) FROM questions WHERE scope = ?", (scope,)
        ).fetchone()
        top_unanswered = self.db.execute(
            "SELECT lower(question), COUNT(*) AS n FROM questions WHERE scope = ? AND abstained "
            "GROUP BY lower(question) ORDER BY n DESC, MAX(asked_at) DESC LIMIT ?",
            (scope, top),
        ).fetchall()
        downvoted = self.db.execute(
            "SELECT q.question, COUNT(*) AS n FROM feedback f JOIN questions q ON q.id = "
            "f.question_id WHERE q.scope = ? AND f.vote < 0 GROUP BY q.id "
            "ORDER BY n DESC, MAX(f.voted_at) DESC LIMIT ?",
            (scope, top),
        ).fetchall()
        return QuestionStats(
            asked=int(asked),
            unanswered=int(unanswered),
            top_unanswered=[(q, int(n)) for q, n in top_unanswered],
            downvoted=[(q, int(n)) for q, n in downvoted],
        )
