"""Feed state: subscriptions and what each feed has delivered, behind one protocol.

`FeedStore` is what the feeds service and poller need. Two backends implement it:
`SqliteFeedStore` (index/feeds/sqlite_store.py, in the embedded index's store.sqlite) and
`PgFeedStore` (index/feeds/pg_store.py, in the library's PostgreSQL database, shared by
every process); `open_feed_store` picks the library's. What they keep:

- feeds: one row per (scope, url): conditional-GET validators, schedule, failures, the
  last error, where new articles are announced, and a lease while a poller checks it;
- feed entries: every entry seen per feed (its id, canonical link, a fingerprint of its
  text) and the article it became, so an unchanged entry is skipped and an edited one
  updates its article;
- article sources: every link and feed that carried an article (a syndicated story is
  stored once and keeps all of them);
- retention: per scope, days after which feed articles are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from index.library import Library


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Feed:
    id: int
    scope: str
    url: str
    origin: str  # "config", "cli" or "discord"
    title: str | None
    announce_channel: int | None
    etag: str | None
    last_modified: str | None
    ttl_minutes: int | None
    next_check: float
    last_check: str | None
    last_success: str | None
    last_error: str | None
    last_note: str | None
    failures: int
    gone: bool
    articles_added: int

    @property
    def guild_id(self) -> int | None:
        return None if self.scope == "global" else int(self.scope)


FEED_COLUMNS = (
    "id, scope, url, origin, title, announce_channel, etag, last_modified, ttl_minutes, "
    "next_check, last_check, last_success, last_error, last_note, failures, gone, "
    "articles_added"
)


@dataclass(frozen=True)
class SeenEntry:
    fingerprint: str
    source: str
    external_id: str
    article_id: str | None
    created: bool  # this feed's entry made the article (else it found it held)


@dataclass(frozen=True)
class EntryRecord:
    """One entry's outcome in a poll, written with the feed's new state in one transaction."""

    entry_id: str
    link: str | None
    fingerprint: str
    source: str
    external_id: str
    article_id: str | None
    created: bool  # this entry's text made (or updated) the article


def feed_from_row(row: Sequence[object]) -> Feed:
    """A Feed from a row of FEED_COLUMNS."""
    values = list(row)
    values[15] = bool(values[15])
    return Feed(*values)  # type: ignore[arg-type]


class FeedStore(Protocol):
    """Safe to use from several threads. Times are seconds since the epoch (the feeds'
    clock, FeedConfig.clock)."""

    # -- subscriptions
    def add(self, scope: str, url: str, *, origin: str, announce_channel: int | None = None,
            now: float) -> tuple[Feed, bool]:
        """The feed and whether it is new; subscribing again updates the announce channel
        and wakes a feed that was gone."""
        ...

    def add_claimed(self, scope: str, url: str, *, origin: str, announce_channel: int | None,
                    now: float, lease: float) -> tuple[Feed, bool, bool]:
        """`add`, and in the same transaction the feed leased to this process unless
        another poller holds it: (feed, created, leased)."""
        ...

    def remove(self, scope: str, url: str) -> bool: ...

    def get(self, scope: str, url: str) -> Feed | None: ...

    def by_id(self, feed_id: int) -> Feed | None: ...

    def list(self, scope: str | None = None) -> list[Feed]: ...

    def sync_config(self, urls: Sequence[str], *, now: float) -> None:
        """The operator's configured global feeds: add the listed, drop configured ones no
        longer listed (feeds added with the CLI are kept)."""
        ...

    def stop_announcing(self, feed_id: int, note: str) -> None: ...

    # -- scheduling
    def claim(self, now: float, lease: float, *, scope: str | None = None,
              force: bool = False, feed_id: int | None = None) -> list[Feed]:
        """Feeds due (all of the scope's with `force`) and not held by another poller,
        leased for `lease` seconds: no two pollers poll one feed at once, and a poller
        that died mid-poll lets go (at once when that can be known, else when the lease
        ends)."""
        ...

    def next_due(self) -> float | None: ...

    # -- entries
    def seen_entries(self, feed_id: int) -> dict[str, SeenEntry]: ...

    def article_with_link(self, link: str, scopes: Sequence[str]) -> str | None:
        """An article already held under this link, in what the feed's scope sees."""
        ...

    def record_success(self, feed_id: int, entries: Sequence[EntryRecord], *, now: float,
                       next_check: float, etag: str | None, last_modified: str | None,
                       ttl_minutes: int | None, title: str | None, note: str | None,
                       added: int, feed_url: str) -> None:
        """Entries and the feed's new validators in one transaction (and its lease let go):
        a crash before it leaves the feed to be fetched in full again."""
        ...

    def record_failure(self, feed_id: int, error: str, *, now: float, next_check: float,
                       gone: bool = False) -> None: ...

    def sources_of(self, article_id: str) -> list[str]: ...

    # -- retention
    def set_retention(self, scope: str, days: int | None) -> None: ...

    def retention(self, scope: str) -> int | None: ...

    def retentions(self) -> dict[str, int]: ...

    def expired_articles(self, scope: str, before: str) -> list[str]:
        """Articles a feed made in `scope`, published (else first seen) before `before`."""
        ...

    def close(self) -> None: ...


def open_feed_store(library: Library) -> FeedStore:
    """The library's backend: its PostgreSQL database, else its index folder."""
    database = library.database
    if database is None:
        from index.feeds.sqlite_store import SqliteFeedStore

        return SqliteFeedStore.for_index(library.folder)
    from index.feeds.pg_store import PgFeedStore  # psycopg only when configured

    return PgFeedStore.open(database)
