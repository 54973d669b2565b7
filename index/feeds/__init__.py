"""Feed subscriptions kept current: state beside the library (its index folder or its
PostgreSQL database), a polite poller, retention."""

from index.feeds.config import FeedConfig
from index.feeds.poller import FeedPoller, NewArticle, PollResult
from index.feeds.service import FeedError, Feeds
from index.feeds.state import Feed, FeedStore

__all__ = ["Feed", "FeedConfig", "FeedError", "FeedPoller", "FeedStore", "Feeds", "NewArticle",
           "PollResult"]
