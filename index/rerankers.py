"""Rerankers (the `Reranker` protocol of index/parts.py): reorder the top passages.

`RecencyReranker`: a question about recent events ("the latest on Kim", "what happened
this week") prefers the newer of the relevant articles; any other question keeps the order
relevance gave it. It only reorders what retrieval already found relevant, so an old but
on-topic article is never replaced by a new off-topic one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from index.parts import EvidencePassage, Query

# Words that make a question about now. "new" alone is one: "Kim's new boyfriend".
RECENT_WORDS = re.compile(
    r"\b(latest|newest|new|now|today|tonight|yesterday|recent|recently|lately|currently|"
    r"this (?:week|weekend|month|morning)|last (?:night|week))\b", re.IGNORECASE)


def asks_about_recent(question: str) -> bool:
    return RECENT_WORDS.search(question) is not None


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class RecencyReranker:
    # How far (in places) a story published today may climb past older ones; its pull
    # halves every `half_life_days`. A day-old third hit beats a year-old first.
    weight: float = 2.5
    half_life_days: float = 7.0
    today: Callable[[], date] = field(default=_today, compare=False, repr=False)

    def rerank(self, query: Query, passages: list[EvidencePassage]) -> list[EvidencePassage]:
        if len(passages) < 2 or not asks_about_recent(query.text):
            return passages
        today = self.today()
        placed = sorted(
            enumerate(passages),
            key=lambda item: item[0] - self.weight * self.freshness(item[1].hit.date, today))
        if [index for index, _ in placed] == list(range(len(passages))):
            return passages
        return [replace(passage, hit=replace(passage.hit, rank=rank))
                for rank, (_, passage) in enumerate(placed, start=1)]

    def freshness(self, published: str | None, today: date) -> float:
        """1 for today (or a date in the future), halving every half-life; 0 undated."""
        if not published:
            return 0.0
        try:
            day = date.fromisoformat(published[:10])
        except ValueError:
            return 0.0
        age = max(0, (today - day).days)
        return 0.5 ** (age / self.half_life_days)
