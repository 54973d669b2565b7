"""Bad feeds (issue 9, item 6): each is one clear error on its own feed; the other feeds,
the poller and the articles already held are untouched; errors back off; 410 stops."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from index.embedder import FakeEmbedder
from index.feeds import FeedConfig, Feeds
from index.library import Library
from tests.feedserver import FeedServer, item, rss
from tests.index.test_feeds_poller import START, TAYLOR_TEXT, Clock

GOOD = [item("Taylor adds Tokyo dates", None, TAYLOR_TEXT, guid="t1")]


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def feeds(tmp_path: Path, clock: Clock) -> Iterator[Feeds]:
    library = Library.open(tmp_path / "index", FakeEmbedder(), create=True)
    service = Feeds(library, FeedConfig(allow_private_urls=True, clock=clock, jitter=0.0,
                                        fetch_timeout=3.0, workers=4))
    yield service
    service.close()
    library.close()


def serve_bad_feeds(site: FeedServer) -> dict[str, str]:
    """Path -> what its error says."""
    site.set("/malformed.xml", b"<?xml version='1.0'?><rss><channel><item><title>x</ti")
    site.set("/page.html", b"<!doctype html><html><body><p>Hi</p></body></html>",
             content_type="text/html")
    site.set("/huge.xml", b"<rss>" + b" " * 50_000_000, conditional=False)
    site.set("/loop.xml", b"", status=302, headers={"Location": "/loop.xml"}, conditional=False)
    site.set("/trickle.xml", rss(GOOD, base=site.base), trickle=0.02, conditional=False)
    site.set("/gone.xml", b"", status=410)
    site.set("/broken.xml", b"", status=500)
    return {
        "/malformed.xml": "malformed XML",
        "/page.html": "web page, not an RSS or Atom feed",
        "/huge.xml": "larger than 2 MB",
        "/loop.xml": "redirects more than 5 times",
        "/trickle.xml": "timed out after 3 s",
        "/gone.xml": "HTTP 410 (Gone): the feed is gone, no longer polled",
        "/broken.xml": "HTTP 500",
        "/missing.xml": "HTTP 404",
    }


def test_each_bad_feed_is_its_own_clear_error(site: FeedServer, feeds: Feeds) -> None:
    site.feed("/good.xml", GOOD)
    expected = serve_bad_feeds(site)
    for path in [*expected, "/good.xml"]:
        feeds.subscribe(site.url(path), guild_id=None, origin="cli")
    feeds.subscribe("http://127.0.0.1:9/unreachable.xml", guild_id=None, origin="cli")
    results = {r.feed.url: r for r in feeds.poll_due()}
    assert len(results[site.url("/good.xml")].added) == 1
    unreachable = results["http://127.0.0.1:9/unreachable.xml"]
    assert unreachable.outcome == "error" and "could not reach 127.0.0.1" in unreachable.error
    listed = {feed.url: feed for feed in feeds.list(guild_id=None)}
    for path, message in expected.items():
        assert message in results[site.url(path)].line()
        assert message in (listed[site.url(path)].last_error or "")
    assert listed[site.url("/gone.xml")].gone
    assert listed[site.url("/good.xml")].last_error is None


def test_errors_back_off_and_a_feed_that_breaks_keeps_its_articles(
        site: FeedServer, feeds: Feeds, clock: Clock) -> None:
    site.feed("/news.xml", GOOD)
    feeds.subscribe(site.url("/news.xml"), guild_id=None, origin="cli")
    feeds.poll_due()
    library = feeds.poller.library
    assert library.count_articles() == 1
    site.set("/news.xml", b"<rss><channel><item><title>broken", conditional=False)
    gaps = []
    for _ in range(3):
        clock.advance(hours=7)
        [result] = feeds.poll_due()
        assert result.outcome == "error"
        [feed] = feeds.list(guild_id=None)
        gaps.append(feed.next_check - clock())
    assert gaps == [15 * 60, 30 * 60, 60 * 60]
    assert "failed 3x; next try in 1.0 h" in (feed.last_error or "")
    assert library.count_articles() == 1  # nothing held is lost
    site.feed("/news.xml", GOOD)
    clock.advance(hours=2)
    [result] = feeds.poll_due()
    [feed] = feeds.list(guild_id=None)
    assert result.outcome == "not-modified" and feed.failures == 0 and feed.last_error is None


def test_gone_feed_is_not_polled_again_until_subscribed_again(
        site: FeedServer, feeds: Feeds, clock: Clock) -> None:
    site.set("/gone.xml", b"", status=410)
    feeds.subscribe(site.url("/gone.xml"), guild_id=None, origin="cli")
    feeds.poll_due()
    clock.advance(days=30)
    assert feeds.poll_due() == [] and site.hits["/gone.xml"] == 1
    site.feed("/gone.xml", GOOD)
    feeds.subscribe(site.url("/gone.xml"), guild_id=None, origin="cli")
    [result] = feeds.poll_due()
    assert len(result.added) == 1


def test_entries_without_link_or_date_or_with_a_future_date(
        site: FeedServer, feeds: Feeds) -> None:
    site.feed("/odd.xml", [
        item("No link, no date", None, TAYLOR_TEXT, guid="a"),
        item("Dated next year", None, "Beyonce will tour Europe again, her team said.",
             guid="b", date=START + timedelta(days=365)),
        item("Link to a missing page", "/nowhere", "Rihanna opened a store in Paris.",
             guid="c"),
    ])
    feeds.subscribe(site.url("/odd.xml"), guild_id=None, origin="cli")
    [result] = feeds.poll_due()
    assert {a.title: a.date for a in result.added} == {
        "No link, no date": "2026-11-20", "Dated next year": "2026-11-20",
        "Link to a missing page": "2026-11-20"}
    [feed] = feeds.list(guild_id=None)
    assert "dated in the future" in feed.last_note
    assert "without a link" in feed.last_note
    assert "could not be read (their summaries kept)" in feed.last_note
