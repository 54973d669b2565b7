"""Combining rankings of passages into a ranking of distinct articles."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np

# The constant from Cormack et al. (2009); it damps the weight of the very top ranks.
RRF_K = 60
# Passages this similar are the same story told twice (syndicated copies, reposts).
NEAR_DUPLICATE_COSINE = 0.95

Item = TypeVar("Item", bound=Hashable)
Ranking = Sequence[tuple[int, float]]  # (passage id, score), best first


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Item]], k: int = RRF_K) -> dict[Item, float]:
    """Each item's sum of 1 / (k + rank) over the rankings it appears in."""
    fused: dict[Item, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def rank_articles(
    rankings: Sequence[Ranking], article_of: Callable[[int], str | None], *, k: int = RRF_K
) -> list[tuple[int, float]]:
    """One (passage id, score) per article, best article first.

    One ranking: each article's best passage with its own score. Several: articles are
    fused by their rank in each (an article is as good as its best passage there), and each
    article is shown through the passage the rankings agree on most.
    """
    if len(rankings) == 1:
        best: dict[str, tuple[int, float]] = {}
        for passage_id, score in rankings[0]:
            article = article_of(passage_id)
            if article is not None and article not in best:
                best[article] = (passage_id, score)
        return list(best.values())
    article_rankings = []
    for ranking in rankings:
        ordered: dict[str, None] = {}
        for passage_id, _ in ranking:
            article = article_of(passage_id)
            if article is not None:
                ordered.setdefault(article)
        article_rankings.append(list(ordered))
    article_scores = reciprocal_rank_fusion(article_rankings, k)
    passage_scores = reciprocal_rank_fusion([[pid for pid, _ in r] for r in rankings], k)
    shown: dict[str, int] = {}
    for passage_id, _ in sorted(passage_scores.items(), key=lambda pair: -pair[1]):
        shown.setdefault(article_of(passage_id), passage_id)
    return [
        (shown[article], score)
        for article, score in sorted(article_scores.items(), key=lambda pair: (-pair[1], pair[0]))
    ]


class ReciprocalRankFusion:
    """The default fusion: articles by reciprocal rank over the retrievers' rankings."""

    def __init__(self, k: int = RRF_K) -> None:
        self.k = k

    def fuse(self, rankings: Sequence[Ranking],
             article_of: Callable[[int], str | None]) -> list[tuple[int, float]]:
        return rank_articles(rankings, article_of, k=self.k)


def drop_near_duplicates(vectors: np.ndarray, k: int) -> list[int]:
    """Rows of the first k candidates (best first), skipping any whose passage nearly
    copies one already kept."""
    kept: list[int] = []
    for row in range(len(vectors)):
        if kept and float(np.max(vectors[kept] @ vectors[row])) >= NEAR_DUPLICATE_COSINE:
            continue
        kept.append(row)
        if len(kept) == k:
            break
    return kept
