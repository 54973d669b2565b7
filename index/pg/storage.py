"""The PostgreSQL backend (`SPOTLIGHT_DATABASE_URL`): one library several processes share.

Opening migrates the "library" component (index/pg/library_schema.py) and checks the
model record (library_info, the manifest's role) as the embedded index checks its
manifest. Writers hold a session advisory lock from planning to their last commit (the
embedded folder's write.lock); each batch is one transaction, so a process killed
mid-write leaves no half article, and what one process commits the others read at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass

import psycopg

from index.embedder import Embedder
from index.errors import IndexMissingError
from index.manifest import FORMAT_VERSION, Manifest
from index.parts import Retriever
from index.pg.connections import PinnedConnections
from index.pg.database import Database
from index.pg.dense import (
    EF_SEARCH,
    HNSW_EF_CONSTRUCTION,
    HNSW_INDEX,
    HNSW_M,
    PgDenseRetriever,
    hnsw_index_sql,
    vector_column_sql,
)
from index.pg.keyword import Lexicon, PgKeywordRetriever
from index.pg.library_schema import COMPONENT, MIGRATIONS
from index.pg.migrations import migrate
from index.pg.questions import PgQuestions
from index.pg.store import PgStore
from index.pg.urls import redact
from index.records import ArticleWrite, ModelInfo, utc_now
from index.spans import LEGACY_KIND, SentenceVectors
from index.storage import StorageInfo

# Any constant, the same in every Spotlight process (migrations use 7_310_318_201).
WRITE_LOCK_KEY = 7_310_318_202
# Seconds to wait for a connection (at open, and from the pool) before reporting the
# database unavailable.
CONNECT_TIMEOUT = 10.0
INDEX_TYPE = (f"pgvector HNSW (cosine, m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION}, "
              f"ef_search={EF_SEARCH}) over global passages, exact per server")


def index_type(database: Database) -> str:
    """What the HNSW index was built with (a library keeps the settings it was made with)."""
    with database.connection() as connection:
        row = connection.execute("SELECT reloptions FROM pg_class WHERE relname = %s",
                                 (HNSW_INDEX,)).fetchone()
    built = ", ".join(row[0] or ()) if row else "no index"
    return (f"pgvector HNSW (cosine, {built}, ef_search={EF_SEARCH}) over global passages, "
            "exact per server")


@dataclass(frozen=True)
class LibraryRecord:
    format_version: int
    model: ModelInfo
    created_at: str


def rebuild_hint(url: str) -> str:
    return (f"Rebuild it: `python -m index build --rebuild --corpus PATH --database-url "
            f"{redact(url)}` (or with SPOTLIGHT_DATABASE_URL set).")


def read_record(database: Database) -> LibraryRecord | None:
    with database.connection() as connection:
        row = connection.execute(
            "SELECT format_version, model_name, model_sha256, dim, embedding_backend, "
            "created_at FROM library_info").fetchone()
    if row is None:
        return None
    return LibraryRecord(row[0], ModelInfo(row[1], row[2], row[3], row[4]), row[5])


def create_library(database: Database, model: ModelInfo) -> LibraryRecord:
    """The model record, the vector column's dimension and its HNSW index, once: two
    processes creating together create one library."""
    with database.transaction() as connection:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        if connection.execute("SELECT 1 FROM library_info").fetchone() is None:
            start_library(connection, model, utc_now())
            connection.execute(hnsw_index_sql())
    record = read_record(database)
    assert record is not None
    return record


def start_library(connection: psycopg.Connection, model: ModelInfo, created_at: str) -> None:
    """The model record and the vector column's dimension (the HNSW index is the
    caller's: after a bulk load, it is built once)."""
    connection.execute(vector_column_sql(model.dim))
    connection.execute(
        "INSERT INTO library_info (format_version, model_name, model_sha256, dim, "
        "embedding_backend, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (FORMAT_VERSION, model.name, model.fingerprint, model.dim, model.backend, created_at,
         utc_now()))


def drop_library(database: Database) -> None:
    """Articles, passages and the model record gone (questions and feedback stay): what
    `build --rebuild` does before building with another model."""
    with database.transaction() as connection:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        clear_library(connection)


def clear_library(connection: psycopg.Connection) -> None:
    connection.execute("DELETE FROM articles")
    connection.execute("DELETE FROM library_info")
    connection.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
    connection.execute("ALTER TABLE passages ALTER COLUMN vector TYPE vector")


def open_database(url: str) -> Database:
    """Connect and bring the library's schema up to date (refusing a newer one)."""
    database = Database.open(url, timeout=CONNECT_TIMEOUT)
    try:
        migrate(database, COMPONENT, MIGRATIONS)
    except BaseException:
        database.close()
        raise
    return database


class PgStorage:
    # The database's model record has no column for the kind (index/spans.py) yet, so a
    # PostgreSQL library encodes its sentences, as every library did before the kind.
    sentence_vectors: SentenceVectors = LEGACY_KIND

    def __init__(self, database: Database, record: LibraryRecord) -> None:
        self._database = database
        self._record = record
        self.location = redact(database.url)
        self._connections = PinnedConnections(database)
        self._lexicon = Lexicon(self._connections)
        self.store = PgStore(self._connections, self._lexicon)
        self.catalog = self.passages = self.store
        self.questions = PgQuestions(self._connections)
        self._writer = threading.Lock()

    @property
    def database(self) -> Database:
        return self._database

    @classmethod
    def open(cls, url: str, embedder: Embedder, *, create: bool = False) -> PgStorage:
        """Raises DatabaseUnavailableError, SchemaVersionError (a newer schema),
        IndexMissingError (no library yet, unless create=True) and IndexMismatchError
        (another model or dim)."""
        database = open_database(url)
        try:
            record = read_record(database)
            if record is None:
                if not create:
                    raise IndexMissingError(
                        f"No library in the database at {redact(url)} yet. Build one: "
                        f"`python -m index build --corpus PATH --database-url {redact(url)}` "
                        "(or with SPOTLIGHT_DATABASE_URL set).")
                record = create_library(database, ModelInfo.of(embedder))
            cls.check_model(record, url, embedder)
            return cls(database, record)
        except BaseException:
            database.close()
            raise

    @staticmethod
    def check_model(record: LibraryRecord, url: str, embedder: Embedder) -> None:
        """The embedded index's manifest rules, on the database's model record."""
        model = record.model
        Manifest(
            format_version=record.format_version, model_name=model.name,
            model_sha256=model.fingerprint, dim=model.dim, faiss_type=INDEX_TYPE, articles=0,
            passages=0, created_at=record.created_at, updated_at=record.created_at,
            dense_generation=0, embedding_backend=model.backend,
        ).check_compatible(redact(url), embedder.name, embedder.fingerprint, embedder.dim,
                           backend=ModelInfo.of(embedder).backend, rebuild=rebuild_hint(url))

    # -- writing --------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """One writer at a time across processes: a session advisory lock, released when
        the block ends or, if the process dies, when its connection closes."""
        with self._writer, self._database.connection() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK_KEY,))
            try:
                yield
            finally:
                with suppress(psycopg.Error):  # a lost connection took its lock with it
                    connection.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK_KEY,))

    def write(self, articles: Sequence[ArticleWrite] = (), removed: Sequence[str] = ()) -> None:
        self.store.write(articles, removed)

    def signals_missing(self) -> bool:
        return self.store.signals_missing()

    def fill_signals(self, batch: int) -> Iterator[int]:
        return self.store.fill_signals(batch)

    def flush(self) -> None:
        """Nothing is kept beside the database."""

    def refresh(self) -> None:
        """Every read is a query: nothing to catch up."""

    # -- reading --------------------------------------------------------------------------
    def reading(self) -> AbstractContextManager[None]:
        """A question's queries on one connection, taken from the pool once."""
        return self._connections.pinned()

    def retrievers(self) -> list[Retriever]:
        return [PgDenseRetriever(self._connections),
                PgKeywordRetriever(self._connections, self._lexicon, self.store.statistics)]

    def describe(self) -> StorageInfo:
        model = self._record.model
        return StorageInfo(
            location=self.location, format_version=self._record.format_version,
            model_name=model.name, model_sha256=model.fingerprint, dim=model.dim,
            index_type=index_type(self._database), dense_vectors=self.store.total("passages"),
            created_at=self._record.created_at,
            updated_at=self.store.updated_at() or self._record.created_at)

    def close(self) -> None:
        self._database.close()
