"""`python -m index feeds add|list|remove` and `python -m index watch`, called by index/cli.py.

`watch` is the bot's background poller without Discord: for cron (`--once`) or a service,
against the same library the bot serves, its index folder or its PostgreSQL database
(feeds are leased, so no two pollers poll one feed at once; writers take turns)."""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from corpus.feeds import canonical_link
from index.config import LibraryConfig
from index.embedder import Embedder
from index.errors import IndexError_
from index.feeds.config import FeedConfig
from index.feeds.service import Feeds
from index.feeds.sqlite_store import SqliteFeedStore
from index.feeds.state import Feed, FeedStore, iso
from index.library import open_library


@contextmanager
def _store(folder: Path, database_url: str | None) -> Iterator[FeedStore]:
    """The global feeds where the library is: its PostgreSQL database, else the folder."""
    database = None
    if database_url is None:
        store: FeedStore = SqliteFeedStore.for_index(folder)
    else:
        from index.feeds.pg_store import PgFeedStore  # psycopg only when configured
        from index.pg.database import Database

        database = Database.open(database_url)
        try:
            store = PgFeedStore.open(database)
        except BaseException:
            database.close()
            raise
    try:
        yield store
    finally:
        store.close()
        if database is not None:
            database.close()


def manage(action: str, url: str | None, folder: Path, out: TextIO, *,
           database_url: str | None = None) -> int:
    if action in ("add", "remove") and not url:
        print(f"error: feeds {action} needs a URL", file=sys.stderr)
        return 2
    try:
        with _store(folder, database_url) as store:
            return _manage(store, action, url, out)
    except IndexError_ as error:  # the database is unavailable, or its schema newer
        print(f"error: {error}", file=sys.stderr)
        return 2


def _manage(store: FeedStore, action: str, url: str | None, out: TextIO) -> int:
    if action == "list":
        feeds = store.list("global")
        if not feeds:
            print("No global feeds. Add one: python -m index feeds add URL", file=out)
        for feed in feeds:
            print(describe(feed), file=out)
        return 0
    link = canonical_link(url)
    if link is None:
        print(f"error: {url} is not an http(s) link", file=sys.stderr)
        return 2
    if action == "add":
        _, created = store.add("global", link, origin="cli", now=time.time())
        print(f"{'Added' if created else 'Already subscribed to'} {link}; "
              "`python -m index watch` (or the bot) polls it.", file=out)
        return 0
    removed = store.remove("global", link)
    print(f"Removed {link}; its articles stay." if removed else f"No global feed {link}.",
          file=out)
    return 0 if removed else 1


def describe(feed: Feed) -> str:
    """One line: the feed, how it is doing, what it has added."""
    if feed.gone:
        state = f"GONE: {feed.last_error}"
    elif feed.last_error:
        state = f"ERROR: {feed.last_error}"
    elif feed.last_success:
        state = f"ok, checked {feed.last_success}"
    else:
        state = "not checked yet"
    text = f"{feed.url}  [{feed.origin}] {state}; {feed.articles_added} articles added"
    if feed.last_success and feed.last_error:
        text += f"; last success {feed.last_success}"
    if feed.last_note:
        text += f" ({feed.last_note})"
    if not feed.gone and feed.last_check:
        text += f"; next check {iso(feed.next_check)}"
    return text


def watch(folder: Path, embedder: Embedder, library_config: LibraryConfig, out: TextIO, *,
          once: bool, interval: float | None) -> int:
    try:
        config = FeedConfig.from_env()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if interval is not None:
        if interval <= 0:
            print("error: --interval must be greater than 0", file=sys.stderr)
            return 2
        config = dataclasses.replace(config, interval_seconds=interval)
    if not logging.getLogger().handlers:  # each feed has its line on stdout; crashes here
        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(message)s")
    library = open_library(library_config, embedder, folder=folder, create=True)
    feeds = Feeds(library, config)
    try:
        while True:
            results, wait = feeds.poll_round()
            for result in results:
                print(result.line(), file=out, flush=True)
            if once:
                if not results:
                    print("No feed is due.", file=out)
                return 0
            time.sleep(wait)
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 0
    finally:
        feeds.close()
        library.close()
