"""FTS5's bm25, as far as the keyword search needs it to skip work without changing results.

SQLite's bm25 (fts5_aux.c) is a sum over the query's phrases:

    idf(p) * f(p, D) * (k1 + 1) / (f(p, D) + k1 * (1 - b + b * |D| / avgdl))
    idf(p) = max(log((rows - hits(p) + 0.5) / (hits(p) + 0.5)), 1e-6)

with k1 = 1.2, b = 0.75, `hits` the passages holding the phrase in the whole table and `f`
its column-weighted count. Two facts follow. The score splits exactly: a query's score is
its rare phrases' score plus its common phrases'. And one phrase adds strictly less than
idf(p) * (k1 + 1) to any passage, however often it occurs. So when the k-th best passage
among those holding a rare phrase outscores the most the common phrases could add
together, no passage holding only common phrases can reach the top k, and FTS5 need not
score the thousands of passages that hold "one" or "years" alone (MaxScore, Turtle and
Flood 1995).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

K1 = 1.2
IDF_FLOOR = 1e-6  # FTS5 gives a phrase in over half the rows this idf, not a negative one
# A phrase goes to the common side only when it is in at least this share of the rows:
# rarer ones cost FTS5 little to score, and their bound is too high to ever be cleared.
COMMON_SHARE = 0.01
# The common side's bound must stay below this for a split to be tried: measured on the
# 100k tier (348 celebrity questions), the 50th best keyword score is below 7.1 for 5%
# of questions and below 10.3 for half; a split the top k cannot clear costs a second query.
MAX_COMMON_BOUND = 10.0

Ranking = list[tuple[int, float]]  # (passage id, score), best first


def idf(hits: int, rows: int) -> float:
    return max(math.log((rows - hits + 0.5) / (hits + 0.5)), IDF_FLOOR)


def phrase_bound(hits: int, rows: int) -> float:
    """More than one phrase can add to any passage's score."""
    return idf(hits, rows) * (K1 + 1)


def split_common(phrases: Sequence[str], hits: Mapping[str, int],
                 rows: int) -> tuple[list[str], list[str]]:
    """(rare, common): the commonest phrases, while their bounds together stay under
    MAX_COMMON_BOUND, go to the common side; `common` is empty when no split is worth it.
    Phrases keep their order within each side."""
    common: set[str] = set()
    budget = MAX_COMMON_BOUND
    for phrase in sorted(phrases, key=lambda p: -hits[p]):
        bound = phrase_bound(hits[phrase], rows)
        if len(common) + 1 == len(phrases) or hits[phrase] < COMMON_SHARE * rows \
                or bound >= budget:
            break
        common.add(phrase)
        budget -= bound
    return ([p for p in phrases if p not in common], [p for p in phrases if p in common])


def common_bound(common: Sequence[str], hits: Mapping[str, int], rows: int) -> float:
    return sum(phrase_bound(hits[phrase], rows) for phrase in common)


def merge_split(rare_only: Ranking, with_common: Ranking, k: int,
                bound: float) -> Ranking | None:
    """The exact top k of the whole query, or None when it cannot be known from these.

    `rare_only`: the top k by the rare phrases' score (a passage also holding a common
    phrase is scored too low here); `with_common`: the top k of the passages holding a
    rare and a common phrase, scored by all phrases. A passage of `rare_only` that also
    holds a common phrase but is missing from `with_common` is outscored by all k of
    `with_common`, so its low score never wins a place. Passages holding only common
    phrases score under `bound`: the k-th best must beat it."""
    scores = dict(rare_only)
    scores.update(with_common)
    top = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
    if len(top) < k or top[-1][1] <= bound:
        return None
    return top
