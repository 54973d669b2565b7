"""The feed state's contract on both backends (SQLite in the index folder, PostgreSQL), each
store opened twice as two pollers (processes) would: subscriptions, one poller per feed at a
time, leases that end, what a poll records; and on PostgreSQL, a poller killed with -9 lets
go of its feeds at once, whatever machine it ran on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from index.feeds.pg_store import PgFeedStore
from index.feeds.sqlite_store import SqliteFeedStore
from index.feeds.state import EntryRecord, FeedStore
from index.pg.database import Database
from tests.conftest import PROJECT_DIR

NOW = 1_800_000_000.0
LEASE = 300.0
Opener = Callable[[], FeedStore]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens another poller's store on the same state (a file, or a database through a
    pool of its own)."""
    opened: list[tuple[FeedStore, Database | None]] = []

    def opener() -> FeedStore:
        if request.param == "sqlite":
            opened.append((SqliteFeedStore.for_index(tmp_path / "index"), None))
        else:
            database = Database.open(request.getfixturevalue("postgres_url"), max_connections=4)
            opened.append((PgFeedStore.open(database), database))
        return opened[-1][0]

    yield opener
    for store, database in opened:
        store.close()
        if database is not None:
            database.close()


def record_success(store: FeedStore, feed_id: int, *entries: EntryRecord,
                   next_check: float = NOW + 900) -> None:
    store.record_success(feed_id, entries, now=NOW, next_check=next_check, etag='"v1"',
                         last_modified=None, ttl_minutes=None, title="Celebrity news",
                         note=None, added=len(entries), feed_url="https://news.example/rss")


def test_subscriptions(open_store: Opener) -> None:
    store = open_store()
    feed, created = store.add("global", "https://news.example/rss", origin="cli", now=NOW)
    assert created and feed.url == "https://news.example/rss" and feed.guild_id is None
    again, created = store.add("global", "https://news.example/rss", origin="cli",
                               announce_channel=5, now=NOW)
    assert not created and again.id == feed.id and again.announce_channel == 5
    server, _ = store.add("111", "https://news.example/rss", origin="discord", now=NOW)
    assert server.id != feed.id and server.guild_id == 111
    assert [f.id for f in open_store().list("111")] == [server.id]  # seen by the other
    assert store.by_id(server.id) == store.get("111", "https://news.example/rss") == server
    store.sync_config(["https://a.example/rss", "https://b.example/rss"], now=NOW)
    store.sync_config(["https://b.example/rss"], now=NOW)  # a.example was dropped
    assert [f.url for f in store.list("global")] == ["https://news.example/rss",
                                                     "https://b.example/rss"]
    assert store.remove("111", "https://news.example/rss") is True
    assert store.remove("111", "https://news.example/rss") is False
    assert {f.scope for f in store.list()} == {"global"}


def test_one_poller_per_feed_until_it_records_or_its_lease_ends(open_store: Opener) -> None:
    first, second = open_store(), open_store()
    feed, _ = first.add("global", "https://news.example/rss", origin="cli", now=NOW)
    other, _ = first.add("global", "https://other.example/rss", origin="cli", now=NOW)
    assert [f.id for f in first.claim(NOW, LEASE)] == [feed.id, other.id]
    assert second.claim(NOW + 1, LEASE) == []
    assert second.claim(NOW + 1, LEASE, force=True) == []  # even forced: it is being polled
    assert first.next_due() == NOW + LEASE
    record_success(first, feed.id)  # done: let go, next check in 15 minutes
    assert second.claim(NOW + 2, LEASE) == []  # not due yet
    assert [f.id for f in second.claim(NOW + 2, LEASE, force=True, feed_id=feed.id)] == [
        feed.id]
    # The first poller hangs on `other`: its lease ends, and the second takes it over.
    assert [f.id for f in second.claim(NOW + LEASE + 1, LEASE)] == [other.id]
    _, _, leased = first.add_claimed("global", "https://other.example/rss", origin="cli",
                                     announce_channel=None, now=NOW + LEASE + 2, lease=LEASE)
    assert not leased  # held by the second now


def test_many_claims_at_once_lease_each_feed_once(open_store: Opener) -> None:
    stores = [open_store(), open_store()]
    for n in range(12):
        stores[0].add("global", f"https://news{n}.example/rss", origin="cli", now=NOW)
    start = threading.Barrier(6)
    claimed: list[int] = []

    def claim(store: FeedStore) -> None:
        start.wait()
        claimed.extend(feed.id for feed in store.claim(NOW, LEASE))

    threads = [threading.Thread(target=claim, args=(stores[n % 2],)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(feed.id for feed in stores[0].list())


def test_what_a_poll_records(open_store: Opener) -> None:
    store = open_store()
    feed, _ = store.add("111", "https://news.example/rss", origin="discord", now=NOW)
    store.claim(NOW, LEASE)
    kim = EntryRecord("guid-kim", "https://news.example/kim", "fp1", "https://news.example/kim",
                      "ext1", "a1", created=True)
    copy = EntryRecord("guid-copy", "https://copy.example/kim", "fp2", "", "", "a1",
                       created=False)
    record_success(store, feed.id, kim, copy)
    recorded = open_store().by_id(feed.id)
    assert recorded is not None and recorded.title == "Celebrity news" and recorded.etag == '"v1"'
    assert (recorded.articles_added, recorded.failures, recorded.last_error) == (2, 0, None)
    seen = store.seen_entries(feed.id)
    assert set(seen) == {"guid-kim", "guid-copy"} and seen["guid-kim"].created
    assert store.sources_of("a1") == ["https://copy.example/kim", "https://news.example/kim"]
    edited = EntryRecord("guid-kim", "https://news.example/kim", "fp3", "", "", "a1",
                         created=False)
    record_success(store, feed.id, edited)
    assert store.seen_entries(feed.id)["guid-kim"].created  # made by it stays so
    store.record_failure(feed.id, "HTTP 410", now=NOW, next_check=NOW + 60, gone=True)
    gone = store.by_id(feed.id)
    assert gone is not None and gone.gone and gone.failures == 1
    assert store.claim(NOW + 3600, LEASE, force=True) == []  # gone: never polled
    store.set_retention("111", 30)
    store.set_retention("222", 7)
    store.set_retention("222", None)
    assert store.retention("111") == 30 and store.retentions() == {"111": 30}


KILLED_POLLER = textwrap.dedent("""
    import sys, time
    from index.feeds.pg_store import PgFeedStore
    from index.pg.database import Database
    store = PgFeedStore.open(Database.open(sys.argv[1]))
    print(len(store.claim(float(sys.argv[2]), 300.0)), flush=True)
    time.sleep(600)
""")


@pytest.mark.postgres
def test_a_poller_killed_mid_poll_lets_go_at_once(postgres_url: str) -> None:
    database = Database.open(postgres_url)
    store = PgFeedStore.open(database)
    try:
        store.add("global", "https://news.example/rss", origin="cli", now=NOW)
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_POLLER, postgres_url, str(NOW)], cwd=PROJECT_DIR,
            env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)}, stdout=subprocess.PIPE,
            text=True)
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "1"
            assert store.claim(NOW + 1, LEASE, force=True) == []  # the child polls it
            os.kill(child.pid, signal.SIGKILL)
            child.wait(30)
        finally:
            if child.poll() is None:
                child.kill()
        # Its lease runs for minutes more, but its session (and liveness lock) is gone.
        claimed = store.claim(NOW + 2, LEASE, force=True)
        for _ in range(100):  # the server notices the closed socket a moment later
            if claimed:
                break
            threading.Event().wait(0.05)
            claimed = store.claim(NOW + 2, LEASE, force=True)
        assert [feed.url for feed in claimed] == ["https://news.example/rss"]
    finally:
        store.close()
        database.close()
