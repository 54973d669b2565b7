"""fetch_url against a real HTTP server on 127.0.0.1 (never any other address)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from corpus import Article, CorpusError, fetch_url

# The test server is on loopback, which fetch_url refuses unless told otherwise.
fetch_local = functools.partial(fetch_url, allow_private_hosts=True)

ARTICLE_PAGE = b"""<!doctype html><html><head><title>Kim in Japan | Gossip Site</title>
<meta property="og:title" content="Kim in Japan">
<meta property="article:published_time" content="2023-07-30T10:00:00Z"></head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a></nav>
<article><h1>Kim in Japan</h1>
<p>Kim Kardashian has been vacationing in Japan with her daughter North West, and her
latest photos sparked tons of comments criticizing her.</p>
<p>People were complaining that she was on a solo trip with North while leaving her other
kids at home.</p></article>
<footer>Copyright 2023 Gossip Site</footer></body></html>"""

RSS_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Celebrity news</title><link>http://example.invalid/</link>
<item><title>Kim in Japan</title><link>http://example.invalid/kim</link>
<pubDate>Sun, 30 Jul 2023 10:00:00 GMT</pubDate>
<description>&lt;p&gt;Kim Kardashian took North to &lt;b&gt;Japan&lt;/b&gt;.&lt;/p&gt;
&lt;p&gt;Fans complained.&lt;/p&gt;</description></item>
<item><title>No text</title><link>http://example.invalid/empty</link><description></description></item>
<item><title>North at the Met Gala</title><link>http://example.invalid/north</link>
<description>North West blasted her mother at the Met Gala.</description></item>
</channel></rss>"""

ATOM_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom news</title>
<entry><title>Entry one</title><link href="http://example.invalid/one"/>
<updated>2023-08-01T09:00:00Z</updated>
<content type="html">&lt;p&gt;The first entry text.&lt;/p&gt;</content></entry>
</feed>"""

OVERSIZED = b"<html><body><p>" + b"word " * 300_000 + b"</p></body></html>"


class _Handler(BaseHTTPRequestHandler):
    release: threading.Event  # set at teardown so the slow route never outlives the test

    def do_GET(self) -> None:
        routes = {
            "/article": (200, "text/html; charset=utf-8", ARTICLE_PAGE),
            "/feed.rss": (200, "application/rss+xml", RSS_FEED),
            "/feed-as-xml": (200, "text/xml", ATOM_FEED),
            "/nav-only": (200, "text/html", b"<html><body><nav>Home</nav></body></html>"),
            "/big": (200, "text/html", OVERSIZED),
        }
        if self.path == "/slow":
            self.release.wait(5)
            return self._send(200, "text/html", ARTICLE_PAGE)
        if self.path == "/big-chunked":
            return self._send_without_length(OVERSIZED)
        if self.path == "/redirect-to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/file")
            self.end_headers()
            return None
        if self.path == "/redirect":
            self.send_response(301)
            self.send_header("Location", "/article")
            self.end_headers()
            return None
        status, content_type, body = routes.get(self.path, (404, "text/plain", b"not found"))
        return self._send(status, content_type, body)

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_without_length(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for at in range(0, len(body), 65536):
                self.wfile.write(body[at : at + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading at its size cap, as it should

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet


@pytest.fixture(autouse=True)
def _loopback_bypasses_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # On a machine with http_proxy set, urllib would send even 127.0.0.1 to the proxy.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    release = threading.Event()
    handler = type("Handler", (_Handler,), {"release": release})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    release.set()
    httpd.shutdown()
    httpd.server_close()


def test_article_page(server: str) -> None:
    [article] = fetch_local(f"{server}/article")
    assert article.title == "Kim in Japan"
    assert article.date == "2023-07-30"
    assert article.url == article.source == f"{server}/article"
    assert article.text.startswith("Kim Kardashian has been vacationing in Japan")
    assert "leaving her other kids at home." in article.text
    assert "Home" not in article.text and "Copyright" not in article.text


def test_redirect_is_followed_and_the_final_url_recorded(server: str) -> None:
    [article] = fetch_local(f"{server}/redirect")
    assert article.source == f"{server}/article"


def test_rss_feed_gives_one_article_per_entry_with_text(server: str) -> None:
    articles = fetch_local(f"{server}/feed.rss")
    assert articles == [
        Article(
            title="Kim in Japan",
            text="Kim Kardashian took North to Japan.\n\nFans complained.",
            source="http://example.invalid/kim",
            url="http://example.invalid/kim",
            date="2023-07-30",
        ),
        Article(
            title="North at the Met Gala",
            text="North West blasted her mother at the Met Gala.",
            source="http://example.invalid/north",
            url="http://example.invalid/north",
            date=None,
        ),
    ]


def test_feed_items_are_capped(server: str) -> None:
    articles = fetch_local(f"{server}/feed.rss", max_feed_items=1)
    assert [a.title for a in articles] == ["Kim in Japan"]


def test_atom_feed_served_as_plain_xml_is_sniffed(server: str) -> None:
    [article] = fetch_local(f"{server}/feed-as-xml")
    assert (article.title, article.text, article.date) == (
        "Entry one",
        "The first entry text.",
        "2023-08-01",
    )


@pytest.mark.parametrize(
    ("path", "kwargs", "message"),
    [
        ("/missing", {}, "the server answered HTTP 404"),
        ("/big", {"max_bytes": 1_000_000}, "page is larger than 1 MB"),
        ("/big-chunked", {"max_bytes": 500_000}, "page is larger than 500 kB"),
        ("/slow", {"timeout": 0.3}, "timed out after 0.3 s"),
        ("/nav-only", {}, "no article text found on that page"),
        ("/redirect-to-ftp", {}, "the page redirects to a link that is not http(s)"),
    ],
)
def test_fetch_errors_are_short_and_clear(
    server: str, path: str, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(CorpusError) as caught:
        fetch_local(f"{server}{path}", **kwargs)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "javascript:alert(1)", "http://", "kim"]
)
def test_only_http_links_are_accepted(url: str) -> None:
    with pytest.raises(CorpusError, match=r"only http:// and https:// links"):
        fetch_url(url)


def test_unreachable_host_is_a_clear_error() -> None:
    # Port 9 on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(CorpusError, match=r"could not reach 127\.0\.0\.1"):
        fetch_local("http://127.0.0.1:9/", timeout=2)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.10", "[::1]"])
def test_private_and_local_hosts_are_refused_by_default(host: str) -> None:
    with pytest.raises(CorpusError, match="private or local address"):
        fetch_url(f"http://{host}/article")
