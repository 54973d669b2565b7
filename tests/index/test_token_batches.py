"""index/token_batches.py: where a call's texts are cut into model runs."""

from __future__ import annotations

import itertools
import random

import pytest

from index.token_batches import batch_cost, plan_batches


def plan_cost(lengths: list[int], plan: list[tuple[int, int]]) -> float:
    return sum(batch_cost(end - start, lengths[start]) for start, end in plan)


def every_plan(count: int, most: int):
    """All cuts of `count` texts into consecutive batches of at most `most`."""
    for cuts in itertools.product((False, True), repeat=count - 1):
        bounds = [0, *(at + 1 for at, cut in enumerate(cuts) if cut), count]
        plan = list(itertools.pairwise(bounds))
        if all(end - start <= most for start, end in plan):
            yield plan


def test_passages_and_sentences_go_in_runs_of_their_own():
    lengths = [230, 228, *[30] * 62]
    assert plan_batches(lengths, 64) == [(0, 2), (2, 64)]


def test_texts_of_one_length_take_the_fewest_runs():
    plan = plan_batches([20] * 130, 64)
    assert len(plan) == 3
    assert all(end - start <= 64 for start, end in plan)


def test_a_plan_covers_every_text_once_in_order_within_the_limit():
    rng = random.Random(7)
    for _ in range(200):
        lengths = sorted((rng.randint(1, 256) for _ in range(rng.randint(1, 150))),
                         reverse=True)
        most = rng.randint(1, 64)
        plan = plan_batches(lengths, most)
        assert plan[0][0] == 0 and plan[-1][1] == len(lengths)
        assert all(a_end == b_start for (_, a_end), (b_start, _) in itertools.pairwise(plan))
        assert all(0 < end - start <= most for start, end in plan)


def test_the_plan_is_the_cheapest_of_all_cuts():
    rng = random.Random(11)
    for _ in range(60):
        count = rng.randint(1, 9)
        lengths = sorted((rng.choice([8, 12, 25, 40, 120, 256]) for _ in range(count)),
                         reverse=True)
        most = rng.randint(1, 5)
        cheapest = min(plan_cost(lengths, plan) for plan in every_plan(count, most))
        assert plan_cost(lengths, plan_batches(lengths, most)) == pytest.approx(cheapest)


def test_nothing_to_plan_and_a_bad_limit():
    assert plan_batches([], 64) == []
    assert plan_batches([12], 64) == [(0, 1)]
    with pytest.raises(ValueError):
        plan_batches([12], 0)
