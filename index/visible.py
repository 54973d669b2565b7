"""A top-k search for a server that may not see every passage (another server's private
articles are in the index), without a filter inside the search.

Both engines slow down a lot with one: tantivy can no longer skip blocks of postings, and
FAISS checks every vector it scans against a set of a million ids (a million passages:
keyword p50 6.2 against 0.7 ms, dense 5.9 against 1.9 ms; benchmarks/README.md). When
private articles are few, the unfiltered top 2k already holds the asker's top k: its
first k visible passages are exactly what the filtered search would return. Only when it
holds fewer does the filtered search run.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from typing import Protocol

from index.parts import Ranking

# How many times k an unfiltered search reads before the filtered search is tried.
OVERFETCH = 2


class ArticleLookup(Protocol):
    """Where a search learns which passages an asker may see (the store, or the embedded
    backend's in-memory map of it)."""

    def articles_of(self, passage_ids: Sequence[int],
                    scopes: Sequence[str]) -> dict[int, str]: ...


def visible_top(k: int, unfiltered: Callable[[int], Ranking],
                visible: Callable[[Sequence[int]], Container[int]],
                filtered: Callable[[], Ranking]) -> Ranking:
    """`unfiltered(n)`: the top n of every passage, best first; `visible(ids)`: those of
    `ids` the asker may see; `filtered()`: the asker's top k, searched with a filter."""
    wider = OVERFETCH * k
    ranked = unfiltered(wider)
    seen = visible([passage_id for passage_id, _ in ranked])
    kept = [hit for hit in ranked if hit[0] in seen]
    if len(kept) >= k or len(ranked) < wider:  # enough, or every match was read
        return kept[:k]
    return filtered()
