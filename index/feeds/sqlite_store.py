"""The feed state in the embedded index's store.sqlite, beside the library's own tables
(the articles the feeds point to live there), in tables only this module writes.

Leases name this machine and process (`host:pid`): a lease held by a process of this
machine that no longer runs (killed mid-poll) is taken over at once, any other when it
ends.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from index.feeds.state import FEED_COLUMNS, EntryRecord, Feed, SeenEntry, feed_from_row, iso
from index.sqlite import ThreadConnections

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    url TEXT NOT NULL,
    origin TEXT NOT NULL,
    title TEXT,
    announce_channel INTEGER,
    added_at TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    ttl_minutes INTEGER,
    next_check REAL NOT NULL DEFAULT 0,
    lease_until REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    last_check TEXT,
    last_success TEXT,
    last_error TEXT,
    last_note TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    gone INTEGER NOT NULL DEFAULT 0,
    articles_added INTEGER NOT NULL DEFAULT 0,
    UNIQUE (scope, url)
);
CREATE TABLE IF NOT EXISTS feed_entries (
    feed_id INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    entry_id TEXT NOT NULL,
    link TEXT,
    fingerprint TEXT NOT NULL,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    article_id TEXT,
    created INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (feed_id, entry_id)
);
CREATE INDEX IF NOT EXISTS feed_entries_by_article ON feed_entries (article_id);
CREATE TABLE IF NOT EXISTS article_sources (
    article_id TEXT NOT NULL,
    url TEXT NOT NULL,
    feed_id INTEGER,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (article_id, url)
);
CREATE TABLE IF NOT EXISTS feed_retention (scope TEXT PRIMARY KEY, days INTEGER NOT NULL);
"""
# The library's articles table, looked up by link to find a story another feed (or a
# moderator) already added.
ARTICLES_BY_URL = "CREATE INDEX IF NOT EXISTS articles_by_url ON articles (url)"


HOST = socket.gethostname()
LEASE_OWNER = f"{HOST}:{os.getpid()}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True




class SqliteFeedStore(ThreadConnections):
    """Safe to use from several threads (see index/sqlite.py), in the library's store.sqlite."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with self.transaction() as db:
            db.executescript(SCHEMA)
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles'").fetchone():
                db.execute(ARTICLES_BY_URL)

    @classmethod
    def for_index(cls, folder: Path) -> SqliteFeedStore:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder / "store.sqlite")

    # -- subscriptions ------------------------------------------------------------------
    def add(self, scope: str, url: str, *, origin: str, announce_channel: int | None = None,
            now: float) -> tuple[Feed, bool]:
        """The feed and whether it is new; subscribing again updates the announce channel
        and wakes a feed that was gone."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO feeds (scope, url, origin, announce_channel, added_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, url) DO NOTHING",
                (scope, url, origin, announce_channel, iso(now)))
            created = cursor.rowcount > 0
            if not created:
                db.execute("UPDATE feeds SET announce_channel = ?, gone = 0, next_check = 0 "
                           "WHERE scope = ? AND url = ?", (announce_channel, scope, url))
        feed = self.get(scope, url)
        assert feed is not None
        return feed, created

    def add_claimed(self, scope: str, url: str, *, origin: str, announce_channel: int | None,
                    now: float, lease: float) -> tuple[Feed, bool, bool]:
        """`add`, and in the same transaction the feed leased to this process unless
        another poller holds it: (feed, created, leased). The first check then cannot race
        a background poll that finds the new feed due."""
        with self.transaction() as db:
            created = db.execute(
                "INSERT INTO feeds (scope, url, origin, announce_channel, added_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, url) DO NOTHING",
                (scope, url, origin, announce_channel, iso(now))).rowcount > 0
            if not created:
                db.execute("UPDATE feeds SET announce_channel = ?, gone = 0, next_check = 0 "
                           "WHERE scope = ? AND url = ?", (announce_channel, scope, url))
            leased = db.execute(
                "UPDATE feeds SET lease_until = ?, lease_owner = ? WHERE scope = ? AND url = ? "
                "AND lease_until <= ?", (now + lease, LEASE_OWNER, scope, url, now)).rowcount > 0
        feed = self.get(scope, url)
        assert feed is not None
        return feed, created, leased

    def remove(self, scope: str, url: str) -> bool:
        """The feed and its entry records go; its articles stay (they are the library's)."""
        with self.transaction() as db:
            return db.execute("DELETE FROM feeds WHERE scope = ? AND url = ?",
                              (scope, url)).rowcount > 0

    def get(self, scope: str, url: str) -> Feed | None:
        row = self.db.execute(f"SELECT {FEED_COLUMNS} FROM feeds WHERE scope = ? AND url = ?",
                              (scope, url)).fetchone()
        return feed_from_row(row) if row else None

    def by_id(self, feed_id: int) -> Feed | None:
        row = self.db.execute(f"SELECT {FEED_COLUMNS} FROM feeds WHERE id = ?",
                              (feed_id,)).fetchone()
        return feed_from_row(row) if row else None

    def list(self, scope: str | None = None) -> list[Feed]:
        if scope is None:
            rows = self.db.execute(f"SELECT {FEED_COLUMNS} FROM feeds ORDER BY scope, id")
        else:
            rows = self.db.execute(
                f"SELECT {FEED_COLUMNS} FROM feeds WHERE scope = ? ORDER BY id", (scope,))
        return [feed_from_row(row) for row in rows]

    def sync_config(self, urls: Sequence[str], *, now: float) -> None:
        """The operator's configured global feeds: add the listed, drop configured ones no
        longer listed (feeds added with the CLI are kept)."""
        with self.transaction() as db:
            listed = set(urls)
            configured = db.execute(
                "SELECT url FROM feeds WHERE scope = 'global' AND origin = 'config'").fetchall()
            for (url,) in configured:
                if url not in listed:
                    db.execute("DELETE FROM feeds WHERE scope = 'global' AND url = ?", (url,))
            for url in urls:
                db.execute("INSERT INTO feeds (scope, url, origin, added_at) VALUES "
                           "('global', ?, 'config', ?) ON CONFLICT (scope, url) DO NOTHING",
                           (url, iso(now)))

    def stop_announcing(self, feed_id: int, note: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE feeds SET announce_channel = NULL, last_note = ? WHERE id = ?",
                       (note, feed_id))

    # -- scheduling ---------------------------------------------------------------------
    def claim(self, now: float, lease: float, *, scope: str | None = None,
              force: bool = False, feed_id: int | None = None) -> list[Feed]:
        """Feeds due (all of the scope's with `force`) and not held by another poller,
        leased for `lease` seconds: two pollers (the bot and `watch`) never poll the same
        feed at once, and a poller killed mid-poll lets go when the lease ends."""
        where = ("gone = 0 AND (lease_until <= ? "
                 "OR lease_owner IN (SELECT value FROM json_each(?)))")
        params: list[object] = [now, json.dumps(self._dead_owners())]
        if not force:
            where += " AND next_check <= ?"
            params.append(now)
        if scope is not None:
            where += " AND scope = ?"
            params.append(scope)
        if feed_id is not None:
            where += " AND id = ?"
            params.append(feed_id)
        select = f"SELECT id FROM feeds WHERE {where} ORDER BY next_check, id"
        if not self.db.execute(select, params).fetchone():
            return []  # most rounds: nothing due, and no write lock taken for it
        with self.transaction() as db:
            ids = [row[0] for row in db.execute(select, params)]
            db.executemany("UPDATE feeds SET lease_until = ?, lease_owner = ? WHERE id = ?",
                           [(now + lease, LEASE_OWNER, feed_id) for feed_id in ids])
        return [feed for feed in map(self.by_id, ids) if feed is not None]

    def _dead_owners(self) -> list[str]:
        """Leases held by processes of this machine that no longer run (killed mid-poll):
        theirs are taken over at once instead of when the lease ends."""
        owners = [row[0] for row in self.db.execute(
            "SELECT DISTINCT lease_owner FROM feeds WHERE lease_owner LIKE ?",
            (f"{HOST}:%",))]
        return [owner for owner in owners if not _alive(int(owner.rsplit(":", 1)[1]))]

    def next_due(self) -> float | None:
        row = self.db.execute("SELECT MIN(MAX(next_check, lease_until)) FROM feeds "
                              "WHERE gone = 0").fetchone()
        return row[0] if row and row[0] is not None else None

    # -- entries ------------------------------------------------------------------------
    def seen_entries(self, feed_id: int) -> dict[str, SeenEntry]:
        rows = self.db.execute(
            "SELECT entry_id, fingerprint, source, external_id, article_id, created "
            "FROM feed_entries WHERE feed_id = ?", (feed_id,))
        return {row[0]: SeenEntry(*row[1:5], created=bool(row[5])) for row in rows}

    def article_with_link(self, link: str, scopes: Sequence[str]) -> str | None:
        """An article already held under this link, in what the feed's scope sees."""
        marks = ",".join("?" * len(scopes))
        row = self.db.execute(
            f"SELECT id FROM articles WHERE url = ? AND scope IN ({marks}) LIMIT 1",
            (link, *scopes)).fetchone()
        return row[0] if row else None

    def record_success(self, feed_id: int, entries: Sequence[EntryRecord], *, now: float,
                       next_check: float, etag: str | None, last_modified: str | None,
                       ttl_minutes: int | None, title: str | None, note: str | None,
                       added: int, feed_url: str) -> None:
        """Entries and the feed's new validators in one transaction: a crash before it
        leaves the feed to be fetched in full again (its articles dedupe by key)."""
        with self.transaction() as db:
            for entry in entries:
                db.execute(
                    "INSERT INTO feed_entries (feed_id, entry_id, link, fingerprint, source, "
                    "external_id, article_id, created, first_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (feed_id, entry_id) DO "
                    "UPDATE SET link = excluded.link, fingerprint = excluded.fingerprint, "
                    "article_id = excluded.article_id, "
                    "created = MAX(created, excluded.created)",
                    (feed_id, entry.entry_id, entry.link, entry.fingerprint, entry.source,
                     entry.external_id, entry.article_id, int(entry.created), iso(now)))
                if entry.article_id is not None:
                    db.execute(
                        "INSERT INTO article_sources (article_id, url, feed_id, seen_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (entry.article_id, entry.link or feed_url, feed_id, iso(now)))
            db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, ttl_minutes = ?, "
                "title = COALESCE(?, title), next_check = ?, lease_until = 0, "
                "lease_owner = NULL, last_check = ?, "
                "last_success = ?, last_error = NULL, last_note = ?, failures = 0, "
                "articles_added = articles_added + ? WHERE id = ?",
                (etag, last_modified, ttl_minutes, title, next_check, iso(now), iso(now), note,
                 added, feed_id))

    def record_failure(self, feed_id: int, error: str, *, now: float, next_check: float,
                       gone: bool = False) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE feeds SET next_check = ?, lease_until = 0, lease_owner = NULL, "
                "last_check = ?, "
                "last_error = ?, failures = failures + 1, gone = ? WHERE id = ?",
                (next_check, iso(now), error, int(gone), feed_id))

    def sources_of(self, article_id: str) -> list[str]:
        return [row[0] for row in self.db.execute(
            "SELECT url FROM article_sources WHERE article_id = ? ORDER BY seen_at, url",
            (article_id,))]

    # -- retention ----------------------------------------------------------------------
    def set_retention(self, scope: str, days: int | None) -> None:
        with self.transaction() as db:
            if days:
                db.execute("INSERT INTO feed_retention (scope, days) VALUES (?, ?) "
                           "ON CONFLICT (scope) DO UPDATE SET days = excluded.days",
                           (scope, days))
            else:
                db.execute("DELETE FROM feed_retention WHERE scope = ?", (scope,))

    def retention(self, scope: str) -> int | None:
        row = self.db.execute("SELECT days FROM feed_retention WHERE scope = ?",
                              (scope,)).fetchone()
        return int(row[0]) if row else None

    def retentions(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT scope, days FROM feed_retention").fetchall())

    def expired_articles(self, scope: str, before: str) -> list[str]:
        """Articles a feed made in `scope`, published (else first seen) before `before`."""
        return [row[0] for row in self.db.execute(
            "SELECT DISTINCT a.id FROM feed_entries e JOIN articles a ON a.id = e.article_id "
            "WHERE e.created = 1 AND a.scope = ? "
            "AND COALESCE(a.date, substr(e.first_seen, 1, 10)) < ?", (scope, before))]
