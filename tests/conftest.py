"""Fixtures shared by every test folder: the real model is loaded once per session.

Tests read only what the repository ships (samples/, files under tests/), so the suite
passes on any clone; nothing here may reach outside the project folder.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROJECT_DIR = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PROJECT_DIR / "samples" / "articles"
# The two seed articles, shipped in samples/articles (byte-for-byte, see samples/SOURCE.txt):
# seed 000 (North West at the Met Gala) and seed 002 (Kim's Japan trip, boilerplate kept).
SEED_FILES = (
    SAMPLE_DIR / "north-west-met-gala.txt",
    SAMPLE_DIR / "kim-kardashian-japan-trip.txt",
)


@pytest.fixture(scope="session")
def real_embedder():
    from index.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture
def fake_embedder():
    from index.embedder import FakeEmbedder

    return FakeEmbedder()


@pytest.fixture(scope="session")
def seeds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only the two seed articles (copied from samples/articles)."""
    folder = tmp_path_factory.mktemp("seeds")
    for path in SEED_FILES:
        shutil.copy2(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL 16 with pgvector (the pgserver wheel), started once per session;
    yields its admin URL. Skips, saying why, when it cannot start, unless
    SPOTLIGHT_REQUIRE_POSTGRES=1 (set by .ci/run) makes that a failure."""
    try:
        import pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    except Exception as error:  # any reason it cannot start is a skip reason
        reason = f"PostgreSQL (pgserver) could not start: {type(error).__name__}: {error}"
        if os.environ.get("SPOTLIGHT_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database for one test (dropped afterwards): its URL."""
    import psycopg

    name = f"spotlight_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield urlsplit(postgres_server)._replace(path=f"/{name}").geturl()
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_database(postgres_url: str):
    """An open `index.pg.database.Database` on a fresh database (closed afterwards)."""
    from index.pg.database import Database

    database = Database.open(postgres_url)
    yield database
    database.close()


def block_database(admin_url: str, url: str, *, blocked: bool) -> None:
    """An outage of one test database (the server stays up for the others): blocked=True
    refuses new connections and ends every open one; False lets them in again."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(not blocked).lower()}")
        if blocked:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
