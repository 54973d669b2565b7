"""visible_top (index/visible.py): the asker's top k from a wider unfiltered top when it
holds k, else from the filtered search."""

from __future__ import annotations

from collections.abc import Sequence

from index.parts import Ranking
from index.visible import OVERFETCH, visible_top

ALL: Ranking = [(pid, 100.0 - pid) for pid in range(1, 41)]  # best first


def search(private: set[int], k: int) -> tuple[Ranking, list[str]]:
    calls: list[str] = []

    def unfiltered(n: int) -> Ranking:
        calls.append(f"unfiltered {n}")
        return ALL[:n]

    def visible(ids: Sequence[int]) -> set[int]:
        return set(ids) - private

    def filtered() -> Ranking:
        calls.append("filtered")
        return [hit for hit in ALL if hit[0] not in private][:k]

    return visible_top(k, unfiltered, visible, filtered), calls


def test_few_private_passages_cost_one_unfiltered_search() -> None:
    found, calls = search({2, 5}, 5)
    assert found == [(1, 99.0), (3, 97.0), (4, 96.0), (6, 94.0), (7, 93.0)]
    assert calls == [f"unfiltered {OVERFETCH * 5}"]


def test_too_few_visible_in_the_wider_top_runs_the_filtered_search() -> None:
    private = set(range(1, 12))
    found, calls = search(private, 5)
    assert found == [(pid, 100.0 - pid) for pid in range(12, 17)]
    assert calls == [f"unfiltered {OVERFETCH * 5}", "filtered"]


def test_every_match_read_is_the_answer_even_under_k() -> None:
    found, calls = search(set(range(3, 41)), 30)  # 40 matches < OVERFETCH * 30
    assert found == [(1, 99.0), (2, 98.0)]
    assert calls == [f"unfiltered {OVERFETCH * 30}"]
