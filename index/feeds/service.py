"""`Feeds`: subscriptions and polling for one library, what the bot and the CLI call."""

from __future__ import annotations

from corpus.feeds import canonical_link
from index.feeds.config import FeedConfig
from index.feeds.poller import FeedPoller, PollResult
from index.feeds.state import Feed, open_feed_store
from index.library import Library
from index.store import scope_of


class FeedError(ValueError):
    """A subscription request that cannot be done; the message says why, for a person."""


class Feeds:
    def __init__(self, library: Library, config: FeedConfig) -> None:
        self.config = config
        self.store = open_feed_store(library)
        self.poller = FeedPoller(library, self.store, config)
        self.store.sync_config(
            [url for url in map(canonical_link, config.global_feeds) if url],
            now=config.clock())

    def subscribe(self, url: str, *, guild_id: int | None, origin: str,
                  announce_channel: int | None = None) -> tuple[Feed, bool]:
        link = canonical_link(url.strip())
        if link is None:
            raise FeedError("Give a full http:// or https:// feed address.")
        return self.store.add(scope_of(guild_id), link, origin=origin,
                              announce_channel=announce_channel, now=self.config.clock())

    def subscribe_and_check(self, url: str, *, guild_id: int | None, origin: str,
                            announce_channel: int | None = None
                            ) -> tuple[Feed, bool, PollResult | None]:
        """Subscribe and check the feed now: (feed, created, the check's result, or None
        when another poller is checking it at this moment)."""
        link = canonical_link(url.strip())
        if link is None:
            raise FeedError("Give a full http:// or https:// feed address.")
        feed, created, leased = self.store.add_claimed(
            scope_of(guild_id), link, origin=origin, announce_channel=announce_channel,
            now=self.config.clock(), lease=self.config.lease_seconds)
        if not leased:
            return feed, created, None
        result = self.poller.poll_feed(feed)
        return feed, created, result

    def unsubscribe(self, url: str, *, guild_id: int | None) -> bool:
        link = canonical_link(url.strip()) or url.strip()
        return self.store.remove(scope_of(guild_id), link)

    def list(self, *, guild_id: int | None) -> list[Feed]:
        return self.store.list(scope_of(guild_id))

    def poll_due(self) -> list[PollResult]:
        """Every scope's due feeds: the bot's background task and `watch`."""
        return self.poller.poll_due()

    def check(self, *, guild_id: int | None, url: str | None = None) -> list[PollResult]:
        """Poll now, due or not: one scope's feeds, or one of them."""
        if url is None:
            return self.poller.poll_due(scope=scope_of(guild_id), force=True)
        feed = self.store.get(scope_of(guild_id), canonical_link(url) or url)
        if feed is None:
            return []
        return self.poller.poll_due(scope=feed.scope, force=True, feed_id=feed.id)

    def poll_round(self) -> tuple[list[PollResult], float]:
        """Poll what is due; and seconds until something may be due again (capped, so
        feeds subscribed meanwhile, by another process too, are seen soon)."""
        results = self.poll_due()
        next_due = self.store.next_due()
        wake = self.config.wake_seconds
        wait = wake if next_due is None else next_due - self.config.clock()
        return results, min(max(wait, 1.0), wake)

    def set_retention(self, *, guild_id: int | None, days: int | None) -> None:
        self.store.set_retention(scope_of(guild_id), days)

    def retention(self, *, guild_id: int | None) -> int | None:
        return self.store.retention(scope_of(guild_id))

    def stop(self) -> None:
        """Let a poll in progress finish its current downloads, starting no new ones."""
        self.poller.stopping.set()

    def close(self) -> None:
        self.store.close()
