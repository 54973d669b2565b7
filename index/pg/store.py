"""Articles and passages in PostgreSQL: what ingest plans from, what the pipeline reads,
and one transaction per write (index/storage.py's ArticleCatalog and PassageSource).

Every read is a query of the shared database, so what another process committed is
visible at once; `generation` (library_info) changes with every committed write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import psycopg

from index.pg.connections import Connections
from index.pg.keyword import CollectionStatistics, Lexicon
from index.records import ArticleWrite, EvidenceRow, PassageRow, StoredArticle, utc_now
from index.results import ArticleInfo
from index.signals import STORED_SIGNALS_STAMP, signals_current, stored_signals
from index.storage import Table

_PASSAGE_COLUMNS = ("p.id, p.article_id, p.position, p.text, a.title, a.source, a.url, "
                    "a.date")
_ARTICLE_INFO = (
    "SELECT a.id, a.title, a.source, a.url, a.date, a.scope, "
    "(SELECT count(*) FROM passages p WHERE p.article_id = a.id), a.added_at FROM articles a ")


def flat_spans(spans: Sequence[tuple[int, int]]) -> list[int]:
    return [offset for span in spans for offset in span]


def paired_spans(flat: Sequence[int]) -> list[tuple[int, int]]:
    return [(flat[at], flat[at + 1]) for at in range(0, len(flat) - 1, 2)]


def sentence_bytes(vectors: np.ndarray) -> bytes:
    return np.ascontiguousarray(vectors, dtype=np.float16).tobytes()


class PgStore:
    def __init__(self, database: Connections, lexicon: Lexicon) -> None:
        self._database = database
        self._lexicon = lexicon
        self._statistics = CollectionStatistics(database, self.generation)

    @property
    def statistics(self) -> CollectionStatistics:
        """Counts for bm25, shared with the keyword retriever (one cache per library)."""
        return self._statistics

    # -- ArticleCatalog -------------------------------------------------------------------
    def stored_articles(self, scope: str) -> dict[str, StoredArticle]:
        with self._database.connection() as connection:
            rows = connection.execute(
                "SELECT id, scope, key, origin, content_hash, title, source, url, date "
                "FROM articles WHERE scope = %s", (scope,)).fetchall()
        return {row[2]: StoredArticle(*row[:5], metadata=tuple(row[5:])) for row in rows}

    def article_with_hash(self, content_hash: str, scopes: Sequence[str]) -> str | None:
        with self._database.connection() as connection:
            row = connection.execute(
                "SELECT id FROM articles WHERE content_hash = %s AND scope = ANY(%s) LIMIT 1",
                (content_hash, list(scopes))).fetchone()
        return row[0] if row else None

    def article_info(self, article_id: str, scopes: Sequence[str]) -> ArticleInfo | None:
        rows = self._article_infos("WHERE a.id = %s AND a.scope = ANY(%s)",
                                   (article_id, list(scopes)), limit=1, offset=0)
        return rows[0] if rows else None

    def list_articles(self, scopes: Sequence[str], *, offset: int,
                      limit: int) -> list[ArticleInfo]:
        return self._article_infos("WHERE a.scope = ANY(%s)", (list(scopes),),
                                   limit=limit, offset=offset)

    def _article_infos(self, where: str, params: tuple, *, limit: int,
                       offset: int) -> list[ArticleInfo]:
        with self._database.connection() as connection:
            rows = connection.execute(
                f"{_ARTICLE_INFO}{where} ORDER BY a.added_at DESC, a.title LIMIT %s OFFSET %s",
                (*params, limit, offset)).fetchall()
        return [ArticleInfo(*row[:6], int(row[6]), row[7]) for row in rows]

    def count(self, table: Table, scopes: Sequence[str]) -> int:
        assert table in ("articles", "passages")
        with self._database.connection() as connection:
            row = connection.execute(f"SELECT count(*) FROM {table} WHERE scope = ANY(%s)",
                                     (list(scopes),)).fetchone()
        return int(row[0])

    def total(self, table: Table) -> int:
        """Rows in all scopes."""
        assert table in ("articles", "passages")
        with self._database.connection() as connection:
            return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def has_passages_in(self, scopes: Sequence[str]) -> bool:
        with self._database.connection() as connection:
            row = connection.execute(
                "SELECT EXISTS (SELECT 1 FROM passages WHERE scope = ANY(%s))",
                (list(scopes),)).fetchone()
        return bool(row[0])

    # -- PassageSource --------------------------------------------------------------------
    def generation(self) -> int:
        with self._database.connection() as connection:
            row = connection.execute("SELECT generation FROM library_info").fetchone()
        return int(row[0]) if row else 0

    def updated_at(self) -> str | None:
        with self._database.connection() as connection:
            row = connection.execute("SELECT updated_at FROM library_info").fetchone()
        return row[0] if row else None

    def passages(self, passage_ids: Sequence[int],
                 scopes: Sequence[str]) -> dict[int, PassageRow]:
        if not passage_ids:
            return {}
        with self._database.connection() as connection:
            rows = connection.execute(
                f"SELECT {_PASSAGE_COLUMNS} FROM passages p JOIN articles a "
                "ON a.id = p.article_id WHERE p.id = ANY(%s) AND p.scope = ANY(%s)",
                (list(passage_ids), list(scopes))).fetchall()
        return {row[0]: PassageRow(*row) for row in rows}

    def _visible_passages(self, column: str, passage_ids: Sequence[int],
                          scopes: Sequence[str]) -> list[tuple]:
        """(id, column) of those of the passages that still exist within `scopes`."""
        if not passage_ids:
            return []
        with self._database.connection() as connection:
            return connection.execute(
                f"SELECT id, {column} FROM passages WHERE id = ANY(%s) AND scope = ANY(%s)",
                (list(passage_ids), list(scopes))).fetchall()

    def articles_of(self, passage_ids: Sequence[int],
                    scopes: Sequence[str]) -> dict[int, str]:
        return dict(self._visible_passages("article_id", passage_ids, scopes))

    def passage_vectors(self, passage_ids: Sequence[int],
                        scopes: Sequence[str]) -> dict[int, np.ndarray]:
        return {passage_id: vector.to_numpy().astype(np.float32, copy=False)
                for passage_id, vector in self._visible_passages("vector", passage_ids, scopes)}

    def evidence(self, passage_ids: Sequence[int], scopes: Sequence[str],
                 dim: int) -> list[EvidenceRow]:
        if not passage_ids:
            return []
        with self._database.connection() as connection:
            rows = {row[0]: row for row in connection.execute(
                f"SELECT {_PASSAGE_COLUMNS}, p.vector, p.sentence_spans, p.sentence_vectors, "
                "p.sentence_signals FROM passages p JOIN articles a ON a.id = p.article_id "
                "WHERE p.id = ANY(%s) AND p.scope = ANY(%s)",
                (list(passage_ids), list(scopes)))}
        evidence = []
        for passage_id in passage_ids:
            row = rows.get(passage_id)
            if row is None:
                continue
            sentence_vectors = (
                np.frombuffer(row[10], dtype=np.float16).astype(np.float32).reshape(-1, dim)
                if row[10] is not None else None)
            evidence.append(EvidenceRow(
                PassageRow(*row[:8]), row[8].to_numpy().astype(np.float32, copy=False),
                paired_spans(row[9]), sentence_vectors, row[11]))
        return evidence

    def document_frequency(self, word: str, scopes: Sequence[str]) -> int:
        (lexemes,) = self._lexicon.lexemes([word])
        return self._statistics.passages_holding(lexemes, scopes) if lexemes else 0

    def signals_missing(self) -> bool:
        """As the embedded store's `signals_missing`."""
        with self._database.connection() as connection:
            row = connection.execute("SELECT sentence_signals FROM passages "
                                     "ORDER BY id LIMIT 1").fetchone()
        return row is not None and not signals_current(row[0])

    # -- writing --------------------------------------------------------------------------
    def fill_signals(self, batch: int) -> Iterator[int]:
        """As the embedded store's `fill_signals`: rows written before migration 2, or by
        other rules, get their sentences' signals, `batch` a transaction."""
        after, done = 0, 0
        while True:
            with self._database.transaction() as connection:
                rows = connection.execute(
                    "SELECT id, text, sentence_spans FROM passages WHERE id > %s "
                    "AND (sentence_signals IS NULL OR left(sentence_signals, %s) <> %s) "
                    "ORDER BY id LIMIT %s",
                    (after, len(STORED_SIGNALS_STAMP), STORED_SIGNALS_STAMP, batch)).fetchall()
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "UPDATE passages SET sentence_signals = %s WHERE id = %s",
                        [(stored_signals(text, paired_spans(spans)), passage_id)
                         for passage_id, text, spans in rows])
            if not rows:
                return
            after, done = rows[-1][0], done + len(rows)
            yield done

    def write(self, articles: Sequence[ArticleWrite], removed: Sequence[str] = ()) -> None:
        """One transaction: records, passages replacing the old ones, removals, and the
        generation bumped. A process killed half-way leaves none of it."""
        now = utc_now()
        with self._database.transaction() as connection:
            replaced = [write.article_id for write in articles if write.passages is not None]
            if replaced:
                connection.execute("DELETE FROM passages WHERE article_id = ANY(%s)",
                                   (replaced,))
            for write in articles:
                self._upsert(connection, write, now)
            rows = [
                (write.article_id, write.scope, passage.position, write.article.title,
                 passage.text, np.asarray(passage.vector, dtype=np.float32),
                 flat_spans(passage.sentence_spans), sentence_bytes(passage.sentence_vectors),
                 stored_signals(passage.text, passage.sentence_spans))
                for write in articles for passage in write.passages or ()]
            if rows:
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO passages (article_id, scope, position, title, text, "
                        "vector, sentence_spans, sentence_vectors, sentence_signals) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
            if removed:
                connection.execute("DELETE FROM articles WHERE id = ANY(%s)", (list(removed),))
            connection.execute(
                "UPDATE library_info SET generation = generation + 1, updated_at = %s", (now,))

    @staticmethod
    def _upsert(connection: psycopg.Connection, write: ArticleWrite, now: str) -> None:
        article = write.article
        connection.execute(
            "INSERT INTO articles (id, scope, key, origin, title, source, url, date, "
            "content_hash, added_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET title = excluded.title, source = excluded.source, "
            "url = excluded.url, date = excluded.date, content_hash = excluded.content_hash, "
            "updated_at = excluded.updated_at",
            (write.article_id, write.scope, article.key, write.origin, article.title,
             article.source, article.url, article.date, article.content_hash, now, now))
        if write.passages is None:  # the same text under a new title: search the new one
            connection.execute(
                "UPDATE passages SET title = %s WHERE article_id = %s AND title <> %s",
                (article.title, write.article_id, article.title))
