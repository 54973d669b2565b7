"""A PostgreSQL library as the source or the target of an export (index/transfer.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple

import numpy as np
import psycopg

from index.errors import IndexMissingError, TransferError
from index.pg.database import Database
from index.pg.dense import hnsw_index_sql
from index.pg.library_schema import COMPONENT, KEYWORD_INDEX, MIGRATIONS
from index.pg.migrations import check_schema, schema_version
from index.pg.storage import (
    WRITE_LOCK_KEY,
    clear_library,
    open_database,
    read_record,
    start_library,
)
from index.pg.store import flat_spans, paired_spans
from index.pg.urls import redact
from index.records import utc_now
from index.signals import stored_signals
from index.transfer import (
    ARTICLE_COLUMNS,
    BATCH,
    FEEDBACK_COLUMNS,
    QUESTION_COLUMNS,
    Counts,
    PassageRecord,
    Read,
    Snapshot,
    check_counts,
    columns,
    count_rows,
    read_snapshot,
)

_PASSAGES = columns(PassageRecord)
# Building the HNSW index once over a bulk load is far quicker with room for its graph.
BUILD_MEMORY = "512MB"


def _reader(connection: psycopg.Connection) -> Read:
    names = itertools.count()

    def read(query: str) -> Iterator[list[tuple]]:
        """Through a server-side cursor: a million passages never sit in memory."""
        with connection.cursor(name=f"export_{next(names)}") as cursor:
            cursor.execute(query)
            while rows := cursor.fetchmany(BATCH):
                yield rows

    return read


def _passage(row: tuple) -> PassageRecord:
    vectors = None if row[8] is None else bytes(row[8])
    return PassageRecord(*row[:6], row[6].to_numpy().astype(np.float32, copy=False),
                         paired_spans(row[7]), vectors)


class PgSource:
    def __init__(self, url: str) -> None:
        self.url = url

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        database = Database.open(self.url)
        try:
            check_schema(database, COMPONENT, MIGRATIONS)  # read as it is: no migration
            record = read_record(database) if schema_version(database, COMPONENT) else None
            if record is None:
                raise IndexMissingError(f"No library in the database at {redact(self.url)}.")
            with database.transaction() as connection:
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield read_snapshot(
                    _reader(connection), model=record.model, created_at=record.created_at,
                    passages=f"SELECT {_PASSAGES} FROM passages ORDER BY id", passage=_passage)
        finally:
            database.close()


class PgTarget:
    """A database whose library is empty (no articles, no questions)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def load(self, snapshot: Snapshot) -> Counts:
        database = open_database(self.url)
        try:
            with database.transaction() as connection:
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
                held = count_rows(_reader(connection))
                if held.articles or held.questions:
                    raise TransferError(
                        f"The database at {redact(self.url)} already holds {held}; export "
                        "into a database without a library.")
                clear_library(connection)  # an empty library of another model, if any
                start_library(connection, snapshot.model, snapshot.created_at)
                connection.execute("DROP INDEX passages_keywords")
                self._copy(connection, snapshot)  # then both search indexes, built once:
                connection.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
                connection.execute(KEYWORD_INDEX)
                connection.execute(hnsw_index_sql())
                check_counts(count_rows(_reader(connection)), snapshot.counts)
                connection.execute("ANALYZE articles, passages")  # statistics for the planner
                connection.execute(
                    "UPDATE library_info SET generation = generation + 1, updated_at = %s",
                    (utc_now(),))
            return snapshot.counts
        finally:
            database.close()

    @staticmethod
    def _copy(connection: psycopg.Connection, snapshot: Snapshot) -> None:
        with connection.cursor() as cursor:
            for table, columns, batches, row_of in (
                ("articles", ARTICLE_COLUMNS, snapshot.articles, astuple),
                ("passages", f"{_PASSAGES}, sentence_signals", snapshot.passages,
                 _passage_row),
                ("questions", QUESTION_COLUMNS, snapshot.questions, astuple),
                ("feedback", FEEDBACK_COLUMNS, snapshot.feedback, astuple),
            ):
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for batch in batches:
                        for record in batch:
                            copy.write_row(row_of(record))
            for table in ("passages", "questions"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce(max(id), 0) + 1, false) FROM {table}")


def _passage_row(passage: PassageRecord) -> tuple:
    """The record, and its sentences' signals computed by this code's rules."""
    return (passage.id, passage.article_id, passage.scope, passage.position, passage.title,
            passage.text, passage.vector, flat_spans(passage.sentence_spans),
            passage.sentence_vectors, stored_signals(passage.text, passage.sentence_spans))
