"""The feed poller against a local news site (tests/feedserver.py) with a clock the test
moves: new items, an edit, a 304, a syndicated copy, errors, restarts, retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from index.embedder import FakeEmbedder
from index.feeds import FeedConfig, Feeds
from index.library import Library
from tests.feedserver import FeedServer, item
from tests.index.backends import Backend

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GUILD_A, GUILD_B = 111, 222
KIM_SUMMARY = "Kim Kardashian took North to Japan, and fans were not pleased."
KIM_PAGE = [
    "Kim Kardashian has been vacationing in Japan with her daughter North West, and her "
    "latest photos sparked comments criticizing her.",
    "People complained that she was on a solo trip with North while leaving her other kids "
    "Saint, Chicago and Psalm at home in Los Angeles.",
]
MET_TEXT = ("North West blasted her mother Kim Kardashian after she was left behind at the "
            "Met Gala, where the theme honoured Karl Lagerfeld this year.")
TAYLOR_TEXT = ("Taylor Swift announced three more concerts in Tokyo after the first dates "
               "sold out within an hour, her label said on Monday.")


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta).total_seconds()

    @property
    def date(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


def make_config(clock: Clock, **overrides) -> FeedConfig:
    fields = {"allow_private_urls": True, "clock": clock, "jitter": 0.0, "fetch_timeout": 3.0,
              "workers": 2}
    fields.update(overrides)
    return FeedConfig(**fields)


@pytest.fixture
def library(library_backend: Backend) -> Iterator[Library]:
    """On each backend: the feed state lives beside the library (index/feeds/state.py)."""
    opened = library_backend.open(FakeEmbedder(), create=True)
    yield opened
    opened.close()


@pytest.fixture
def feeds(library: Library, clock: Clock) -> Iterator[Feeds]:
    service = Feeds(library, make_config(clock))
    yield service
    service.close()


def serve_celebrity_feed(site: FeedServer, *extra) -> None:
    site.page("/kim", "Kim in Japan", KIM_PAGE, date="2026-11-19T08:00:00Z")
    site.feed("/celeb.xml", [
        item("Kim in Japan", "/kim?utm_source=rss&utm_medium=feed#top", KIM_SUMMARY,
             guid="kim-1", date=START - timedelta(days=1)),
        item("North at the Met Gala", "/north", MET_TEXT, guid="north-1",
             date=START - timedelta(days=3)),
        *extra,
    ])


def test_first_poll_adds_entries_with_full_text_dates_and_canonical_links(
        site: FeedServer, feeds: Feeds, library: Library) -> None:
    serve_celebrity_feed(site)
    feeds.subscribe(site.url("/celeb.xml"), guild_id=None, origin="cli")
    [result] = feeds.poll_due()
    assert result.outcome == "new" and len(result.added) == 2, result.line()
    kim = next(a for a in result.added if a.title == "Kim in Japan")
    assert kim.url == site.url("/kim") and kim.date == "2026-11-19"
    held = library.get_article(kim.article_id)
    assert held is not None and held.url == site.url("/kim")
    answer = library.search("Saint Chicago Psalm Los Angeles", k=1)
    assert answer[0].article_id == kim.article_id  # the page's text, not only the summary
    # /north has no page: its entry's own text is kept
    assert library.search("Karl Lagerfeld", k=1)[0].title == "North at the Met Gala"
    [feed] = feeds.list(guild_id=None)
    assert feed.last_success and feed.last_error is None and feed.articles_added == 2


def test_unchanged_feed_costs_a_304_and_is_not_polled_before_its_interval(
        site: FeedServer, feeds: Feeds, clock: Clock) -> None:
    serve_celebrity_feed(site)
    feeds.subscribe(site.url("/celeb.xml"), guild_id=None, origin="cli")
    feeds.poll_due()
    assert feeds.poll_due() == []  # not due yet
    clock.advance(minutes=16)
    page_hits = site.hits["/kim"]
    [result] = feeds.poll_due()
    assert result.outcome == "not-modified", result.line()
    assert site.hits["/kim"] == page_hits


def test_ttl_and_minimum_interval_are_respected(site: FeedServer, library: Library,
                                                clock: Clock) -> None:
    site.feed("/slow.xml", [item("Taylor in Tokyo", None, TAYLOR_TEXT, guid="t")], ttl=60)
    service = Feeds(library, make_config(clock, interval_seconds=60))
    service.subscribe(site.url("/slow.xml"), guild_id=None, origin="cli")
    assert len(service.poll_due()) == 1
    clock.advance(minutes=30)  # past 15 min and the 5 min minimum, but the feed asks for 60
    assert service.poll_due() == []
    clock.advance(minutes=31)
    assert len(service.poll_due()) == 1
    service.close()


def test_new_and_edited_entries_update_without_duplicates(
        site: FeedServer, feeds: Feeds, library: Library, clock: Clock) -> None:
    serve_celebrity_feed(site)
    feeds.subscribe(site.url("/celeb.xml"), guild_id=None, origin="cli")
    [first] = feeds.poll_due()
    north_id = next(a.article_id for a in first.added if a.title.startswith("North"))
    site.feed("/celeb.xml", [
        item("Taylor in Tokyo", "/taylor", TAYLOR_TEXT, guid="taylor-1", date=START),
        item("Kim in Japan", "/kim?utm_source=rss", KIM_SUMMARY, guid="kim-1",
             date=START - timedelta(days=1)),
        item("North at the Met Gala", "/north", MET_TEXT + " She later apologised on TikTok.",
             guid="north-1", date=START - timedelta(days=3)),
    ])
    clock.advance(minutes=16)
    [second] = feeds.poll_due()
    assert [a.title for a in second.added] == ["Taylor in Tokyo"], second.line()
    assert second.updated == 1
    assert library.count_articles() == 3
    assert library.search("apologised TikTok", k=1)[0].article_id == north_id


def test_same_story_on_two_feeds_is_one_article_with_both_sources(
        site: FeedServer, feeds: Feeds, library: Library) -> None:
    serve_celebrity_feed(site)
    site.feed("/other.xml", [
        # the same link with other tracking parameters
        item("Kim Kardashian in Japan (syndicated)", "/kim?utm_campaign=x&fbclid=abc",
             KIM_SUMMARY, guid="other-kim"),
        # a near-copy of the Met Gala story under another link and case/punctuation
        item("North at the Met Gala", "/mirror/north", MET_TEXT.upper().replace(",", ""),
             guid="other-north"),
    ])
    feeds.subscribe(site.url("/celeb.xml"), guild_id=None, origin="cli")
    feeds.subscribe(site.url("/other.xml"), guild_id=None, origin="cli")
    results = feeds.poll_due()  # both at once: whichever comes second finds them held
    assert sum(len(r.added) for r in results) == 2, [r.line() for r in results]
    assert sum(r.copies for r in results) == 2
    assert library.count_articles() == 2
    kim_id = library.search("Saint Chicago Psalm", k=1)[0].article_id
    assert feeds.store.sources_of(kim_id) == [site.url("/kim")]
    north_id = library.search("Karl Lagerfeld", k=1)[0].article_id
    assert set(feeds.store.sources_of(north_id)) == {site.url("/north"),
                                                      site.url("/mirror/north")}


def test_restart_and_repoll_add_nothing_twice(site: FeedServer, library_backend: Backend,
                                              clock: Clock) -> None:
    serve_celebrity_feed(site)
    for attempt in range(2):
        library = library_backend.open(FakeEmbedder(), create=True)
        service = Feeds(library, make_config(clock))
        service.subscribe(site.url("/celeb.xml"), guild_id=None, origin="cli")
        results = service.check(guild_id=None)
        assert [len(r.added) for r in results] == ([2] if attempt == 0 else [0])
        assert library.count_articles() == 2
        service.close()
        library.close()
        site.routes["/celeb.xml"].body += b"\n"  # a new ETag: a full fetch, same entries


def test_a_crash_between_ingest_and_bookkeeping_loses_nothing_and_repolls_cleanly(
        site: FeedServer, feeds: Feeds, library: Library, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    serve_celebrity_feed(site)
    feeds.subscribe(site.url("/celeb.xml"), guild_id=None, origin="cli")

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(feeds.store, "record_success", crash)
        [result] = feeds.poll_due()
    assert result.outcome == "error" and library.count_articles() == 2
    # A poller killed while holding the lease: nobody polls it until the lease ends.
    clock.advance(minutes=16)
    assert len(feeds.store.claim(clock(), feeds.config.lease_seconds)) == 1
    assert feeds.poll_due() == []
    clock.advance(minutes=5)
    [again] = feeds.poll_due()
    assert again.outcome == "unchanged" and not again.added, again.line()
    assert library.count_articles() == 2
    [feed] = feeds.list(guild_id=None)
    assert feed.last_error is None and feed.failures == 0


def test_server_feeds_stay_in_their_server(site: FeedServer, feeds: Feeds,
                                           library: Library) -> None:
    serve_celebrity_feed(site)
    feeds.subscribe(site.url("/celeb.xml"), guild_id=GUILD_A, origin="discord")
    [result] = feeds.check(guild_id=GUILD_A)
    assert len(result.added) == 2
    assert library.count_articles(guild_id=GUILD_A, own_only=True) == 2
    assert library.count_articles(guild_id=GUILD_B) == 0
    assert feeds.list(guild_id=GUILD_B) == [] and feeds.check(guild_id=GUILD_B) == []
    # the same feed in server B is B's own copy, not A's articles
    feeds.subscribe(site.url("/celeb.xml"), guild_id=GUILD_B, origin="discord")
    [for_b] = feeds.check(guild_id=GUILD_B)
    assert len(for_b.added) == 2
    assert library.count_articles(guild_id=GUILD_B, own_only=True) == 2


def test_retention_drops_old_feed_articles_and_skips_old_entries(
        site: FeedServer, feeds: Feeds, library: Library, clock: Clock) -> None:
    serve_celebrity_feed(site, item("Old news", "/old", TAYLOR_TEXT, guid="old",
                                    date=START - timedelta(days=90)))
    feeds.subscribe(site.url("/celeb.xml"), guild_id=GUILD_A, origin="discord")
    library.add_articles([replace_article()], guild_id=GUILD_A)  # a moderator's, kept
    feeds.set_retention(guild_id=GUILD_A, days=30)
    [result] = feeds.check(guild_id=GUILD_A)
    assert sorted(a.title for a in result.added) == ["Kim in Japan", "North at the Met Gala"]
    clock.advance(days=26)
    assert feeds.poller.apply_retention() == 0
    clock.advance(days=2)  # North (START - 3 days) is now 31 days old; Kim 29
    assert feeds.poller.apply_retention() == 1
    titles = {a.title for a in library.list_articles(guild_id=GUILD_A, own_only=True)}
    assert titles == {"Kim in Japan", "Pasted by a moderator"}
    clock.advance(minutes=20)
    site.routes["/celeb.xml"].body += b"\n"
    [again] = feeds.check(guild_id=GUILD_A)
    assert not again.added  # the dropped entry is not added back


def replace_article():
    from corpus.records import Article

    return Article(title="Pasted by a moderator", text=TAYLOR_TEXT, source="paste:x",
                   date="2020-01-01")


def test_operator_feeds_from_configuration(site: FeedServer, library: Library,
                                           clock: Clock) -> None:
    serve_celebrity_feed(site)
    service = Feeds(library, make_config(clock, global_feeds=(site.url("/celeb.xml"),)))
    assert [f.origin for f in service.list(guild_id=None)] == ["config"]
    service.close()
    service = Feeds(library, make_config(clock, global_feeds=()))
    assert service.list(guild_id=None) == []
    service.close()
