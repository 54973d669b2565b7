"""How the feed poller behaves, from the environment (and `.env`): shared by the bot and
`python -m index watch`, so both poll the same way. `.env.example` documents each variable."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from index.config import EnvReader, boolean, positive_float, positive_int

DEFAULT_INTERVAL_MINUTES = 15.0
DEFAULT_MIN_INTERVAL_MINUTES = 5.0


@dataclass(frozen=True)
class FeedConfig:
    # Between two polls of one feed; never below `min_interval` nor the feed's own <ttl>.
    interval_seconds: float = DEFAULT_INTERVAL_MINUTES * 60
    min_interval_seconds: float = DEFAULT_MIN_INTERVAL_MINUTES * 60
    # ± this share of the interval, so feeds added together do not stay in lockstep.
    jitter: float = 0.1
    # Errors back off: interval, x2, x4 … up to this.
    max_backoff_seconds: float = 6 * 3600
    fetch_timeout: float = 10.0  # per download (the feed, each page), one total deadline
    fetch_max_bytes: int = 2_000_000
    allow_private_urls: bool = False
    max_items: int = 50  # entries read per feed per poll
    max_pages: int = 20  # linked pages fetched per feed per poll (for summary-only entries)
    poll_seconds: float = 60.0  # per feed per poll: past it, entries keep their summaries
    workers: int = 4  # feeds downloaded at once
    # A claimed feed is someone's for this long; after a crash it is polled again.
    lease_seconds: float = 300.0
    # The poll loop (bot, watch) looks for due feeds at least this often.
    wake_seconds: float = 30.0
    global_feeds: tuple[str, ...] = ()  # the operator's, from SPOTLIGHT_FEEDS(_FILE)
    retention_days: int | None = None  # the operator's global feed articles; None: forever
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FeedConfig:
        """Raises ValueError naming the variable when a value is malformed (or the feeds
        file cannot be read)."""
        values = EnvReader(os.environ if env is None else env)
        feeds = list(values.get("SPOTLIGHT_FEEDS", _url_list, []))
        feeds_file = values.get("SPOTLIGHT_FEEDS_FILE", Path, None)
        if feeds_file is not None:
            feeds += read_feeds_file(feeds_file)
        return cls(
            interval_seconds=60 * values.get(
                "SPOTLIGHT_FEED_INTERVAL_MINUTES", positive_float, DEFAULT_INTERVAL_MINUTES),
            min_interval_seconds=60 * values.get(
                "SPOTLIGHT_FEED_MIN_INTERVAL_MINUTES", positive_float,
                DEFAULT_MIN_INTERVAL_MINUTES),
            fetch_timeout=values.get("SPOTLIGHT_FETCH_TIMEOUT", positive_float, 10.0),
            fetch_max_bytes=values.get("SPOTLIGHT_FETCH_MAX_BYTES", positive_int, 2_000_000),
            allow_private_urls=values.get("SPOTLIGHT_ALLOW_PRIVATE_URLS", boolean, False),
            max_items=values.get("SPOTLIGHT_FEED_MAX_ITEMS", positive_int, 50),
            global_feeds=tuple(dict.fromkeys(feeds)),
            retention_days=values.get("SPOTLIGHT_FEED_RETENTION_DAYS", positive_int, None),
        )

    def interval_for(self, ttl_minutes: int | None) -> float:
        return max(self.interval_seconds, self.min_interval_seconds, (ttl_minutes or 0) * 60)


def _url_list(raw: str) -> list[str]:
    urls = raw.replace(",", " ").split()
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"must be http(s) feed URLs separated by spaces or commas ({url})")
    return urls


def read_feeds_file(path: Path) -> list[str]:
    """One URL a line; blank lines and `#` comments ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"SPOTLIGHT_FEEDS_FILE {path} cannot be read ({error})") from None
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    try:
        return _url_list(" ".join(line for line in lines if line))
    except ValueError as error:
        raise ValueError(f"SPOTLIGHT_FEEDS_FILE {path} {error}") from None
