"""fetch_url against hostile servers and names (issue 8: 6, 7, 8, 12).

Everything runs on 127.0.0.1. "Public" hosts are simulated: the resolver is patched to
answer public addresses, and the socket layer routes those addresses to local servers, so
a test sees exactly which address each connection went to.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import corpus.web as web
from corpus import CorpusError, fetch_url

PAGE = (b"<html><head><title>Kim in Japan</title></head><body><article><h1>Kim in Japan</h1>"
        b"<p>Kim Kardashian has been vacationing in Japan with her daughter North West, and "
        b"her latest photos sparked tons of comments criticizing her for the trip.</p>"
        b"</article></body></html>")
SECRET = PAGE.replace(b"Kim Kardashian", b"The admin password")
BOMB = gzip.compress(b"<html><body><p>" + b"a " * 10_000_000 + b"</p></body></html>")
ENTITY_FEED = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">'
               b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;'
               b'&b;&b;&b;&b;">]><rss version="2.0"><channel><title>t</title><item>'
               b"<title>Boom</title><link>http://example.com/x</link><description>&c;&c;&c;"
               b"</description></item></channel></rss>")


@dataclass
class Server:
    port: int
    hits: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def _handler(server: Server, release: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            server.hits.append(self.path)
            route = ROUTES.get(self.path.split("?")[0])
            if route is None:
                self._send(404, {}, b"missing")
            else:
                route(self, release)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in {"Content-Type": "text/html", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may stop reading at its limit, as it should.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _trickle(handler: BaseHTTPRequestHandler, release: threading.Event, data: bytes) -> None:
    try:
        for byte in data:
            if release.wait(0.2):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass


def _respond(body: bytes, **headers: str) -> Callable[[BaseHTTPRequestHandler, threading.Event],
                                                       None]:
    return lambda handler, release: handler._send(200, headers, body)  # type: ignore[attr-defined]


def _redirect(location: str) -> Callable[[BaseHTTPRequestHandler, threading.Event], None]:
    return lambda handler, release: handler._send(  # type: ignore[attr-defined]
        302, {"Location": location.replace("{port}", str(handler.server.server_address[1]))}, b"")


HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n"
ROUTES: dict[str, Callable[[BaseHTTPRequestHandler, threading.Event], None]] = {
    "/page": _respond(PAGE),
    "/secret": _respond(SECRET),
    "/gzip-page": _respond(gzip.compress(PAGE), **{"Content-Encoding": "gzip"}),
    "/deflate-page": _respond(zlib.compress(PAGE), **{"Content-Encoding": "deflate"}),
    "/bomb": _respond(BOMB, **{"Content-Encoding": "gzip"}),
    "/bomb-as-html": _respond(BOMB),
    "/brotli": _respond(b"\x0b\x02\x80hello\x03", **{"Content-Encoding": "br"}),
    "/entity-feed": _respond(ENTITY_FEED, **{"Content-Type": "application/rss+xml"}),
    "/trickle-headers": lambda h, r: _trickle(h, r, HEADERS + PAGE),
    "/trickle-body": lambda h, r: (h.wfile.write(HEADERS), h.wfile.flush(),
                                   _trickle(h, r, PAGE)),
    "/to-secret": _redirect("http://rebind.test:{port}/secret"),
    "/to-loopback": _redirect("http://127.0.0.1:{port}/secret"),
    "/to-ftp": _redirect("ftp://example.com/file"),
    "/loop": _redirect("/loop"),
    "/path-as-feed": _respond(b"", **{"Content-Type": "application/rss+xml"}),
}


@contextlib.contextmanager
def _serving() -> Iterator[Server]:
    release = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    record = Server(port=httpd.server_address[1])
    httpd.RequestHandlerClass = _handler(record, release)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield record
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def _servers() -> Iterator[tuple[Server, Server]]:
    with _serving() as local, _serving() as public:
        yield local, public


@pytest.fixture
def server(_servers: tuple[Server, Server]) -> Server:
    """The local server: what an attacker wants the bot to read."""
    _servers[0].hits.clear()
    return _servers[0]


@pytest.fixture
def public(_servers: tuple[Server, Server]) -> Server:
    """The same routes on another port: stands for a public web server."""
    _servers[1].hits.clear()
    return _servers[1]


@dataclass
class FakeNetwork:
    """Public addresses routed to local servers; every connection attempt recorded."""

    routes: dict[str, int] = field(default_factory=dict)
    answers: dict[str, list[str]] = field(default_factory=dict)
    connections: list[str] = field(default_factory=list)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    fake = FakeNetwork()
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection

    def getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list:
        if host in fake.answers:
            answers = fake.answers[host]
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 80))]
        return real_getaddrinfo(host, port, *args, **kwargs)  # type: ignore[arg-type]

    def create_connection(address: tuple[str, int], *args: object, **kwargs: object) -> object:
        host = address[0]
        fake.connections.append(host)
        if host in fake.routes:
            return real_create_connection(("127.0.0.1", fake.routes[host]), *args, **kwargs)
        if host == "127.0.0.1":
            return real_create_connection(address, *args, **kwargs)
        raise ConnectionRefusedError(111, "Connection refused (no network in tests)")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return fake


fetch_local = functools.partial(fetch_url, allow_private_hosts=True, timeout=5)


# --- defect 6: DNS rebinding ---------------------------------------------------------------


def test_the_connection_goes_to_the_address_that_was_checked(
    server: Server, public: Server, network: FakeNetwork
) -> None:
    network.answers["rebind.test"] = ["93.184.216.34", "127.0.0.1"]  # public, then local
    network.routes["93.184.216.34"] = public.port
    assert fetch_url(server.url("/secret", host="rebind.test"), timeout=5)
    assert server.hits == []  # the local secret was never asked for
    assert public.hits == ["/secret"]
    assert network.connections == ["93.184.216.34"]


def test_every_redirect_is_checked_and_pinned(
    server: Server, public: Server, network: FakeNetwork
) -> None:
    network.answers["news.test"] = ["93.184.216.34"]
    network.routes["93.184.216.34"] = public.port
    network.answers["rebind.test"] = ["93.184.216.35", "127.0.0.1"]
    # /to-secret on the public server redirects to rebind.test on the same port number.
    with pytest.raises(CorpusError, match=r"could not reach rebind\.test"):
        fetch_url(f"http://news.test:{public.port}/to-secret", timeout=5)
    assert network.connections == ["93.184.216.34", "93.184.216.35"]
    assert server.hits == []

    with pytest.raises(CorpusError, match=r"127\.0\.0\.1 is a private or local address"):
        fetch_url(f"http://news.test:{public.port}/to-loopback", timeout=5)


# --- defect 7: one deadline ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/trickle-headers", "/trickle-body"])
def test_a_trickling_server_is_cut_off_at_the_deadline(server: Server, path: str) -> None:
    started = time.monotonic()
    with pytest.raises(CorpusError, match=r"timed out after 1\.5 s"):
        fetch_local(server.url(path), timeout=1.5)
    # Before: each 0.2 s byte reset a per-read timeout and the fetch took ~3 minutes.
    assert time.monotonic() - started < 2.5


# --- defect 8: compression -----------------------------------------------------------------


def test_gzip_and_deflate_pages_are_decoded(server: Server) -> None:
    for path in ("/gzip-page", "/deflate-page"):
        [article] = fetch_local(server.url(path))
        assert article.title == "Kim in Japan"


def test_a_gzip_bomb_is_stopped_at_the_size_limit(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(CorpusError, match="page is larger than 1 MB when decompressed"):
        fetch_local(server.url("/bomb"), max_bytes=1_000_000)
    with pytest.raises(CorpusError):  # compressed bytes without the header: not inflated
        fetch_local(server.url("/bomb-as-html"), max_bytes=1_000_000)
    assert time.monotonic() - started < 3  # trafilatura took 46 s on a 10 MB inflation


def test_an_unread_encoding_is_a_clear_error(server: Server) -> None:
    with pytest.raises(CorpusError, match=r"an encoding we do not read \(br\)"):
        fetch_local(server.url("/brotli"))


def test_a_feed_body_is_never_taken_for_a_local_file_name(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "private-feed.xml"
    local.write_bytes(b'<rss version="2.0"><channel><item><title>Private</title>'
                      b"<description>The local secret feed text.</description></item>"
                      b"</channel></rss>")
    monkeypatch.setitem(ROUTES, "/path-as-feed", _respond(
        str(local).encode(), **{"Content-Type": "application/rss+xml"}))
    with pytest.raises(CorpusError, match="no entries with text"):
        fetch_local(server.url("/path-as-feed"))


def test_name_resolution_counts_against_the_deadline(
    network: FakeNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_getaddrinfo = socket.getaddrinfo

    def slow_getaddrinfo(host: str, *args: object, **kwargs: object) -> list:
        if host == "slow-dns.test":
            time.sleep(3)
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    started = time.monotonic()
    with pytest.raises(CorpusError, match=r"timed out after 0\.5 s"):
        fetch_url("http://slow-dns.test/", timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_a_feed_declaring_entities_is_refused(server: Server) -> None:
    with pytest.raises(CorpusError, match="declares XML entities"):
        fetch_local(server.url("/entity-feed"))


# --- defect 12: malformed links and anything else become CorpusError -----------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "malformed"),
        ("http://127.0.0.1:1\\@host/", "backslashes"),
        ("http://example.com:port/", "malformed"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com/\nx", "control characters"),
        ("http://example.com:99999/", "malformed"),
    ],
)
def test_malformed_links_are_clear_errors(url: str, message: str) -> None:
    with pytest.raises(CorpusError, match=message):
        fetch_url(url, allow_private_hosts=True, timeout=2)


def test_redirect_rules(server: Server) -> None:
    with pytest.raises(CorpusError, match="not http"):
        fetch_local(server.url("/to-ftp"))
    with pytest.raises(CorpusError, match="redirects more than 5 times"):
        fetch_local(server.url("/loop"))


def test_a_parser_failure_is_a_corpus_error(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("trafilatura surprise")

    monkeypatch.setattr(web, "extract_page", explode)
    with pytest.raises(CorpusError, match=r"could not read that page \(RuntimeError\)"):
        fetch_local(server.url("/page"))


def test_a_non_ascii_link_is_sent_percent_encoded(server: Server) -> None:
    assert fetch_local(server.url("/page?q=café"))
    assert server.hits == ["/page?q=caf%C3%A9"]
