"""A news site on 127.0.0.1 for feed tests: feeds and pages that a test changes between
polls. aiohttp in its own thread and loop, so blocking pollers and async bots both use it.

    with FeedServer() as site:
        site.feed("/celeb.xml", [item("Kim in Japan", "/kim", "Kim took North ...")])
        site.url("/celeb.xml")
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True  # answer 304 to a matching If-None-Match
    trickle: float = 0.0  # seconds between bytes


@dataclass(frozen=True)
class Item:
    title: str
    link: str | None
    text: str
    guid: str | None = None
    date: datetime | None = None


def item(title: str, link: str | None, text: str, *, guid: str | None = None,
         date: datetime | None = None) -> Item:
    return Item(title, link, text, guid, date)


def rss(items: Sequence[Item], *, base: str, title: str = "Celebrity news",
        ttl: int | None = None) -> bytes:
    parts = [f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
             f"<title>{escape(title)}</title><link>{base}/</link>"]
    if ttl:
        parts.append(f"<ttl>{ttl}</ttl>")
    for entry in items:
        parts.append(f"<item><title>{escape(entry.title)}</title>")
        if entry.link is not None:
            link = entry.link if entry.link.startswith("http") else base + entry.link
            parts.append(f"<link>{escape(link)}</link>")
        if entry.guid:
            parts.append(f"<guid isPermaLink='false'>{escape(entry.guid)}</guid>")
        if entry.date:
            parts.append(f"<pubDate>{format_datetime(entry.date.astimezone(UTC), usegmt=True)}"
                         "</pubDate>")
        parts.append(f"<description>{escape(entry.text)}</description></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def page(title: str, paragraphs: Sequence[str], *, date: str | None = None) -> bytes:
    meta = f"<meta property='article:published_time' content='{date}'>" if date else ""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (f"<!doctype html><html><head><title>{escape(title)}</title>{meta}</head><body>"
            f"<nav><a href='/'>Home</a></nav><article><h1>{escape(title)}</h1>{body}"
            "</article><footer>Copyright</footer></body></html>").encode()


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.base = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                         name="feed-server")
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> FeedServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def url(self, path: str) -> str:
        return self.base + path

    def set(self, path: str, body: bytes, **options: object) -> Route:
        self.routes[path] = route = Route(body=body, **options)  # type: ignore[arg-type]
        return route

    def feed(self, path: str, items: Sequence[Item], **options: object) -> Route:
        ttl = options.pop("ttl", None)
        return self.set(path, rss(items, base=self.base, ttl=ttl), **options)  # type: ignore[arg-type]

    def page(self, path: str, title: str, paragraphs: Sequence[str], **options: object) -> Route:
        return self.set(path, page(title, paragraphs, date=options.pop("date", None)),  # type: ignore[arg-type]
                        content_type="text/html", **options)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base = f"http://{host}:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path_qs if request.path_qs in self.routes else request.path
        self.hits[path] += 1
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404, text="not found")
        headers = dict(route.headers)
        etag = f'"{hashlib.sha256(route.body).hexdigest()[:16]}"'
        if route.status == 200 and route.conditional:
            headers.setdefault("ETag", etag)
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers=headers)
        if route.trickle:
            response = web.StreamResponse(status=route.status, headers=headers)
            response.content_type = route.content_type
            await response.prepare(request)
            for byte in route.body:
                await response.write(bytes([byte]))
                await asyncio.sleep(route.trickle)
            return response
        return web.Response(status=route.status, body=route.body, headers=headers,
                            content_type=route.content_type)
