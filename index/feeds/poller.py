"""Polling feeds like a good feed reader, and turning their entries into library articles.

`FeedPoller.poll_due()` claims the feeds that are due (a lease, so the bot and `watch`
never poll one feed at once), downloads them a few at a time with a conditional GET, and
ingests what is new or edited. Per entry:

- seen before with the same text: nothing to do (an unchanged feed usually costs a 304);
- seen before with new text (an edit): the same article is updated (same source and
  external id, so the same article id);
- new, but its link is already held in the scope (another feed, a moderator): one more
  source for that article;
- new: its text (the linked page's full text when the entry is only a summary; the summary
  when the page fails) is added; a near-copy of a held article (same content hash) is
  recognised by the library and recorded as another source.

Every failure becomes the feed's `last_error` and a back-off; it never stops other feeds.
Blocking code: the bot runs it through asyncio.to_thread.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from corpus.errors import CorpusError
from corpus.feeds import FeedEntry, ParsedFeed, parse_feed
from corpus.loaders import article_from_text
from corpus.records import Article
from corpus.web import HTTPStatusError, fetch_conditional, fetch_page_article
from index.feeds.config import FeedConfig
from index.feeds.state import EntryRecord, Feed, FeedStore, SeenEntry
from index.ingest import article_id_for
from index.library import Library
from index.results import AddReport
from index.store import visible_scopes

log = logging.getLogger(__name__)

Outcome = Literal["new", "unchanged", "not-modified", "error", "gone"]
MAX_NOTE_CHARS = 300


@dataclass(frozen=True)
class NewArticle:
    """What an announcement shows."""

    article_id: str
    title: str
    date: str | None
    url: str | None


@dataclass
class PollResult:
    feed: Feed
    outcome: Outcome
    added: list[NewArticle] = field(default_factory=list)
    updated: int = 0
    copies: int = 0  # entries that were already held (same link or near-copy)
    entries: int = 0  # read from the feed this time
    error: str | None = None
    retry: str | None = None  # after an error: how many failures, when the next try is
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        """One line for `watch` and the logs."""
        where = self.feed.url if self.feed.scope == "global" else (
            f"{self.feed.url} (server {self.feed.scope})")
        if self.outcome == "not-modified":
            text = f"304  {where}: not modified"
        elif self.outcome in ("error", "gone"):
            text = f"{'GONE' if self.outcome == 'gone' else 'ERR '} {where}: {self.error}"
            if self.retry:
                text += f" ({self.retry})"
        else:
            text = (f"ok   {where}: {len(self.added)} new, {self.updated} updated, "
                    f"{self.copies} already held, {self.entries} entries read")
        if self.notes:
            text += f" ({'; '.join(self.notes)})"
        return f"{text} [{self.seconds:.1f} s]"


class FeedPoller:
    def __init__(self, library: Library, store: FeedStore, config: FeedConfig,
                 *, rng: random.Random | None = None) -> None:
        self.library = library
        self.store = store
        self.config = config
        self._rng = rng or random.Random()
        # Link look-ups and adds of one feed at a time: two feeds carrying the same link in
        # one poll must not both find it missing and add it twice.
        self._ingest_lock = threading.Lock()
        # Set when the bot closes: no new feed or page is started (their leases lapse).
        self.stopping = threading.Event()

    # -- running ------------------------------------------------------------------------
    def poll_due(self, *, scope: str | None = None, force: bool = False,
                 feed_id: int | None = None) -> list[PollResult]:
        """Poll what is due (everything in `scope` with force), then apply retention."""
        feeds = self.store.claim(self.config.clock(), self.config.lease_seconds, scope=scope,
                                 force=force, feed_id=feed_id)
        results = self.poll(feeds)
        self.apply_retention()
        return results

    def poll(self, feeds: Sequence[Feed]) -> list[PollResult]:
        if len(feeds) <= 1 or self.config.workers <= 1:
            return [self.poll_feed(feed) for feed in feeds]
        with ThreadPoolExecutor(min(self.config.workers, len(feeds)),
                                thread_name_prefix="feed") as pool:
            return list(pool.map(self.poll_feed, feeds))

    def poll_feed(self, feed: Feed) -> PollResult:
        """Never raises: whatever goes wrong is this feed's error alone."""
        started = time.monotonic()
        now = self.config.clock()
        if self.stopping.is_set():
            return PollResult(feed, "error", error="not polled: shutting down")
        try:
            result = self._poll(feed, now, started)
        except Exception as error:
            log.exception("Feed %s: unexpected error", feed.url)
            result = self._fail(feed, now, f"unexpected error ({type(error).__name__})")
        result.seconds = time.monotonic() - started
        level = logging.WARNING if result.outcome in ("error", "gone") else logging.INFO
        log.log(level, "Feed %s", result.line())
        return result

    # -- one feed -----------------------------------------------------------------------
    def _poll(self, feed: Feed, now: float, started: float) -> PollResult:
        config = self.config
        try:
            response = fetch_conditional(
                feed.url, etag=feed.etag, last_modified=feed.last_modified,
                timeout=config.fetch_timeout, max_bytes=config.fetch_max_bytes,
                allow_private_hosts=config.allow_private_urls)
        except HTTPStatusError as error:
            if error.status == 410:
                return self._fail(feed, now, f"{error}: the feed is gone, no longer polled",
                                  gone=True)
            return self._fail(feed, now, str(error))
        except CorpusError as error:
            return self._fail(feed, now, str(error))
        if response.status == 304:
            self.store.record_success(
                feed.id, [], now=now, next_check=self._next_check(feed, now),
                etag=response.etag or feed.etag,
                last_modified=response.last_modified or feed.last_modified,
                ttl_minutes=feed.ttl_minutes, title=None, note=feed.last_note, added=0,
                feed_url=feed.url)
            return PollResult(feed, "not-modified")
        try:
            parsed = parse_feed(response.body, max_items=config.max_items,
                                now=datetime.fromtimestamp(now, UTC))
        except CorpusError as error:
            return self._fail(feed, now, str(error))
        result = self._ingest(feed, parsed, now, deadline=started + config.poll_seconds)
        feed = replace(feed, ttl_minutes=parsed.ttl_minutes)
        note = "; ".join(result.poll.notes)[:MAX_NOTE_CHARS] or None
        self.store.record_success(
            feed.id, result.records, now=now, next_check=self._next_check(feed, now),
            etag=response.etag, last_modified=response.last_modified,
            ttl_minutes=parsed.ttl_minutes, title=parsed.title or None, note=note,
            added=len(result.poll.added), feed_url=feed.url)
        return result.poll

    def _ingest(self, feed: Feed, parsed: ParsedFeed, now: float, *,
                deadline: float) -> _Ingested:
        poll = PollResult(feed, "unchanged", entries=len(parsed.entries),
                          notes=list(parsed.notes))
        seen = self.store.seen_entries(feed.id)
        scopes = visible_scopes(feed.guild_id)
        cutoff = self._cutoff(feed.scope, now)
        today = _date(now)
        records: list[EntryRecord] = []
        pending: list[tuple[FeedEntry, SeenEntry | None]] = []
        for entry in parsed.entries:
            prior = seen.get(entry.entry_id)
            if prior is not None and prior.fingerprint == entry.fingerprint:
                continue
            if prior is not None and prior.article_id is not None and not prior.created:
                records.append(_record(entry, prior, prior.article_id, created=False))
                continue  # an edited copy of an article another source made: keep that one
            if prior is None and cutoff and (entry.published or today) < cutoff:
                records.append(_record(entry, None, None, created=False))
                continue  # older than the scope keeps: never added, never fetched again
            pending.append((entry, prior))
        pages = self._fetch_pages(pending, scopes, deadline, poll.notes)
        with self._ingest_lock:
            self._add(feed, pending, pages, scopes, today, poll, records)
        if poll.added or poll.updated:
            poll.outcome = "new"
        return _Ingested(poll, records)

    def _fetch_pages(self, pending: Sequence[tuple[FeedEntry, SeenEntry | None]],
                     scopes: tuple[str, ...], deadline: float,
                     notes: list[str]) -> dict[str, Article | None]:
        """Full text for summary-only entries, within the poll's page and time limits."""
        pages: dict[str, Article | None] = {}
        failed = skipped = 0
        for entry, prior in pending:
            if not entry.is_summary or entry.link is None:
                continue
            if prior is None and self.store.article_with_link(entry.link, scopes):
                continue  # held already: no page to fetch
            if (len(pages) >= self.config.max_pages or time.monotonic() >= deadline
                    or self.stopping.is_set()):
                skipped += 1
                continue
            pages[entry.entry_id] = page = self._page(entry.link)
            failed += page is None
        if failed:
            notes.append(f"{failed} linked pages could not be read (their summaries kept)")
        if skipped:
            notes.append(f"{skipped} entries kept their summaries (page limit for one poll)")
        return pages

    def _page(self, link: str) -> Article | None:
        config = self.config
        try:
            return fetch_page_article(link, timeout=config.fetch_timeout,
                                      max_bytes=config.fetch_max_bytes,
                                      allow_private_hosts=config.allow_private_urls)
        except CorpusError as error:
            log.info("Feed entry page %s not read: %s", link, error)
            return None

    def _add(self, feed: Feed, pending: Sequence[tuple[FeedEntry, SeenEntry | None]],
             pages: dict[str, Article | None], scopes: tuple[str, ...], today: str,
             poll: PollResult, records: list[EntryRecord]) -> None:
        batch: list[tuple[FeedEntry, SeenEntry | None, Article]] = []
        batch_links: dict[str, FeedEntry] = {}
        same_link_later: list[tuple[FeedEntry, FeedEntry]] = []
        for entry, prior in pending:
            if prior is None and entry.link is not None:
                held = self.store.article_with_link(entry.link, scopes)
                if held is not None:
                    records.append(_record(entry, None, held, created=False))
                    poll.copies += 1
                    continue
                if entry.link in batch_links:
                    same_link_later.append((entry, batch_links[entry.link]))
                    continue
                batch_links[entry.link] = entry
            article = _article(feed, entry, prior, pages.get(entry.entry_id), today)
            if article is not None:
                batch.append((entry, prior, article))
        report = (self.library.add_articles([a for _, _, a in batch], guild_id=feed.guild_id)
                  if batch else AddReport())
        held_ids = {*report.added, *report.updated, *report.unchanged}
        copy_of = dict(report.duplicates)
        made: dict[str, str] = {}
        for entry, prior, article in batch:
            article_id = article_id_for(feed.scope, article.key)
            if article_id in held_ids:
                records.append(_record(entry, article, article_id, created=True))
                made[entry.entry_id] = article_id
                if article_id in report.added:
                    poll.added.append(NewArticle(article_id, article.title, article.date,
                                                 article.url))
                elif article_id in report.updated:
                    poll.updated += 1
            elif article.source in copy_of:  # a near-copy of a held article
                records.append(_record(entry, article, copy_of[article.source], created=False))
                poll.copies += 1
            elif prior is not None:
                records.append(_record(entry, prior, prior.article_id, created=True))
        for entry, first in same_link_later:
            if first.entry_id in made:
                records.append(_record(entry, None, made[first.entry_id], created=False))
                poll.copies += 1

    # -- schedule -----------------------------------------------------------------------
    def _next_check(self, feed: Feed, now: float) -> float:
        interval = self.config.interval_for(feed.ttl_minutes)
        return now + interval * (1 + self._rng.uniform(-self.config.jitter, self.config.jitter))

    def _fail(self, feed: Feed, now: float, error: str, *, gone: bool = False) -> PollResult:
        failures = feed.failures + 1
        delay = min(self.config.interval_for(feed.ttl_minutes) * 2 ** min(failures - 1, 16),
                    self.config.max_backoff_seconds)
        delay *= 1 + self._rng.uniform(0, self.config.jitter)
        retry = None if gone else f"failed {failures}x; next try in {_span(delay)}"
        self.store.record_failure(feed.id, f"{error} ({retry})" if retry else error, now=now,
                                  next_check=now + delay, gone=gone)
        return PollResult(feed, "gone" if gone else "error", error=error, retry=retry)

    # -- retention ----------------------------------------------------------------------
    def _retention_days(self, scope: str) -> int | None:
        days = self.store.retention(scope)
        if scope == "global" and self.config.retention_days:
            days = self.config.retention_days
        return days

    def _cutoff(self, scope: str, now: float) -> str | None:
        days = self._retention_days(scope)
        return _date(now - days * 86400) if days else None

    def apply_retention(self) -> int:
        """Drop feed articles past their scope's retention; returns how many."""
        now = self.config.clock()
        scopes = set(self.store.retentions())
        if self.config.retention_days:
            scopes.add("global")
        removed = 0
        for scope in sorted(scopes):
            cutoff = self._cutoff(scope, now)
            if cutoff is None:
                continue
            guild_id = None if scope == "global" else int(scope)
            for article_id in self.store.expired_articles(scope, cutoff):
                removed += self.library.remove(article_id, guild_id=guild_id)
        if removed:
            log.info("Retention: %d feed articles past their scope's retention removed", removed)
        return removed


@dataclass
class _Ingested:
    poll: PollResult
    records: list[EntryRecord]


def _record(entry: FeedEntry, origin: Article | SeenEntry | None, article_id: str | None,
            *, created: bool) -> EntryRecord:
    if isinstance(origin, SeenEntry):
        source, external_id = origin.source, origin.external_id
    elif isinstance(origin, Article):
        source, external_id = origin.source, origin.external_id or ""
    else:
        source, external_id = "", ""
    return EntryRecord(entry.entry_id, entry.link, entry.fingerprint, source, external_id,
                       article_id, created)


def _article(feed: Feed, entry: FeedEntry, prior: SeenEntry | None, page: Article | None,
             today: str) -> Article | None:
    """The entry as an article under a key that stays the same when the entry is edited;
    None when it has no usable text."""
    text, date = entry.text, entry.published
    if page is not None and len(page.text.split()) > len(text.split()):
        text = page.text
        date = date or page.date
    if prior is not None and prior.created:
        source, external_id = prior.source, prior.external_id
    else:
        external_id = hashlib.sha256(entry.entry_id.encode()).hexdigest()[:16]
        source = entry.link or f"{feed.url}#{external_id}"
    try:
        article = article_from_text(entry.title, text, source=source, url=entry.link,
                                    date=date or today)
    except CorpusError:
        return None
    return replace(article, external_id=external_id)


def _date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{max(1, round(seconds / 60))} min"

