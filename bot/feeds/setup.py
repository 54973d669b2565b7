"""The bot's feed service: the poller's settings from the environment, with the fetch
limits and private-address rule of the bot's own Settings (the same as /library add)."""

from __future__ import annotations

import dataclasses
import logging

from bot.settings import Settings
from index.feeds import FeedConfig, Feeds
from index.library import Library

log = logging.getLogger(__name__)


def feed_config(settings: Settings) -> FeedConfig:
    try:
        config = FeedConfig.from_env()
    except ValueError as error:  # the bot still serves; the operator's feeds are off
        log.error("Feeds: %s; polling servers' feeds only, with default settings", error)
        config = FeedConfig()
    return dataclasses.replace(config, fetch_timeout=settings.fetch_timeout,
                               fetch_max_bytes=settings.fetch_max_bytes,
                               allow_private_urls=settings.allow_private_urls)


def open_feeds(library: Library, settings: Settings, config: FeedConfig | None) -> Feeds:
    return Feeds(library, config or feed_config(settings))
