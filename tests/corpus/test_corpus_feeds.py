"""corpus.feeds (parsing a feed body) and corpus.web.fetch_conditional (a local server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.errors import CorpusError
from corpus.feeds import FULL_TEXT_MIN_WORDS, canonical_link, parse_feed
from corpus.web import HTTPStatusError, fetch_conditional
from tests.feedserver import FeedServer, item, rss

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BASE = "http://news.example"


@pytest.mark.parametrize(("link", "canonical"), [
    ("https://News.Example:443/a/b?utm_source=rss&id=7&fbclid=x#comments",
     "https://news.example/a/b?id=7"),
    ("http://news.example:8080/a?UTM_Medium=x&ref=tw", "http://news.example:8080/a"),
    ("http://news.example", "http://news.example/"),
    ("http://user:pw@news.example/a", "http://news.example/a"),
    ("javascript:alert(1)", None),
    ("not a link", None),
    (None, None),
])
def test_canonical_link(link: str | None, canonical: str | None) -> None:
    assert canonical_link(link) == canonical


def test_entries_ids_dates_and_summaries() -> None:
    long_text = " ".join(["word"] * (FULL_TEXT_MIN_WORDS + 5))
    body = rss([
        item("With guid", "/a?utm_source=x", "Short teaser.", guid="g-1",
             date=NOW - timedelta(days=2)),
        item("No guid", "/b", long_text),
        item("No link", None, "Text that is the whole story.", guid="g-3"),
        item("From the future", "/d", "Teaser.", date=NOW + timedelta(days=30)),
        item("", "/e", "No title."),
        item("With guid", "/a", "A repeat of the same guid.", guid="g-1"),
    ], base=BASE)
    feed = parse_feed(body, now=NOW)
    by_title = {entry.title: entry for entry in feed.entries}
    assert list(by_title) == ["With guid", "No guid", "No link", "From the future"]
    first = by_title["With guid"]
    assert (first.entry_id, first.link, first.published, first.is_summary) == (
        "g-1", f"{BASE}/a", "2026-11-18", True)
    assert by_title["No guid"].entry_id == f"{BASE}/b" and not by_title["No guid"].is_summary
    assert by_title["No guid"].published is None
    assert by_title["No link"].link is None
    assert by_title["From the future"].published == "2026-11-20"
    assert any("future" in note for note in feed.notes)
    assert any("without a title" in note for note in feed.notes)
    assert any("without a link" in note for note in feed.notes)


def test_fingerprint_follows_edits_only() -> None:
    one = parse_feed(rss([item("T", "/a", "Old text.", guid="g")], base=BASE), now=NOW)
    two = parse_feed(rss([item("T", "/a", "New text.", guid="g")], base=BASE), now=NOW)
    again = parse_feed(rss([item("T", "/a", "Old  text", guid="g")], base=BASE), now=NOW)
    assert one.entries[0].fingerprint != two.entries[0].fingerprint
    assert one.entries[0].fingerprint == again.entries[0].fingerprint


def test_ten_thousand_items_are_cut_to_the_limit() -> None:
    body = rss([item(f"Story {n}", f"/s{n}", f"Text {n}.") for n in range(10_000)], base=BASE)
    feed = parse_feed(body, max_items=50, now=NOW)
    assert len(feed.entries) == 50 and feed.total_items == 10_000
    assert "10000 items; only the first 50 are read" in feed.notes


@pytest.mark.parametrize(("body", "message"), [
    (b"<!doctype html><html><body><p>A page</p></body></html>", "web page, not an RSS"),
    (b"just some text", "does not serve an RSS or Atom feed"),
    (b"<?xml version='1.0'?><rss><channel><item><title>x</ti", "malformed XML"),
    (b"<?xml version='1.0'?><!DOCTYPE rss [<!ENTITY a 'aaaa'>]><rss><channel></channel></rss>",
     "declares XML entities"),
])
def test_what_is_not_a_feed_is_one_clear_error(body: bytes, message: str) -> None:
    with pytest.raises(CorpusError, match=message):
        parse_feed(body, now=NOW)


def test_atom_and_ttl() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom news</title>
<entry><id>tag:news,1</id><title>Entry one</title><link href="http://news.example/one"/>
<updated>2023-08-01T09:00:00Z</updated>
<content type="html">&lt;p&gt;The first entry text.&lt;/p&gt;</content></entry></feed>"""
    [entry] = parse_feed(atom, now=NOW).entries
    assert (entry.entry_id, entry.published, entry.text) == (
        "tag:news,1", "2023-08-01", "The first entry text.")
    assert parse_feed(rss([], base=BASE, ttl=120), now=NOW).ttl_minutes == 120


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def test_conditional_get_returns_304_with_the_etag(site: FeedServer) -> None:
    site.feed("/f.xml", [item("T", "/a", "Text.")],
              headers={"Last-Modified": "Fri, 20 Nov 2026 10:00:00 GMT"})
    first = fetch_conditional(site.url("/f.xml"), allow_private_hosts=True)
    assert first.status == 200 and first.etag and b"<rss" in first.body
    assert first.last_modified == "Fri, 20 Nov 2026 10:00:00 GMT"
    second = fetch_conditional(site.url("/f.xml"), etag=first.etag,
                               last_modified=first.last_modified, allow_private_hosts=True)
    assert (second.status, second.body) == (304, b"")


def test_conditional_get_limits(site: FeedServer) -> None:
    site.set("/gone", b"", status=410)
    site.set("/big", b"<rss>" + b"x" * 3_000_000, conditional=False)
    site.set("/loop", b"", status=302, headers={"Location": "/loop"}, conditional=False)
    site.set("/slow", b"<rss version='2.0'><channel></channel></rss>" * 20, trickle=0.05,
             conditional=False)
    with pytest.raises(HTTPStatusError) as gone:
        fetch_conditional(site.url("/gone"), allow_private_hosts=True)
    assert gone.value.status == 410
    with pytest.raises(CorpusError, match="larger than 2 MB"):
        fetch_conditional(site.url("/big"), allow_private_hosts=True)
    with pytest.raises(CorpusError, match="redirects more than"):
        fetch_conditional(site.url("/loop"), allow_private_hosts=True)
    with pytest.raises(CorpusError, match=r"timed out after 0\.5 s"):
        fetch_conditional(site.url("/slow"), timeout=0.5, allow_private_hosts=True)
    with pytest.raises(CorpusError, match="private or local"):
        fetch_conditional(site.url("/gone"))


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500).map(
    lambda text: f"<rss><channel><item><title>{text}</title><link>{text}</link>"
                 f"<description>{text}</description></item></channel></rss>".encode(
                     "utf-8", "surrogatepass")))
def test_any_body_is_entries_or_one_corpus_error(body: bytes) -> None:
    try:
        feed = parse_feed(body, now=NOW)
    except CorpusError:
        return
    for entry in feed.entries:
        assert entry.title and entry.entry_id
        assert entry.link is None or entry.link.startswith(("http://", "https://"))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_canonical_link_never_raises_and_drops_tracking(text: str) -> None:
    for candidate in (text, f"https://news.example/{text}?utm_source=x#frag"):
        link = canonical_link(candidate)
        if link is not None:
            parts = urlsplit(link)
            assert parts.scheme in ("http", "https") and not parts.fragment
            assert not any(name.lower().startswith("utm_")
                           for name, _ in parse_qsl(parts.query, keep_blank_values=True))
