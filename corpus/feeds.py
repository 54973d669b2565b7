"""A feed body (RSS 0.9x/1.0/2.0, Atom) read into entries, with limits: no network here.

The poller (index/feeds) downloads with corpus.web and hands the bytes to `parse_feed`.
What this module decides, so every caller agrees:

- which entries count (the first `max_items`, in the feed's own order: newest first in
  practice), and what was wrong with the others, as short notes;
- each entry's identity (`entry_id`: the feed's guid/id, else the canonical link, else a
  hash of the title), its canonical link (tracking parameters and fragments dropped) and
  its published date (ISO, never in the future: a feed's clock can be wrong);
- whether the entry carries the article or only a summary (then the page is fetched).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser

from corpus.errors import CorpusError
from corpus.extract import html_fragment_to_text
from corpus.records import normalised_text
from corpus.text import clean_url, scrub_line

DEFAULT_MAX_ITEMS = 50
# Below this many words an entry's text is a teaser: the linked page holds the article.
FULL_TEXT_MIN_WORDS = 150
MAX_TITLE_CHARS = 300
_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:RDF)[\s>]")
_HTML_ROOT = re.compile(rb"<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)
_SNIFF_BYTES = 4096
_ITEM_START = re.compile(rb"<(?:[a-z0-9]+:)?(?:item|entry)[\s>]", re.IGNORECASE)
_ITEM_END = re.compile(rb"</((?:[a-z0-9]+:)?(?:item|entry))\s*>", re.IGNORECASE)
# An entity declaration is how a few hundred bytes of XML expand to megabytes; news feeds
# never need one (corpus.web refuses them the same way).
_XML_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# Query parameters that say who sent the click, not what the page is.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "hsa_", "oly_", "__hs", "_hs")
_TRACKING_NAMES = frozenset((
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid",
    "ocid", "cmpid", "cmp", "ncid", "ref", "ref_src", "referrer", "source", "src", "smid",
    "sr_share", "share", "at_medium", "at_campaign", "mbid", "rss", "feed", "xtor", "_ga",
    "spm", "s_cid", "cid", "ito", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname",
    "ns_fee", "guccounter", "guce_referrer", "guce_referrer_sig", "soc_src", "soc_trk",
))  # fmt: skip


@dataclass(frozen=True)
class FeedEntry:
    entry_id: str  # stable identity within its feed: guid/id, else link, else title hash
    title: str
    text: str  # plain text of the entry's content, else its summary
    link: str | None  # canonical
    published: str | None  # ISO date; None when the feed gives none (first seen is used)
    is_summary: bool  # too short to be the article: fetch the linked page

    @property
    def fingerprint(self) -> str:
        """Changes when the feed edits the entry (title or text), not when it reorders."""
        body = normalised_text(f"{self.title}\n{self.text}")
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]


@dataclass
class ParsedFeed:
    title: str
    entries: list[FeedEntry]
    total_items: int  # in the body, before `max_items`
    ttl_minutes: int | None  # RSS <ttl>: the publisher asks not to be polled more often
    notes: list[str] = field(default_factory=list)  # what was skipped or corrected, and why


def canonical_link(value: object) -> str | None:
    """The link without tracking parameters (utm_*, fbclid …) or fragment, host lower-case,
    default port dropped; None for anything that is not a usable http(s) link."""
    url = clean_url(value)
    if url is None:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()  # no credentials in a shown link
    default_port = ":443" if scheme == "https" else ":80"
    if netloc.endswith(default_port):
        netloc = netloc[: -len(default_port)]
    query = urlencode([
        (name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(name)
    ])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def looks_like_feed(body: bytes) -> bool:
    return _FEED_ROOT.search(body[:_SNIFF_BYTES]) is not None


def parse_feed(body: bytes, *, max_items: int = DEFAULT_MAX_ITEMS,
               now: datetime | None = None) -> ParsedFeed:
    """The feed's entries, at most `max_items`. CorpusError (one short sentence) when the
    body is a web page, not XML a feed reader can use, or declares XML entities."""
    now = now or datetime.now(UTC)
    if _XML_ENTITY_DECLARATION.search(body):
        raise CorpusError("the feed declares XML entities, which are not allowed")
    if not looks_like_feed(body):
        if _HTML_ROOT.search(body[:_SNIFF_BYTES]):
            raise CorpusError("that address is a web page, not an RSS or Atom feed")
        raise CorpusError("that address does not serve an RSS or Atom feed")
    total = len(_ITEM_START.findall(body))
    notes: list[str] = []
    if total > max_items:
        # feedparser takes ~1 ms an item: parse only the part of the body that is read.
        body = _first_items(body, max_items)
        notes.append(f"{total} items; only the first {max_items} are read")
    # A stream, never bytes: feedparser.parse(b"/etc/x.xml") would open that local file.
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    items = parsed.entries
    entries: list[FeedEntry] = []
    skipped: dict[str, int] = {}
    seen_ids: set[str] = set()
    for item in items[:max_items]:
        entry, problem = _entry(item, now)
        if problem:
            skipped[problem] = skipped.get(problem, 0) + 1
        if entry is None or entry.entry_id in seen_ids:
            continue
        seen_ids.add(entry.entry_id)
        entries.append(entry)
    if parsed.bozo and total <= max_items:
        if not entries:
            reason = type(parsed.get("bozo_exception")).__name__
            raise CorpusError(f"the feed is malformed XML ({reason}) with no readable entries")
        notes.append("the feed's XML is malformed; read what could be read")
    notes += [f"{count} {problem}" for problem, count in skipped.items()]
    return ParsedFeed(
        title=scrub_line(parsed.feed.get("title") or "")[:MAX_TITLE_CHARS],
        entries=entries, total_items=max(total, len(items)),
        ttl_minutes=_ttl(parsed.feed.get("ttl")), notes=notes,
    )


def _first_items(body: bytes, count: int) -> bytes:
    """The body cut after its `count`-th item, closed again well enough for feedparser's
    lenient parser (the channel's own fields come before the items in practice)."""
    ends = _ITEM_END.finditer(body)
    for number, match in enumerate(ends, start=1):
        if number == count:
            closing = b"</feed>" if match.group(1).lower().endswith(b"entry") else (
                b"</channel></rss>")
            return body[: match.end()] + closing
    return body


def _entry(item: feedparser.FeedParserDict, now: datetime) -> tuple[FeedEntry | None, str | None]:
    """The entry, and a note when something about it was wrong (it may still be kept)."""
    title = " ".join(scrub_line(item.get("title") or "").split())[:MAX_TITLE_CHARS]
    content = item.get("content") or []
    full = html_fragment_to_text(content[0].get("value") or "") if content else ""
    summary = html_fragment_to_text(item.get("summary") or "")
    text = full if len(full.split()) >= len(summary.split()) else summary
    link = canonical_link(item.get("link"))
    if not title:
        return None, "entries without a title skipped"
    if not text.strip() and link is None:
        return None, "entries with neither text nor link skipped"
    raw_id = scrub_line(str(item.get("id") or "")).strip()[:500]
    entry_id = raw_id or link or "title:" + hashlib.sha256(title.encode()).hexdigest()[:24]
    published, problem = _published(item, now)
    if link is None:
        problem = problem or "entries without a link (their own text kept)"
    return FeedEntry(
        entry_id=entry_id, title=title, text=text.strip(), link=link, published=published,
        is_summary=len(text.split()) < FULL_TEXT_MIN_WORDS,
    ), problem


def _published(item: feedparser.FeedParserDict, now: datetime) -> tuple[str | None, str | None]:
    struct = item.get("published_parsed") or item.get("updated_parsed")
    if struct is None:
        return None, None
    try:
        when = datetime.fromtimestamp(calendar.timegm(struct), UTC)
    except (OverflowError, ValueError, OSError):
        return None, "entries with an impossible date (first seen used)"
    # A day's grace for time zones; past that the feed's clock is wrong: today it is.
    if (when - now).days >= 1:
        return now.date().isoformat(), "entries dated in the future (dated today)"
    return when.date().isoformat(), None


def _ttl(value: object) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if 0 < minutes <= 7 * 24 * 60 else None
