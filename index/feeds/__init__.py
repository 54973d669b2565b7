"""Feed subscriptions kept current: state in the index folder, a polite poller, retention."""

from index.feeds.config import FeedConfig
from index.feeds.poller import FeedPoller, NewArticle, PollResult
from index.feeds.service import FeedError, Feeds
from index.feeds.state import Feed, FeedStore

__all__ = ["Feed", "FeedConfig", "FeedError", "FeedPoller", "FeedStore", "Feeds", "NewArticle",
           "PollResult"]
