"""The index's public face: open a folder, add and remove articles, search, ask.

All methods are plain blocking code, safe to call from several threads (the bot calls
them through `asyncio.to_thread`). Writes are serialised by one lock; readers never see
a half-written index.

Scope: `guild_id=None` means the operator's global articles only; `guild_id=G` means
global articles plus G's own, never another guild's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from corpus.records import Article
from index.embedder import Embedder
from index.results import AddReport, Answer, ArticleInfo, Hit, IndexInfo, QuestionStats

SearchMode = Literal["hybrid", "dense", "keyword"]
MAX_QUESTION_CHARS = 500


class Library:
    @classmethod
    def open(cls, folder: Path, embedder: Embedder, *, create: bool = False) -> Library:
        """Open an index folder. Raises IndexMissingError (unless create=True) and
        IndexMismatchError (other model, dim or format version)."""
        raise NotImplementedError

    def add_articles(
        self,
        articles: Iterable[Article],
        *,
        guild_id: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> AddReport:
        """Add or update articles in one scope; unchanged content is not re-embedded."""
        raise NotImplementedError

    def build(
        self, articles: Iterable[Article], *, progress: Callable[[int, int], None] | None = None
    ) -> AddReport:
        """Make the global articles equal to `articles`: add, update, and remove the rest."""
        raise NotImplementedError

    def remove(self, article_id: str, *, guild_id: int | None = None) -> bool:
        """Remove an article. With guild_id, only that guild's own articles may be removed."""
        raise NotImplementedError

    def search(
        self, query: str, *, guild_id: int | None = None, k: int = 5, mode: SearchMode = "hybrid"
    ) -> list[Hit]:
        """The best passages, at most one per article, best first."""
        raise NotImplementedError

    def ask(self, question: str, *, guild_id: int | None = None, k: int = 3) -> Answer:
        """A grounded answer: quoted sentences with citations, or abstained=True with the
        closest articles as hits. Raises QuestionError for an empty or overlong question."""
        raise NotImplementedError

    def get_article(self, article_id: str, *, guild_id: int | None = None) -> ArticleInfo | None:
        raise NotImplementedError

    def list_articles(
        self, *, guild_id: int | None = None, own_only: bool = False, offset: int = 0,
        limit: int = 10,
    ) -> list[ArticleInfo]:
        """Newest first. own_only: only the guild's own articles, not the global ones."""
        raise NotImplementedError

    def count_articles(self, *, guild_id: int | None = None, own_only: bool = False) -> int:
        raise NotImplementedError

    def info(self, *, guild_id: int | None = None) -> IndexInfo:
        """Counts are those visible from guild_id's scope."""
        raise NotImplementedError

    def log_question(self, question: str, answer: Answer, *, guild_id: int | None,
                     user_id: int | None) -> int:
        """Store a question and whether it was answered; returns its id (for feedback)."""
        raise NotImplementedError

    def record_feedback(self, question_id: int, *, user_id: int, vote: int) -> None:
        """vote is +1 or -1; a user's second vote on the same answer replaces the first."""
        raise NotImplementedError

    def question_stats(self, *, guild_id: int | None, top: int = 5) -> QuestionStats:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
