"""Which texts go through the model together: batches cut where padding would cost more
than another model run.

Texts are sorted longest first and each batch is padded to its longest, so a batch holding
two passages (~230 tokens) and 62 sentences (~30) pays for 64 passages. Fixed batches of 64
did that at every change from passages to sentences: an ingest's calls cost 1.25-1.4x
what the same texts cost in one call, and cut here they cost 0.58-0.69x the fixed runs'
time (benchmarks/README.md, "Stop 16").
"""

from __future__ import annotations

from collections.abc import Sequence

# A model run's cost in the model's own terms (ONNX fp32, fused, 2 cores; least squares over
# 18 batch shapes from 1x8 to 64x256 tokens): ~3.4 ms a run whatever its size, ~0.19 ms a
# token, and attention adding 1/850 of that per token of width. Only their ratios matter,
# and loosely: a run priced at 18 to 100 tokens cut an ingest's model time alike.
RUN_COST_TOKENS = 18.0
ATTENTION_WIDTH = 850.0


def batch_cost(texts: int, width: int) -> float:
    """A run of `texts` texts padded to `width` tokens, in tokens."""
    return RUN_COST_TOKENS + texts * width * (1.0 + width / ATTENTION_WIDTH)


def plan_batches(lengths: Sequence[int], most: int) -> list[tuple[int, int]]:
    """(start, end) of each batch over `lengths` sorted longest first, at most `most` texts
    a batch, the total `batch_cost` least (dynamic programming over where to cut)."""
    if most < 1:
        raise ValueError("most must be 1 or more")
    cheapest = [0.0] + [float("inf")] * len(lengths)
    cut_at = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        for start in range(max(0, end - most), end):
            cost = cheapest[start] + batch_cost(end - start, lengths[start])
            if cost < cheapest[end]:
                cheapest[end], cut_at[end] = cost, start
    batches: list[tuple[int, int]] = []
    end = len(lengths)
    while end:
        batches.append((cut_at[end], end))
        end = cut_at[end]
    return batches[::-1]
