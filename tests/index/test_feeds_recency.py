"""Recent questions prefer recent articles (RecencyReranker in Library's pipeline)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from corpus.records import Article
from index.embedder import FakeEmbedder
from index.library import Library
from index.parts import EvidencePassage, Query
from index.rerankers import RecencyReranker, asks_about_recent
from index.results import Hit

TODAY = date(2026, 11, 20)


def passage(rank: int, published: str | None) -> EvidencePassage:
    hit = Hit(rank=rank, score=1.0 / rank, article_id=f"a{rank}", title=f"T{rank}", source="s",
              url=None, date=published, passage="text", passage_id=rank)
    return EvidencePassage(hit, np.zeros(4, np.float32), 0, [])


def query(text: str) -> Query:
    return Query(text, np.zeros(4, np.float32), ("global",))


@pytest.mark.parametrize(("question", "recent"), [
    ("What is the latest on Kim?", True), ("what happened this week", True),
    ("Who did Kim see yesterday?", True), ("Is Kim in Japan now?", True),
    ("Kim's new boyfriend", True), ("What did Kim do recently?", True),
    ("Why was Kim criticized?", False), ("Who knows the newsroom?", False),
])
def test_time_words(question: str, recent: bool) -> None:
    assert asks_about_recent(question) is recent


def test_recent_question_puts_fresh_articles_first_others_unchanged() -> None:
    reranker = RecencyReranker(today=lambda: TODAY)
    passages = [passage(1, "2025-01-01"), passage(2, None), passage(3, "2026-11-19")]
    reordered = reranker.rerank(query("What's the latest on Kim?"), passages)
    assert [p.hit.article_id for p in reordered] == ["a3", "a1", "a2"]
    assert [p.hit.rank for p in reordered] == [1, 2, 3]
    assert reranker.rerank(query("Why was Kim criticized?"), passages) == passages
    # a month-old article does not jump a relevant recent-enough one
    stale = [passage(1, "2026-11-10"), passage(2, "2026-10-01")]
    assert reranker.rerank(query("latest Kim news"), stale) == stale


def test_library_answers_recent_questions_from_the_newest_article(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    library = Library.open(tmp_path / "index", FakeEmbedder(), create=True)
    try:
        library.build([
            Article("Kim Kardashian visits Japan with North", "Kim Kardashian visited Japan "
                    "with North West and fans criticized the trip.", "old.txt",
                    date="2023-07-30"),
            Article("Kim Kardashian opens a store in Paris", "Kim Kardashian opened a store "
                    "in Paris and fans queued all night.", "new.txt",
                    date=(today - timedelta(days=1)).isoformat()),
        ])
        plain = library.search("Kim Kardashian Japan North fans", k=2)
        assert plain[0].source == "old.txt"
        recent = library.search("latest Kim Kardashian Japan North fans", k=2)
        assert recent[0].source == "new.txt" and recent[0].date is not None
    finally:
        library.close()
