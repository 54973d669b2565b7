"""Combining rankings of passages into a ranking of distinct articles."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# The constant from Cormack et al. (2009); it damps the weight of the very top ranks.
RRF_K = 60
# Passages this similar are the same story told twice (syndicated copies, reposts).
NEAR_DUPLICATE_COSINE = 0.95

Ranking = Sequence[tuple[int, float]]  # (passage id, score), best first


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
    # One pass over each ranking: an article's rank there is that of its best passage.
    article_scores: dict[str, float] = {}
    passage_scores: dict[int, float] = {}
    for ranking in rankings:
        seen: set[str] = set()
        for rank, (passage_id, _) in enumerate(ranking, start=1):
            passage_scores[passage_id] = passage_scores.get(passage_id, 0.0) + 1.0 / (k + rank)
            article = article_of(passage_id)
            if article is not None and article not in seen:
                seen.add(article)
                article_scores[article] = (article_scores.get(article, 0.0)
                                           + 1.0 / (k + len(seen)))
    # Each article's best fused passage; on a tie, the one met first.
    shown: dict[str, int] = {}
    for passage_id, score in passage_scores.items():
        article = article_of(passage_id)
        if article is not None and (article not in shown
                                    or score > passage_scores[shown[article]]):
            shown[article] = passage_id
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
    similar = (vectors @ vectors.T >= NEAR_DUPLICATE_COSINE).tolist()  # a dozen rows
    kept: list[int] = []
    for row in range(len(vectors)):
        if any(similar[row][other] for other in kept):
            continue
        kept.append(row)
        if len(kept) == k:
            break
    return kept
