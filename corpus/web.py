"""Articles from a URL: an article page (main text via trafilatura) or an RSS/Atom feed.

Blocking on purpose; the bot calls it from a worker thread. HTTP is httpcore (the engine
under httpx) with our own network backend, because three guarantees live below HTTP:

- every connection goes to an address we resolved and checked ourselves, once, for the
  first request and every redirect (DNS rebinding cannot swap in 127.0.0.1 between the
  check and the connect); TLS still uses the link's host name for SNI and certificates;
- one deadline covers connecting, TLS, sending, headers and body: each socket wait gets
  only the time left, so a server that trickles a byte a second cannot hold a worker;
- bodies are decompressed here, capped at `max_bytes` of output, so a small gzip bomb
  never reaches trafilatura (which would inflate up to 20 MB).
"""

from __future__ import annotations

import functools
import http
import io
import ipaddress
import re
import socket
import ssl
import threading
import time
import typing
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import feedparser
import httpcore
import httpx

from corpus.errors import CorpusError
from corpus.extract import extract_page, html_fragment_to_text
from corpus.loaders import article_from_text
from corpus.records import Article
from corpus.text import clean_url

USER_AGENT = "SpotlightBot/0.1 (+https://github.com/; news article indexer)"
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
_READ_CHUNK = 64 * 1024
_FEED_CONTENT_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:RDF)[\s>]")
# An entity declaration is how a few hundred bytes of XML expand to megabytes ("billion
# laughs"); news feeds never need one, so a feed that declares any is refused.
_XML_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_SNIFF_BYTES = 2048
_UNSAFE_IN_LINK = re.compile(r"[\s\\\x00-\x1f\x7f-\x9f]")


# ---------------------------------------------------------------------------------------
# Public entry point


def fetch_url(
    url: str, *, timeout: float = 10.0, max_bytes: int = 2_000_000, max_feed_items: int = 20,
    allow_private_hosts: bool = False,
) -> list[Article]:
    """The article at `url`, or one article per entry when it is a feed.

    Raises CorpusError with a short message, and nothing else, for a bad link, a private
    or local host (unless allowed), an HTTP error, a total time over `timeout` seconds,
    a body over `max_bytes` (before or after decompression), or a page with no article
    text.
    """
    link = _parse_link(url.strip() if isinstance(url, str) else "")
    deadline = _Deadline(timeout)
    try:
        body, content_type, final_url = _download(
            link, deadline=deadline, max_bytes=max_bytes, allow_private_hosts=allow_private_hosts
        )
        if _is_feed(body, content_type):
            return _feed_articles(body, max_items=max_feed_items, feed_url=final_url)
        return [_page_article(body, final_url, max_bytes=max_bytes)]
    except CorpusError:
        raise
    except RecursionError:
        raise CorpusError("could not read that page (nested too deeply)") from None
    except Exception as error:  # a parser's surprise must not escape as a traceback
        raise CorpusError(f"could not read that page ({type(error).__name__})") from None


# ---------------------------------------------------------------------------------------
# Links


@dataclass(frozen=True)
class _Link:
    url: str
    scheme: str
    host: str  # ASCII (IDNA), no brackets around an IPv6 address
    port: int
    target: str  # path and query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _parse_link(url: str, *, redirect: bool = False) -> _Link:
    """A link we can fetch, or CorpusError saying plainly what is wrong with it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise CorpusError("that link is malformed") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        if redirect:
            raise CorpusError("the page redirects to a link that is not http(s)")
        raise CorpusError("only http:// and https:// links are supported")
    # A backslash or space makes parsers disagree about where the host ends
    # (`http://127.0.0.1:1\@host/`): refuse rather than guess.
    if _UNSAFE_IN_LINK.search(url):
        raise CorpusError("that link contains spaces, backslashes or control characters")
    try:
        port = parts.port
        host = parts.hostname
        if not _is_ip(host):
            host = host.encode("idna").decode("ascii")  # "exämple.com" -> "xn--exmple-cua.com"
    except (ValueError, UnicodeError):
        raise CorpusError("that link is malformed (host or port)") from None
    scheme = parts.scheme.lower()
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    # Browsers percent-encode non-ASCII paths ("/café"); HTTP/1.1 needs ASCII on the wire.
    target = quote(target, safe="/?=&;:@!$'()*+,~%-._[]")
    return _Link(url=url, scheme=scheme, host=host,
                 port=port or (443 if scheme == "https" else 80), target=target)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------
# One deadline, pinned addresses


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self, wanted: float | None = None) -> float:
        """Seconds the next wait may take; a timeout once the deadline has passed."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout(f"over the {self.seconds:g} s deadline")
        return left if wanted is None else min(wanted, left)

    def error(self) -> CorpusError:
        return CorpusError(f"timed out after {self.seconds:g} s")


def _resolve(host: str, port: int, deadline: _Deadline) -> list[tuple[typing.Any, ...]]:
    """getaddrinfo within the deadline: it has no timeout of its own, so it runs in a
    daemon thread that is abandoned (and ends by itself) when the time is up."""
    outcome: list[typing.Any] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as error:  # handed to the caller's thread below
            outcome.append(error)

    thread = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
    thread.start()
    thread.join(deadline.left())
    if not outcome:
        raise httpcore.ConnectTimeout(f"resolving {host} took too long")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _checked_addresses(
    host: str, port: int, deadline: _Deadline, *, allow_private_hosts: bool
) -> list[str]:
    """The host's addresses, resolved once; all must be public unless private is allowed.

    The connection then goes to one of exactly these addresses: resolving again to
    connect would let a name answer "public" here and "127.0.0.1" there.
    """
    try:
        infos = _resolve(host, port, deadline)
    except (OSError, UnicodeError):
        raise CorpusError(f"could not resolve {host}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise CorpusError(f"could not resolve {host}")
    if not allow_private_hosts and not all(
        ipaddress.ip_address(address.split("%")[0]).is_global for address in addresses
    ):
        raise CorpusError(f"{host} is a private or local address; only public links can be added")
    return addresses


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait is cut to the time left before the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout=self._deadline.left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout=self._deadline.left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname=server_hostname, timeout=self._deadline.left(timeout)
        )
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to checked addresses, within the deadline; no Unix sockets."""

    def __init__(self, deadline: _Deadline, *, allow_private_hosts: bool) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline
        self._allow_private_hosts = allow_private_hosts

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _checked_addresses(
            host, port, self._deadline, allow_private_hosts=self._allow_private_hosts
        )
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address, port, timeout=self._deadline.left(timeout),
                    local_address=local_address, socket_options=socket_options,
                )
            except httpcore.ConnectError as error:  # try the host's next address
                failure = error
                continue
            return _DeadlineStream(stream, self._deadline)
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: object = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("Unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(self._deadline.left(seconds))


# ---------------------------------------------------------------------------------------
# Downloading


def _download(
    link: _Link, *, deadline: _Deadline, max_bytes: int, allow_private_hosts: bool
) -> tuple[bytes, str, str]:
    """(decoded body, content type, final URL) after following redirects."""
    backend = _PinnedBackend(deadline, allow_private_hosts=allow_private_hosts)
    timeouts = {"connect": deadline.seconds, "read": deadline.seconds,
                "write": deadline.seconds, "pool": deadline.seconds}
    with httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(), network_backend=backend, retries=0,
        max_connections=1,
    ) as pool:
        try:
            for _ in range(MAX_REDIRECTS + 1):
                with pool.stream(
                    "GET",
                    httpcore.URL(scheme=link.scheme, host=link.host, port=link.port,
                                 target=link.target),
                    headers=_request_headers(link),
                    extensions={"timeout": timeouts},
                ) as response:
                    headers = httpx.Headers(response.headers)
                    if response.status in _REDIRECT_STATUSES and "location" in headers:
                        link = _parse_link(urljoin(link.url, headers["location"]), redirect=True)
                        continue
                    if response.status >= 400:
                        raise CorpusError(f"the server answered HTTP {response.status} "
                                          f"({_reason(response.status)})")
                    body = _read_body(response.iter_stream(), headers, max_bytes)
                    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
                    return body, content_type, link.url
            raise CorpusError(f"the page redirects more than {MAX_REDIRECTS} times")
        except httpcore.TimeoutException:
            raise deadline.error() from None
        except httpcore.ConnectError as error:
            raise CorpusError(f"could not reach {link.host}: {_plain(error)}") from None
        except (httpcore.ProtocolError, httpcore.NetworkError, OSError) as error:
            raise CorpusError(f"download failed: {_plain(error)}") from None


def _request_headers(link: _Link) -> list[tuple[str, str]]:
    return [
        ("Host", link.host_header),
        ("User-Agent", USER_AGENT),
        ("Accept", "text/html,application/xhtml+xml,application/rss+xml,"
                   "application/atom+xml,application/xml;q=0.9,*/*;q=0.5"),
        # Only what _Inflater reads (and bounds): no brotli or zstd.
        ("Accept-Encoding", "gzip, deflate"),
    ]


def _read_body(chunks: Iterator[bytes], headers: httpx.Headers, max_bytes: int) -> bytes:
    too_large = CorpusError(f"page is larger than {_size_label(max_bytes)}")
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    inflater = _Inflater(headers.get("content-encoding", ""), max_bytes)
    received = 0
    parts: list[bytes] = []
    for chunk in chunks:
        received += len(chunk)
        if received > max_bytes:
            raise too_large
        parts.append(inflater.feed(chunk))
    parts.append(inflater.finish())
    return b"".join(parts)


class _Inflater:
    """Content-Encoding undone with a cap on the output, not only on what was received."""

    def __init__(self, encoding: str, max_bytes: int) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise CorpusError(f"the server sent an encoding we do not read ({encoding})")
        self._coding = codings[0] if codings else None
        self._max_bytes = max_bytes
        self._produced = 0
        self._decompressor = self._new()
        self._raw_deflate_tried = False

    def _new(self) -> typing.Any:
        if self._coding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS)

    def feed(self, data: bytes) -> bytes:
        if self._coding is None:
            return data
        out = bytearray()
        while data:
            try:
                piece = self._decompressor.decompress(data, self._max_bytes - self._produced + 1)
            except zlib.error:
                if self._coding == "deflate" and not self._raw_deflate_tried and not out:
                    # Some servers send raw deflate without the zlib header.
                    self._raw_deflate_tried = True
                    self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise CorpusError("the page's compressed body is corrupt") from None
            self._produced += len(piece)
            if self._produced > self._max_bytes:
                raise CorpusError(
                    f"page is larger than {_size_label(self._max_bytes)} when decompressed"
                )
            out += piece
            if self._decompressor.unconsumed_tail:
                data = self._decompressor.unconsumed_tail
            elif self._decompressor.eof and self._decompressor.unused_data.strip(b"\0"):
                data = self._decompressor.unused_data.lstrip(b"\0")  # next gzip member
                self._decompressor = self._new()
            else:
                data = b""
        return bytes(out)

    def finish(self) -> bytes:
        return b"" if self._coding is None else self.feed(b"")


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "unknown status"


def _plain(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 100 else text[:99] + "…"


# ---------------------------------------------------------------------------------------
# Pages and feeds


def _is_feed(body: bytes, content_type: str) -> bool:
    if content_type in _FEED_CONTENT_TYPES:
        return True
    # Many feeds are served as text/xml, application/xml or even text/html: sniff the root.
    return _FEED_ROOT.search(body[:_SNIFF_BYTES]) is not None


def _feed_articles(body: bytes, *, max_items: int, feed_url: str) -> list[Article]:
    if _XML_ENTITY_DECLARATION.search(body):
        raise CorpusError("the feed declares XML entities, which are not allowed")
    # A stream, never the bytes themselves: feedparser.parse(b"/etc/x.xml") opens that
    # local file, so a server answering with a path would make us read our own disk.
    feed = feedparser.parse(io.BytesIO(body))
    articles: list[Article] = []
    for index, entry in enumerate(feed.entries[:max_items]):
        html = entry.content[0].value if entry.get("content") else entry.get("summary", "")
        text = html_fragment_to_text(html or "")
        title = entry.get("title") or ""
        if not text.strip() or not title.strip():
            continue
        link = clean_url(entry.get("link"))
        published = entry.get("published_parsed") or entry.get("updated_parsed")
        try:
            articles.append(
                article_from_text(
                    title,
                    text,
                    source=link or f"{feed_url}#entry-{index + 1}",
                    url=link,
                    date=time.strftime("%Y-%m-%d", published) if published else None,
                )
            )
        except (CorpusError, ValueError, OverflowError):
            continue  # an entry whose text was all boilerplate, or whose date is absurd
    if not articles:
        raise CorpusError("the feed has no entries with text")
    return articles


def _page_article(body: bytes, url: str, *, max_bytes: int) -> Article:
    page = extract_page(body, url=url, max_bytes=max_bytes)
    if not page.text:
        raise CorpusError("no article text found on that page")
    title = page.title or urlsplit(url).hostname or url
    return article_from_text(title, page.text, source=url, url=url, date=page.date)


def _size_label(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:g} MB"
    return f"{size / 1000:g} kB"


# ---------------------------------------------------------------------------------------
# Conditional GET, for feed polling (index/feeds): the same pinned, capped, deadlined
# download, plus If-None-Match / If-Modified-Since and the status a poller acts on.


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle takes ~0.15 s; a poller makes hundreds of requests a round.
    An SSLContext is safe to share between threads."""
    return httpx.create_ssl_context()


class HTTPStatusError(CorpusError):
    """The server answered with an error status (a poller stops for good on 410)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered HTTP {status} ({_reason(status)})")
        self.status = status


@dataclass(frozen=True)
class ConditionalResponse:
    status: int  # 200, or 304 (not modified: `body` is empty)
    body: bytes
    content_type: str
    url: str  # after redirects
    etag: str | None
    last_modified: str | None


def fetch_conditional(
    url: str, *, etag: str | None = None, last_modified: str | None = None,
    timeout: float = 10.0, max_bytes: int = 2_000_000, allow_private_hosts: bool = False,
) -> ConditionalResponse:
    """GET `url` unless unchanged since `etag` / `last_modified`. Raises HTTPStatusError for
    4xx/5xx and CorpusError (short message) for everything else that goes wrong, exactly
    as fetch_url: private hosts, redirects (at most MAX_REDIRECTS), one total deadline,
    `max_bytes` before and after decompression."""
    link = _parse_link(url.strip() if isinstance(url, str) else "")
    deadline = _Deadline(timeout)
    conditions = [("If-None-Match", etag)] if etag else []
    if last_modified:
        conditions.append(("If-Modified-Since", last_modified))
    backend = _PinnedBackend(deadline, allow_private_hosts=allow_private_hosts)
    timeouts = dict.fromkeys(("connect", "read", "write", "pool"), deadline.seconds)
    try:
        with httpcore.ConnectionPool(
            ssl_context=_shared_ssl_context(), network_backend=backend, retries=0,
            max_connections=1,
        ) as pool:
            for _ in range(MAX_REDIRECTS + 1):
                with pool.stream(
                    "GET",
                    httpcore.URL(scheme=link.scheme, host=link.host, port=link.port,
                                 target=link.target),
                    headers=[*_request_headers(link), *conditions],
                    extensions={"timeout": timeouts},
                ) as response:
                    headers = httpx.Headers(response.headers)
                    if response.status in _REDIRECT_STATUSES and "location" in headers:
                        link = _parse_link(urljoin(link.url, headers["location"]), redirect=True)
                        continue
                    if response.status >= 400:
                        raise HTTPStatusError(response.status)
                    body = (b"" if response.status == 304
                            else _read_body(response.iter_stream(), headers, max_bytes))
                    return ConditionalResponse(
                        status=response.status, body=body,
                        content_type=headers.get("content-type", "").split(";")[0]
                        .strip().lower(),
                        url=link.url, etag=headers.get("etag"),
                        last_modified=headers.get("last-modified"),
                    )
            raise CorpusError(f"the page redirects more than {MAX_REDIRECTS} times")
    except CorpusError:
        raise
    except httpcore.TimeoutException:
        raise deadline.error() from None
    except httpcore.ConnectError as error:
        raise CorpusError(f"could not reach {link.host}: {_plain(error)}") from None
    except (httpcore.ProtocolError, httpcore.NetworkError, OSError) as error:
        raise CorpusError(f"download failed: {_plain(error)}") from None
    except Exception as error:  # a library's surprise must not escape as a traceback
        raise CorpusError(f"could not fetch that address ({type(error).__name__})") from None


def fetch_page_article(
    url: str, *, timeout: float = 10.0, max_bytes: int = 2_000_000,
    allow_private_hosts: bool = False,
) -> Article:
    """The article on a web page (a feed entry's link), by fetch_conditional's rules.
    CorpusError when the address is not a page with article text."""
    response = fetch_conditional(url, timeout=timeout, max_bytes=max_bytes,
                                 allow_private_hosts=allow_private_hosts)
    if _is_feed(response.body, response.content_type):
        raise CorpusError("the link is a feed, not an article page")
    try:
        return _page_article(response.body, response.url, max_bytes=max_bytes)
    except CorpusError:
        raise
    except Exception as error:  # a parser's surprise must not escape as a traceback
        raise CorpusError(f"could not read that page ({type(error).__name__})") from None
