"""index/pg/storage.py and dense.py: what only the PostgreSQL backend has to get right
(the rest is the shared contract, test_library_contract.py)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from index.config import LibraryConfig
from index.embedder import FakeEmbedder
from index.errors import DatabaseUnavailableError, SchemaVersionError
from index.library import Library, open_library
from index.pg.dense import HNSW_INDEX, PgDenseRetriever
from index.pg.library_schema import COMPONENT, MIGRATIONS
from index.pg.migrations import schema_version
from tests.conftest import block_database
from tests.index.test_library import GUILD_A, STORIES, article

pytestmark = pytest.mark.postgres


@pytest.fixture
def library(postgres_url: str, tmp_path: Path, fake_embedder: FakeEmbedder) -> Library:
    opened = open_library(LibraryConfig(database_url=postgres_url), fake_embedder,
                          folder=tmp_path, create=True)
    opened.build(STORIES)
    yield opened
    opened.close()


def test_opening_migrates_an_empty_database_and_shares_its_pool(library: Library) -> None:
    assert library.database is not None
    assert schema_version(library.database, COMPONENT) == len(MIGRATIONS)
    with library.database.connection() as connection:
        indexes = {row[0] for row in connection.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'passages'")}
        dim = connection.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = "
                                 "'passages'::regclass AND attname = 'vector'").fetchone()[0]
    assert {HNSW_INDEX, "passages_keywords", "passages_by_scope"} <= indexes
    assert dim == 64


def test_keyword_columns_are_computed_without_a_search_path(library: Library) -> None:
    """A restore (pg_dump sets an empty search_path) recomputes the generated columns: the
    functions must not depend on the search path."""
    with library.database.transaction() as connection:
        schema = connection.execute("SELECT current_schema()").fetchone()[0]
        connection.execute("SET LOCAL search_path = ''")
        document = connection.execute(
            f"SELECT {schema}.spotlight_document('Beyoncé’s tour', 'Jay-Z said: “wow”')::text"
        ).fetchone()[0]
    # Body first, then the title; curly quotes, hyphens and accents split or fold as in FTS5.
    assert document == "'beyonc':5B 'jai':1A 's':6B 'said':3A 'tour':7B 'wow':4A 'z':2A"


def test_the_hnsw_search_returns_k_beyond_ef_search_and_filters_inside_the_query(
    postgres_url: str, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    """With sequential scans and sorts priced out, the global passages come from the HNSW
    index, which returns at most hnsw.ef_search rows: the retriever raises it to k."""
    library = open_library(LibraryConfig(database_url=postgres_url), fake_embedder,
                           folder=tmp_path, create=True)
    library.build([article(f"Note {n}", f"Garden note {n} about tulips.") for n in range(160)])
    library.add_articles([article(f"Mine {n}", f"Garden note {n}: secret marigold tulips.")
                          for n in range(5)], guild_id=GUILD_A)
    name = urlsplit(postgres_url).path.lstrip("/")
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} SET enable_seqscan = off")
        admin.execute(f"ALTER DATABASE {name} SET enable_sort = off")
    library.close()
    library = open_library(LibraryConfig(database_url=postgres_url), fake_embedder,
                           folder=tmp_path)
    with library.database.connection() as connection:
        plan = "\n".join(row[0] for row in connection.execute(
            "EXPLAIN SELECT id FROM passages WHERE scope = 'global' "
            "ORDER BY vector <=> %s LIMIT 150", (library.embedder.encode(["tulips"])[0],)))
    assert HNSW_INDEX in plan
    narrow = PgDenseRetriever(library.database, ef_search=40)
    hits = narrow.retrieve(library.query("garden note tulips", guild_id=GUILD_A), 100)
    # Without raising ef_search to k the scan stops at 40 rows. HNSW is approximate: over
    # these near-identical fake vectors its graph may miss a node or two (seen: 149 of 150).
    assert 95 <= len(hits) <= 100
    own = library.pipeline.retrievers["dense"].retrieve(
        library.query("secret marigold", guild_id=GUILD_A), 5)
    titles = {row.title for row in library.storage.passages.passages(
        [pid for pid, _ in own], ("global", str(GUILD_A))).values()}
    assert titles == {f"Mine {n}" for n in range(5)}
    library.close()


def test_a_newer_schema_is_refused_clearly(library: Library, postgres_url: str,
                                           tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    with library.database.transaction() as connection:
        connection.execute("INSERT INTO spotlight_schema (component, version, name) "
                           "VALUES ('library', 99, 'from the future')")
    with pytest.raises(SchemaVersionError, match=r"version 99, newer.*Upgrade Spotlight"):
        open_library(LibraryConfig(database_url=postgres_url), fake_embedder, folder=tmp_path)


def test_an_unreachable_database_is_one_line_without_the_password(
    postgres_url: str, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    parts = urlsplit(postgres_url)
    url = parts._replace(netloc=f"spotlight:hunter2@{parts.hostname or ''}",
                         path="/no_such_database").geturl()
    config = LibraryConfig(database_url=url)
    assert "hunter2" not in repr(config)
    with pytest.raises(DatabaseUnavailableError) as raised:
        open_library(config, fake_embedder, folder=tmp_path, create=True)
    assert "hunter2" not in str(raised.value) and "unavailable" in str(raised.value)


# A one-second outage leaves psycopg_pool's reconnection at most a few seconds away.
RECOVERY_SECONDS = 15.0


def test_a_database_that_goes_away_and_comes_back_needs_no_restart(
    postgres_server: str, postgres_url: str, tmp_path: Path, fake_embedder: FakeEmbedder,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("index.pg.storage.CONNECT_TIMEOUT", 1.0)  # report it sooner
    library = open_library(LibraryConfig(database_url=postgres_url), fake_embedder,
                           folder=tmp_path, create=True)
    library.build(STORIES)
    assert not library.ask("who praised the broth?").abstained
    block_database(postgres_server, postgres_url, blocked=True)
    try:
        with pytest.raises(DatabaseUnavailableError):
            library.ask("who praised the broth?")
    finally:
        block_database(postgres_server, postgres_url, blocked=False)
    # The pool reconnects in the background, backing off (1 s, 2 s, ...) while the database
    # was away: a question in that gap still gets the short error, and the next one after
    # the pool's next attempt is answered, with no restart.
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        try:
            answer = library.ask("who praised the broth?")
            break
        except DatabaseUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert not answer.abstained
    library.add_articles([article("Comet seen", "A bright comet was seen over the sky.")])
    assert library.search("bright comet", k=1)[0].title == "Comet seen"
    library.close()
