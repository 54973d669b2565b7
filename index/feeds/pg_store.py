"""The feed state in the library's PostgreSQL database (migrations component "feeds"),
shared by every bot process and `python -m index watch` of one deployment.

One poller at a time per feed, across machines:

- `claim` leases due feeds in one statement: `SELECT … FOR UPDATE SKIP LOCKED` picks rows no
  other claimer is taking at this moment, and the UPDATE sets `lease_until` and
  `lease_owner`, so a feed already leased is not due for anyone else;
- a process id means nothing on another machine, so a lease names its owner by a key the
  owning process holds a session advisory lock on, from a connection of its own. When
  the process dies (even `kill -9`, or its machine), PostgreSQL closes that session and
  drops the lock, and its leases are taken over at the next claim; a process that hangs
  keeps its lock, and its leases end at `lease_until`.

Times (`now`, `lease_until`, `next_check`) come from the feeds' clock (FeedConfig.clock,
the machine's time): machines are assumed NTP-synchronised, which is far tighter than a
lease (5 minutes).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence

import psycopg

from index.errors import DatabaseUnavailableError
from index.feeds.state import FEED_COLUMNS, EntryRecord, Feed, SeenEntry, feed_from_row, iso
from index.pg.database import Database
from index.pg.migrations import Migration, migrate
from index.pg.urls import redact

COMPONENT = "feeds"
# The first key of every feed poller's liveness lock (pg_advisory_lock(class, owner)).
LIVENESS_CLASS = 7_310_318
MIGRATIONS = (
    Migration(1, "feeds, entries, article sources, retention", """
        CREATE TABLE feeds (
            id bigserial PRIMARY KEY,
            scope text NOT NULL,
            url text NOT NULL,
            origin text NOT NULL,
            title text,
            announce_channel bigint,
            added_at text NOT NULL,
            etag text,
            last_modified text,
            ttl_minutes integer,
            next_check double precision NOT NULL DEFAULT 0,
            lease_until double precision NOT NULL DEFAULT 0,
            lease_owner bigint,
            last_check text,
            last_success text,
            last_error text,
            last_note text,
            failures integer NOT NULL DEFAULT 0,
            gone boolean NOT NULL DEFAULT false,
            articles_added integer NOT NULL DEFAULT 0,
            UNIQUE (scope, url)
        );
        CREATE INDEX feeds_due ON feeds (next_check) WHERE NOT gone;
        CREATE TABLE feed_entries (
            feed_id bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
            entry_id text NOT NULL,
            link text,
            fingerprint text NOT NULL,
            source text NOT NULL,
            external_id text NOT NULL,
            article_id text,
            created boolean NOT NULL,
            first_seen text NOT NULL,
            PRIMARY KEY (feed_id, entry_id)
        );
        CREATE INDEX feed_entries_by_article ON feed_entries (article_id);
        CREATE TABLE feed_article_sources (
            article_id text NOT NULL,
            url text NOT NULL,
            feed_id bigint,
            seen_at text NOT NULL,
            PRIMARY KEY (article_id, url)
        );
        CREATE TABLE feed_retention (scope text PRIMARY KEY, days integer NOT NULL);
        -- The library's articles, looked up by link (article_with_link) to find a story
        -- another feed or a moderator already added. (The library is migrated first.)
        DO $$ BEGIN
            IF to_regclass('articles') IS NOT NULL THEN
                CREATE INDEX IF NOT EXISTS articles_by_url ON articles (url);
            END IF;
        END $$;
    """),
)

# A feed nobody holds: its lease ended, or its owner's liveness lock is gone (it died).
_LEASE_FREE = """(lease_until <= %(now)s OR lease_owner IS NULL OR lease_owner NOT IN (
    SELECT objid::bigint FROM pg_locks
    WHERE locktype = 'advisory' AND classid = %(class)s AND objsubid = 2 AND granted))"""


class PgFeedStore:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._owner = 0
        self._alive: psycopg.Connection | None = None  # holds the liveness lock
        self._alive_lock = threading.Lock()

    @classmethod
    def open(cls, database: Database) -> PgFeedStore:
        migrate(database, COMPONENT, MIGRATIONS)
        return cls(database)

    def close(self) -> None:
        """Lets go of the liveness lock (the database is the library's: it closes it)."""
        with self._alive_lock:
            if self._alive is not None:
                self._alive.close()
                self._alive = None

    # -- liveness -------------------------------------------------------------------------
    def _lease_params(self, now: float, lease: float) -> dict[str, object]:
        return {"now": now, "until": now + lease, "owner": self._live_owner(),
                "class": LIVENESS_CLASS}

    def _live_owner(self) -> int:
        """This store's owner key, its liveness lock held (taken again after an outage)."""
        with self._alive_lock:
            try:
                if self._alive is not None:
                    self._alive.execute("SELECT 1")
                    return self._owner
            except psycopg.Error:
                self._alive.close()
                self._alive = None
            try:
                connection = psycopg.connect(self._database.url, autocommit=True,
                                             connect_timeout=10)
                while True:
                    owner = secrets.randbelow(2**31 - 2) + 1
                    if connection.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                          (LIVENESS_CLASS, owner)).fetchone()[0]:
                        break
            except psycopg.Error as error:
                raise DatabaseUnavailableError(
                    f"The database at {redact(self._database.url)} is unavailable: "
                    f"{str(error).strip()[:200]}") from error
            self._alive, self._owner = connection, owner
            return owner

    # -- subscriptions --------------------------------------------------------------------
    def add(self, scope: str, url: str, *, origin: str, announce_channel: int | None = None,
            now: float) -> tuple[Feed, bool]:
        with self._database.transaction() as db:
            created = self._subscribe(db, scope, url, origin, announce_channel, now)
        return self._existing(scope, url), created

    def add_claimed(self, scope: str, url: str, *, origin: str, announce_channel: int | None,
                    now: float, lease: float) -> tuple[Feed, bool, bool]:
        params = {**self._lease_params(now, lease), "scope": scope, "url": url}
        with self._database.transaction() as db:
            created = self._subscribe(db, scope, url, origin, announce_channel, now)
            leased = db.execute(
                "UPDATE feeds SET lease_until = %(until)s, lease_owner = %(owner)s "
                f"WHERE scope = %(scope)s AND url = %(url)s AND {_LEASE_FREE}",
                params).rowcount > 0
        return self._existing(scope, url), created, leased

    @staticmethod
    def _subscribe(db: psycopg.Connection, scope: str, url: str, origin: str,
                   announce_channel: int | None, now: float) -> bool:
        created = db.execute(
            "INSERT INTO feeds (scope, url, origin, announce_channel, added_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, url) DO NOTHING",
            (scope, url, origin, announce_channel, iso(now))).rowcount > 0
        if not created:
            db.execute("UPDATE feeds SET announce_channel = %s, gone = false, next_check = 0 "
                       "WHERE scope = %s AND url = %s", (announce_channel, scope, url))
        return created

    def _existing(self, scope: str, url: str) -> Feed:
        feed = self.get(scope, url)
        assert feed is not None
        return feed

    def remove(self, scope: str, url: str) -> bool:
        with self._database.transaction() as db:
            return db.execute("DELETE FROM feeds WHERE scope = %s AND url = %s",
                              (scope, url)).rowcount > 0

    def _feeds(self, where: str, params: Sequence[object]) -> list[Feed]:
        with self._database.connection() as db:
            rows = db.execute(f"SELECT {FEED_COLUMNS} FROM feeds {where}", params).fetchall()
        return [feed_from_row(row) for row in rows]

    def get(self, scope: str, url: str) -> Feed | None:
        found = self._feeds("WHERE scope = %s AND url = %s", (scope, url))
        return found[0] if found else None

    def by_id(self, feed_id: int) -> Feed | None:
        found = self._feeds("WHERE id = %s", (feed_id,))
        return found[0] if found else None

    def list(self, scope: str | None = None) -> list[Feed]:
        if scope is None:
            return self._feeds("ORDER BY scope, id", ())
        return self._feeds("WHERE scope = %s ORDER BY id", (scope,))

    def sync_config(self, urls: Sequence[str], *, now: float) -> None:
        with self._database.transaction() as db:
            db.execute("DELETE FROM feeds WHERE scope = 'global' AND origin = 'config' "
                       "AND NOT url = ANY(%s)", (list(urls),))
            db.cursor().executemany("INSERT INTO feeds (scope, url, origin, added_at) VALUES "
                           "('global', %s, 'config', %s) ON CONFLICT (scope, url) DO NOTHING",
                           [(url, iso(now)) for url in urls])

    def stop_announcing(self, feed_id: int, note: str) -> None:
        with self._database.transaction() as db:
            db.execute("UPDATE feeds SET announce_channel = NULL, last_note = %s WHERE id = %s",
                       (note, feed_id))

    # -- scheduling -----------------------------------------------------------------------
    def claim(self, now: float, lease: float, *, scope: str | None = None,
              force: bool = False, feed_id: int | None = None) -> list[Feed]:
        params = {**self._lease_params(now, lease), "scope": scope, "feed_id": feed_id}
        where = f"NOT gone AND {_LEASE_FREE}"
        if not force:
            where += " AND next_check <= %(now)s"
        if scope is not None:
            where += " AND scope = %(scope)s"
        if feed_id is not None:
            where += " AND id = %(feed_id)s"
        columns = ", ".join(f"f.{column.strip()}" for column in FEED_COLUMNS.split(","))
        with self._database.transaction() as db:
            rows = db.execute(
                f"WITH due AS (SELECT id FROM feeds WHERE {where} "
                "ORDER BY next_check, id FOR UPDATE SKIP LOCKED) "
                "UPDATE feeds f SET lease_until = %(until)s, lease_owner = %(owner)s "
                f"FROM due WHERE f.id = due.id RETURNING {columns}", params).fetchall()
        return sorted(map(feed_from_row, rows), key=lambda feed: (feed.next_check, feed.id))

    def next_due(self) -> float | None:
        with self._database.connection() as db:
            row = db.execute("SELECT min(greatest(next_check, lease_until)) FROM feeds "
                             "WHERE NOT gone").fetchone()
        return row[0] if row and row[0] is not None else None

    # -- entries --------------------------------------------------------------------------
    def seen_entries(self, feed_id: int) -> dict[str, SeenEntry]:
        with self._database.connection() as db:
            rows = db.execute(
                "SELECT entry_id, fingerprint, source, external_id, article_id, created "
                "FROM feed_entries WHERE feed_id = %s", (feed_id,)).fetchall()
        return {row[0]: SeenEntry(*row[1:5], created=row[5]) for row in rows}

    def article_with_link(self, link: str, scopes: Sequence[str]) -> str | None:
        with self._database.connection() as db:
            row = db.execute("SELECT id FROM articles WHERE url = %s AND scope = ANY(%s) "
                             "LIMIT 1", (link, list(scopes))).fetchone()
        return row[0] if row else None

    def record_success(self, feed_id: int, entries: Sequence[EntryRecord], *, now: float,
                       next_check: float, etag: str | None, last_modified: str | None,
                       ttl_minutes: int | None, title: str | None, note: str | None,
                       added: int, feed_url: str) -> None:
        with self._database.transaction() as db:
            db.cursor().executemany(
                "INSERT INTO feed_entries AS e (feed_id, entry_id, link, fingerprint, source, "
                "external_id, article_id, created, first_seen) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (feed_id, entry_id) "
                "DO UPDATE SET link = excluded.link, fingerprint = excluded.fingerprint, "
                "article_id = excluded.article_id, created = e.created OR excluded.created",
                [(feed_id, entry.entry_id, entry.link, entry.fingerprint, entry.source,
                  entry.external_id, entry.article_id, entry.created, iso(now))
                 for entry in entries])
            db.cursor().executemany(
                "INSERT INTO feed_article_sources (article_id, url, feed_id, seen_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(entry.article_id, entry.link or feed_url, feed_id, iso(now))
                 for entry in entries if entry.article_id is not None])
            db.execute(
                "UPDATE feeds SET etag = %s, last_modified = %s, ttl_minutes = %s, "
                "title = coalesce(%s, title), next_check = %s, lease_until = 0, "
                "lease_owner = NULL, last_check = %s, last_success = %s, last_error = NULL, "
                "last_note = %s, failures = 0, articles_added = articles_added + %s "
                "WHERE id = %s",
                (etag, last_modified, ttl_minutes, title, next_check, iso(now), iso(now), note,
                 added, feed_id))

    def record_failure(self, feed_id: int, error: str, *, now: float, next_check: float,
                       gone: bool = False) -> None:
        with self._database.transaction() as db:
            db.execute(
                "UPDATE feeds SET next_check = %s, lease_until = 0, lease_owner = NULL, "
                "last_check = %s, last_error = %s, failures = failures + 1, gone = %s "
                "WHERE id = %s", (next_check, iso(now), error, gone, feed_id))

    def sources_of(self, article_id: str) -> list[str]:
        with self._database.connection() as db:
            rows = db.execute("SELECT url FROM feed_article_sources WHERE article_id = %s "
                              "ORDER BY seen_at, url", (article_id,)).fetchall()
        return [row[0] for row in rows]

    # -- retention ------------------------------------------------------------------------
    def set_retention(self, scope: str, days: int | None) -> None:
        with self._database.transaction() as db:
            if days:
                db.execute("INSERT INTO feed_retention (scope, days) VALUES (%s, %s) "
                           "ON CONFLICT (scope) DO UPDATE SET days = excluded.days",
                           (scope, days))
            else:
                db.execute("DELETE FROM feed_retention WHERE scope = %s", (scope,))

    def retention(self, scope: str) -> int | None:
        with self._database.connection() as db:
            row = db.execute("SELECT days FROM feed_retention WHERE scope = %s",
                             (scope,)).fetchone()
        return int(row[0]) if row else None

    def retentions(self) -> dict[str, int]:
        with self._database.connection() as db:
            return dict(db.execute("SELECT scope, days FROM feed_retention").fetchall())

    def expired_articles(self, scope: str, before: str) -> list[str]:
        with self._database.connection() as db:
            rows = db.execute(
                "SELECT DISTINCT a.id FROM feed_entries e JOIN articles a ON a.id = e.article_id "
                "WHERE e.created AND a.scope = %s "
                "AND coalesce(a.date, substr(e.first_seen, 1, 10)) < %s",
                (scope, before)).fetchall()
        return [row[0] for row in rows]
