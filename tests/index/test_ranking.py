"""index/ranking.py: fusing rankings into articles, and dropping near-copies."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from index.ranking import RRF_K, drop_near_duplicates, rank_articles

ARTICLE_OF = {1: "a", 2: "a", 3: "b", 4: "c", 5: None}.get


def rrf(*ranks: int) -> float:
    return sum(1.0 / (RRF_K + rank) for rank in ranks)


def test_articles_are_fused_by_their_best_passage_in_each_ranking() -> None:
    dense = [(2, 0.9), (3, 0.8), (1, 0.7)]  # articles a, b (a's second passage not counted)
    keyword = [(5, 9.0), (4, 8.0), (1, 7.0)]  # 5 is not visible: c then a
    fused = rank_articles([dense, keyword], ARTICLE_OF)
    # a: 1st in dense, 2nd in keyword; b: 2nd in dense; c: 1st in keyword.
    assert fused == [(1, rrf(1, 2)), (4, rrf(1)), (3, rrf(2))]


def test_an_article_is_shown_through_the_passage_the_rankings_agree_on() -> None:
    # Passage 1 is second in both (2/61 + ...); passage 2 first in one only.
    fused = rank_articles([[(2, 0.9), (1, 0.8)], [(3, 5.0), (1, 4.0)]], ARTICLE_OF)
    assert fused[0] == (1, rrf(1, 2))
    # On a tie the passage met first is shown.
    tied = rank_articles([[(2, 0.9)], [(1, 4.0)]], ARTICLE_OF)
    assert tied == [(2, rrf(1, 1))]


def test_one_ranking_keeps_each_articles_best_passage_and_its_own_score() -> None:
    assert rank_articles([[(2, 0.9), (1, 0.8), (5, 0.7), (3, 0.6)]], ARTICLE_OF) == [
        (2, 0.9), (3, 0.6)]


def reference(rankings: list[list[tuple[int, float]]], article_of) -> list[tuple[int, float]]:
    """The definition, spelt out: reciprocal rank over each ranking's distinct visible
    articles; each article shown by its passage of highest reciprocal rank over the
    passages (the first met on a tie); best article first, ties by article id."""
    article_scores: dict[str, float] = {}
    passage_scores: dict[int, float] = {}
    for ranking in rankings:
        articles = list(dict.fromkeys(a for pid, _ in ranking if (a := article_of(pid))))
        for rank, article in enumerate(articles, start=1):
            article_scores[article] = article_scores.get(article, 0.0) + 1.0 / (RRF_K + rank)
        for rank, (pid, _) in enumerate(ranking, start=1):
            passage_scores[pid] = passage_scores.get(pid, 0.0) + 1.0 / (RRF_K + rank)
    shown: dict[str, int] = {}
    for pid, _ in sorted(passage_scores.items(), key=lambda pair: -pair[1]):
        shown.setdefault(article_of(pid), pid)
    return [(shown[article], score) for article, score in
            sorted(article_scores.items(), key=lambda pair: (-pair[1], pair[0]))]


@given(st.lists(st.lists(st.integers(0, 30), unique=True, max_size=20), min_size=2,
                max_size=3),
       st.dictionaries(st.integers(0, 30), st.sampled_from("abcdefg")))
def test_fusion_is_reciprocal_rank_over_articles(ranked: list[list[int]],
                                                  articles: dict[int, str]) -> None:
    rankings = [[(pid, 0.0) for pid in ranking] for ranking in ranked]
    assert rank_articles(rankings, articles.get) == reference(rankings, articles.get)


def unit(*rows: list[float]) -> np.ndarray:
    matrix = np.array(rows, np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_near_copies_of_a_kept_passage_are_dropped() -> None:
    vectors = unit([1, 0, 0], [1, 0.05, 0], [0, 1, 0], [0, 0, 1])
    assert drop_near_duplicates(vectors, 3) == [0, 2, 3]
    assert drop_near_duplicates(vectors, 2) == [0, 2]


def test_only_kept_passages_are_compared() -> None:
    # Row 2 nearly copies row 1, which is dropped as a copy of row 0; row 2 is far enough
    # from row 0 to stay.
    vectors = unit([1, 0, 0], [1, 0.3, 0], [1, 0.6, 0])
    assert float(vectors[0] @ vectors[1]) >= 0.95 and float(vectors[1] @ vectors[2]) >= 0.95
    assert float(vectors[0] @ vectors[2]) < 0.95
    assert drop_near_duplicates(vectors, 3) == [0, 2]
