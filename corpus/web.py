"""Articles from a URL: an article page (main text via trafilatura) or an RSS/Atom feed.

Blocking on purpose (urllib); the bot calls it from a worker thread.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import feedparser

from corpus.errors import CorpusError
from corpus.extract import extract_page, html_fragment_to_text
from corpus.loaders import article_from_text
from corpus.records import Article

USER_AGENT = "SpotlightBot/0.1 (+https://github.com/; news article indexer)"
_READ_CHUNK = 64 * 1024
_FEED_CONTENT_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:RDF)[\s>]")
_SNIFF_BYTES = 2048


def _refuse_private_host(url: str) -> None:
    """A moderator's link must not make the bot read the host's own network (SSRF)."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        raise CorpusError(f"could not resolve {host}") from None
    if not all(ipaddress.ip_address(address.split("%")[0]).is_global for address in addresses):
        raise CorpusError(f"{host} is a private or local address; only public links can be added")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s) (urllib alone would follow one to ftp://), and
    only to public hosts unless private ones are allowed."""

    def __init__(self, allow_private_hosts: bool) -> None:
        self.allow_private_hosts = allow_private_hosts

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise CorpusError("the page redirects to a link that is not http(s)")
        if not self.allow_private_hosts:
            _refuse_private_host(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_url(
    url: str, *, timeout: float = 10.0, max_bytes: int = 2_000_000, max_feed_items: int = 20,
    allow_private_hosts: bool = False,
) -> list[Article]:
    """The article at `url`, or one article per entry when it is a feed.

    Raises CorpusError with a short message for a bad link, a private or local host
    (unless allowed), an HTTP error, a timeout, a body over `max_bytes`, or a page with
    no article text.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CorpusError("only http:// and https:// links are supported")
    if not allow_private_hosts:
        _refuse_private_host(url)
    opener = urllib.request.build_opener(_CheckedRedirects(allow_private_hosts))
    body, content_type, final_url = _download(opener, url, timeout=timeout, max_bytes=max_bytes)
    if _is_feed(body, content_type):
        return _feed_articles(body, max_items=max_feed_items, feed_url=final_url)
    return [_page_article(body, final_url)]


def _download(opener: urllib.request.OpenerDirector, url: str, *, timeout: float,
              max_bytes: int) -> tuple[bytes, str, str]:
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "text/html,application/xhtml+xml,application/rss+xml,"
            "application/atom+xml,application/xml;q=0.9,*/*;q=0.5",
        },
    )
    too_large = CorpusError(f"page is larger than {_size_label(max_bytes)}")
    # `timeout` bounds each socket wait; the deadline bounds a server that trickles.
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise too_large
            chunks: list[bytes] = []
            received = 0
            while chunk := response.read(_READ_CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise too_large
                if time.monotonic() > deadline:
                    raise CorpusError(f"timed out after {timeout:g} s")
                chunks.append(chunk)
            content_type = response.headers.get_content_type() or ""
            return b"".join(chunks), content_type, response.geturl() or url
    except CorpusError:
        raise
    except urllib.error.HTTPError as error:
        raise CorpusError(f"the server answered HTTP {error.code} ({error.reason})") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise CorpusError(f"timed out after {timeout:g} s") from None
        raise CorpusError(f"could not reach {urlsplit(url).hostname}: {error.reason}") from None
    except TimeoutError:
        raise CorpusError(f"timed out after {timeout:g} s") from None
    except (OSError, ValueError) as error:  # reset connections, malformed responses
        raise CorpusError(f"download failed: {error}") from None


def _is_feed(body: bytes, content_type: str) -> bool:
    if content_type in _FEED_CONTENT_TYPES:
        return True
    # Many feeds are served as text/xml, application/xml or even text/html: sniff the root.
    return _FEED_ROOT.search(body[:_SNIFF_BYTES]) is not None


def _feed_articles(body: bytes, *, max_items: int, feed_url: str) -> list[Article]:
    feed = feedparser.parse(body)
    articles: list[Article] = []
    for index, entry in enumerate(feed.entries[:max_items]):
        html = entry.content[0].value if entry.get("content") else entry.get("summary", "")
        text = html_fragment_to_text(html or "")
        title = entry.get("title") or ""
        if not text.strip() or not title.strip():
            continue
        link = entry.get("link") or f"{feed_url}#entry-{index + 1}"
        published = entry.get("published_parsed") or entry.get("updated_parsed")
        try:
            articles.append(
                article_from_text(
                    title,
                    text,
                    source=link,
                    url=entry.get("link"),
                    date=time.strftime("%Y-%m-%d", published) if published else None,
                )
            )
        except CorpusError:
            continue  # an entry whose text was all boilerplate
    if not articles:
        raise CorpusError("the feed has no entries with text")
    return articles


def _page_article(body: bytes, url: str) -> Article:
    page = extract_page(body, url=url)
    if not page.text:
        raise CorpusError("no article text found on that page")
    title = page.title or urlsplit(url).hostname or url
    return article_from_text(title, page.text, source=url, url=url, date=page.date)


def _size_label(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:g} MB"
    return f"{size / 1000:g} kB"
