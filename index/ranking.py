"""Combining rankings and thinning them to distinct articles."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# The constant from Cormack et al. (2009); it damps the weight of the very top ranks.
RRF_K = 60
# Passages this similar are the same story told twice (syndicated copies, reposts).
NEAR_DUPLICATE_COSINE = 0.95


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K
) -> list[tuple[int, float]]:
    """Items (best first in each ranking) by the sum of 1 / (k + rank), best first."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))


def distinct_articles(
    ranked: Sequence[tuple[int, float]],
    article_of: Callable[[int], str | None],
    vectors_of: Callable[[list[int]], np.ndarray],
    k: int,
) -> list[tuple[int, float]]:
    """The best passage of each article, skipping near-copies of a passage already kept."""
    kept: list[tuple[int, float]] = []
    seen_articles: set[str] = set()
    candidates = []
    for passage_id, score in ranked:
        article = article_of(passage_id)
        if article is None or article in seen_articles:
            continue
        seen_articles.add(article)
        candidates.append((passage_id, score))
        if len(candidates) == 4 * k:
            break
    if not candidates:
        return kept
    vectors = vectors_of([passage_id for passage_id, _ in candidates])
    kept_rows: list[int] = []
    for row, candidate in enumerate(candidates):
        if kept_rows and float(np.max(vectors[kept_rows] @ vectors[row])) >= NEAR_DUPLICATE_COSINE:
            continue
        kept.append(candidate)
        kept_rows.append(row)
        if len(kept) == k:
            break
    return kept
