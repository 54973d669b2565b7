"""Feed polling at scale: 50 local feeds x 50 entries (BBC news as the stories).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/feeds.py [--feeds 50] [--entries 50] [--fake]

Half the feeds carry whole articles; the other half only a first sentence, so their
linked pages are fetched and extracted (trafilatura). Measured on a fresh index (the two
seed articles in it, so questions can be asked from the start), with the poller's clock
moved by hand between polls:

1. the first poll (everything new: downloads, page fetches, extraction, embedding);
2. a second poll with nothing new (every feed answers 304 Not Modified);
3. a poll with 5% new entries (spread over all feeds, so every feed is re-fetched);
4. `Library.ask` latency with nothing running, and while polls 1 and 3 run in a thread.

Feeds are served by aiohttp on 127.0.0.1 (in its own thread). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.sax.saxutils import escape

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from aiohttp import web  # noqa: E402
from benchcommon import (  # noqa: E402
    bbc_articles,
    celebrity_fake_dir,
    celebrity_legit_dir,
    load_prefixed,
    machine_line,
    markdown_table,
    percentile_ms,
    scifact_articles,
    seeds_dir,
)

from corpus.records import Article  # noqa: E402
from index.embedder import Embedder, FakeEmbedder, SentenceTransformerEmbedder  # noqa: E402
from index.feeds import FeedConfig, Feeds  # noqa: E402
from index.library import Library  # noqa: E402

QUESTIONS = [
    "Why was Kim Kardashian criticized for her Japan trip?",
    "What did North West say at the Met Gala?",
    "What is the latest news about the economy?",
    "Who won the election?",
    "What happened to the stock market this week?",
    "Which film won an award?",
]
MAX_WORDS = 200  # per article: BBC stories run long; this keeps the model run in minutes


@dataclass
class Site:
    """feeds[i] -> (full_text, entries); entries are (guid, article)."""

    feeds: list[tuple[bool, list[tuple[str, Article]]]] = field(default_factory=list)
    base: str = ""
    bodies: dict[str, bytes] = field(default_factory=dict)
    requests: int = 0

    def render(self) -> None:
        for number, (full, entries) in enumerate(self.feeds):
            items = []
            for guid, article in entries:
                link = f"{self.base}/story/{guid}?utm_source=rss"
                text = article.text if full else article.text.split(". ")[0] + "."
                items.append(
                    f"<item><title>{escape(article.title)}</title><link>{escape(link)}</link>"
                    f"<guid isPermaLink='false'>{guid}</guid>"
                    f"<description>{escape(text)}</description></item>")
                if not full:
                    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in article.text.split("\n\n"))
                    self.bodies[f"/story/{guid}"] = (
                        f"<!doctype html><html><head><title>{escape(article.title)}</title>"
                        f"</head><body><article><h1>{escape(article.title)}</h1>{paragraphs}"
                        "</article></body></html>").encode()
            self.bodies[f"/feed/{number}.xml"] = (
                f"<?xml version='1.0'?><rss version='2.0'><channel><title>Feed {number}</title>"
                + "".join(items) + "</channel></rss>").encode()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = self.bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        kind = "application/rss+xml" if request.path.endswith(".xml") else "text/html"
        return web.Response(body=body, content_type=kind, headers={"ETag": etag})


def serve(site: Site) -> None:
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def start() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", site.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        await tcp.start()
        host, port = runner.addresses[0][:2]
        site.base = f"http://{host}:{port}"
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    threading.Thread(target=run, daemon=True, name="feed-site").start()
    started.wait(10)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def stories(count: int) -> list[Article]:
    """BBC news first, then celebrity news, then SciFact abstracts (BBC alone has 2,122
    distinct stories; 50 x 50 plus 5% new needs 2,625)."""
    articles = bbc_articles() + load_prefixed(celebrity_legit_dir(), "legit")
    articles += load_prefixed(celebrity_fake_dir(), "fake") + scifact_articles()
    seen: set[str] = set()
    unique = []
    for article in articles:
        if article.content_hash in seen:
            continue
        seen.add(article.content_hash)
        words = article.text.split(" ")
        unique.append(replace(article, text=" ".join(words[:MAX_WORDS])))
    if len(unique) < count:
        sys.exit(f"need {count} distinct stories, the benchmark data has {len(unique)}")
    return unique[:count]


def ask_while(library: Library, work, *, label: str) -> tuple[float, list[float]]:
    """Run `work` in a thread; ask questions in this one until it ends."""
    done = threading.Event()
    outcome: dict[str, float] = {}

    def run() -> None:
        started = time.perf_counter()
        work()
        outcome["seconds"] = time.perf_counter() - started
        done.set()

    threading.Thread(target=run, name=label).start()
    latencies = []
    at = 0
    while not done.is_set():
        started = time.perf_counter()
        library.ask(QUESTIONS[at % len(QUESTIONS)])
        latencies.append(time.perf_counter() - started)
        at += 1
        time.sleep(0.5)  # two questions a second: a busy server, not a load test
    return outcome["seconds"], latencies


def idle_asks(library: Library, count: int = 30) -> list[float]:
    latencies = []
    for at in range(count):
        started = time.perf_counter()
        library.ask(QUESTIONS[at % len(QUESTIONS)])
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--new-share", type=float, default=0.05)
    parser.add_argument("--fake", action="store_true", help="hashing embedder (no model)")
    args = parser.parse_args()

    embedder: Embedder = FakeEmbedder() if args.fake else SentenceTransformerEmbedder()
    total = args.feeds * args.entries
    new_count = round(total * args.new_share)
    pool = stories(total + new_count)
    site = Site()
    serve(site)
    site.feeds = [(number % 2 == 0, [(f"f{number}-e{j}", pool[number * args.entries + j])
                                     for j in range(args.entries)])
                  for number in range(args.feeds)]
    site.render()

    clock = Clock()
    folder = Path(tempfile.mkdtemp(prefix="spotlight-feeds-bench-")) / "index"
    library = Library.open(folder, embedder, create=True)
    library.build(load_prefixed(seeds_dir(), "seeds"))
    feeds = Feeds(library, FeedConfig(allow_private_urls=True, clock=clock, jitter=0.0,
                                      max_items=args.entries, max_pages=args.entries,
                                      poll_seconds=600))
    for number in range(args.feeds):
        feeds.subscribe(f"{site.base}/feed/{number}.xml", guild_id=None, origin="cli")
    library.ask(QUESTIONS[0])  # warm up

    rows = []
    idle = idle_asks(library)
    results: list = []
    requests = site.requests
    seconds, during_first = ask_while(library, lambda: results.extend(feeds.poll_due()),
                                      label="poll-1")
    added = sum(len(r.added) for r in results)
    errors = [r.line() for r in results if r.outcome == "error"]
    rows.append(("1. first poll (all new)", f"{seconds:.1f}", len(results), added,
                 site.requests - requests))

    clock.now += 16 * 60
    results.clear()
    requests = site.requests
    started = time.perf_counter()
    results.extend(feeds.poll_due())
    seconds = time.perf_counter() - started
    not_modified = sum(r.outcome == "not-modified" for r in results)
    rows.append((f"2. nothing new ({not_modified} x 304)", f"{seconds:.2f}", len(results),
                 sum(len(r.added) for r in results), site.requests - requests))

    extra = iter(pool[total:])
    for number in range(args.feeds):
        full, entries = site.feeds[number]
        share = new_count // args.feeds + (number < new_count % args.feeds)
        fresh = [(f"f{number}-new{j}", next(extra)) for j in range(share)]
        site.feeds[number] = (full, fresh + entries[: args.entries - share])
    site.render()
    clock.now += 16 * 60
    results.clear()
    requests = site.requests
    seconds, during_new = ask_while(library, lambda: results.extend(feeds.poll_due()),
                                    label="poll-3")
    rows.append((f"3. {args.new_share:.0%} new", f"{seconds:.1f}", len(results),
                 sum(len(r.added) for r in results), site.requests - requests))
    errors += [r.line() for r in results if r.outcome == "error"]

    print(f"Feeds benchmark: {args.feeds} feeds x {args.entries} entries "
          f"({'hashing' if args.fake else embedder.name} embedder); {machine_line()}\n")
    print(markdown_table(["poll", "seconds", "feeds polled", "articles added", "HTTP requests"],
                         rows))
    print()
    ask_rows = [(label, len(values), f"{percentile_ms(values, 50):.0f}",
                 f"{percentile_ms(values, 95):.0f}", f"{max(values) * 1000:.0f}")
                for label, values in (("idle", idle), ("during poll 1", during_first),
                                      ("during poll 3", during_new)) if values]
    print(markdown_table(["Library.ask", "questions", "p50 ms", "p95 ms", "max ms"], ask_rows))
    print(f"\nlibrary: {library.count_articles()} articles; "
          f"mean ask idle {statistics.mean(idle) * 1000:.0f} ms")
    for line in errors[:10]:
        print("error:", line)
    feeds.close()
    library.close()


if __name__ == "__main__":
    main()
