"""Sentence vectors pooled from their passage's own token embeddings.

The extractive answerer compares every sentence of the top passages with the question, so
ingest stores a vector per sentence. Encoding each sentence on its own ("encoded") runs the
model over every passage twice (once whole, once in pieces). Pooling instead ("pooled"):
the passage goes through the model once, and a sentence's vector is the mean of the
passage's token embeddings over the sentence's characters (the fast tokenizer's offsets),
L2-normalised, as sentence-transformers pools a whole text. A sentence that the model's
maximum sequence length cut off (wholly or partly) has no tokens to pool: it is encoded on
its own instead (a fallback, counted).

The two kinds give different vectors (a pooled sentence carries its passage's context), so
an index records its kind in its manifest, never mixes them, and the answerer uses weights
fitted for its kind (index/answerers/extractive.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

SentenceVectors = Literal["encoded", "pooled"]
KINDS: tuple[SentenceVectors, ...] = ("encoded", "pooled")
# Indexes written before the kind was recorded encoded their sentences.
LEGACY_KIND: SentenceVectors = "encoded"
# What a new index uses unless asked otherwise (SPOTLIGHT_SENTENCE_VECTORS). Encoded: pooled
# builds ~2x faster but its answers were 1.5-2.4 points lower on both held-out halves
# (benchmarks/README.md, "Pooled sentence vectors"). Pooling needs an embedder that
# supports spans; without one a new index is encoded whatever the setting.
DEFAULT_KIND: SentenceVectors = "encoded"
KIND_ENV = "SPOTLIGHT_SENTENCE_VECTORS"

Span = tuple[int, int]  # [start, end) character offsets into its text


@dataclass(frozen=True)
class SpanVectors:
    """What `encode_with_spans` returns: one vector per text and per span of each text."""

    texts: np.ndarray  # (len(texts), dim), each row L2-normalised
    spans: list[np.ndarray]  # spans[i]: (len(spans[i]), dim), each row L2-normalised
    fallbacks: int  # spans with no token in the model's window, encoded on their own


@runtime_checkable
class SpanEmbedder(Protocol):
    """An embedder that can also pool character spans of the texts it encodes."""

    def encode_with_spans(self, texts: Sequence[str],
                          spans: Sequence[Sequence[Span]]) -> SpanVectors: ...


def supports_spans(embedder: object) -> bool:
    return isinstance(embedder, SpanEmbedder)


def resolve_kind(kind: str | None = None) -> SentenceVectors:
    """`kind`, else SPOTLIGHT_SENTENCE_VECTORS, else the default. Raises ValueError."""
    requested = (kind or os.environ.get(KIND_ENV) or DEFAULT_KIND).strip().lower()
    if requested not in KINDS:
        raise ValueError(f"Unknown sentence-vector kind {requested!r} ({KIND_ENV}); choose "
                         f"one of {', '.join(KINDS)}.")
    return requested  # type: ignore[return-value]


def kind_for_new_index(embedder: object, kind: str | None = None) -> SentenceVectors:
    """The kind a new index gets: pooling needs an embedder that supports spans."""
    chosen = resolve_kind(kind)
    if chosen == "pooled" and not supports_spans(embedder):
        if kind:  # asked for explicitly: say so rather than build something else
            raise ValueError(f"{type(embedder).__name__} cannot pool sentence vectors "
                             "(no encode_with_spans); use encoded sentence vectors.")
        return "encoded"
    return chosen


def span_tokens(text: str, offsets: Sequence[Span], special: Sequence[int],
                span: Span) -> np.ndarray | None:
    """Indexes of the (non-special) tokens of `text` inside `span`, or None when the span
    holds text past the last token the model kept (truncated) or holds no token at all."""
    kept = [at for at, is_special in enumerate(special) if not is_special]
    if not kept:
        return None
    start, end = span
    window_end = offsets[kept[-1]][1]
    # Past the window only whitespace is allowed (no token is made of it): anything else
    # there was cut off by the maximum sequence length.
    if end > window_end and text[max(start, window_end):end].strip():
        return None
    inside = np.array([at for at in kept
                       if offsets[at][0] < end and offsets[at][1] > start], dtype=np.int64)
    return inside if len(inside) else None


def pool_spans(text: str, tokens: np.ndarray, offsets: Sequence[Span],
               special: Sequence[int], spans: Sequence[Span]) -> tuple[np.ndarray, list[int]]:
    """Unit mean vectors of `tokens` (the token embeddings of `text`, (n_tokens, dim)) over
    each span, and the indexes of spans that could not be pooled (their rows are zero)."""
    out = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    missing: list[int] = []
    for row, span in enumerate(spans):
        inside = span_tokens(text, offsets, special, span)
        if inside is None:
            missing.append(row)
            continue
        mean = tokens[inside].mean(axis=0)
        out[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out, missing


def fill_fallbacks(encode: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str],
                   spans: Sequence[Sequence[Span]], pooled: list[np.ndarray],
                   missing: list[list[int]]) -> int:
    """Encode the spans that could not be pooled on their own, in one call, into `pooled`;
    returns how many there were."""
    wanted = [(i, row) for i, rows in enumerate(missing) for row in rows]
    if not wanted:
        return 0
    vectors = encode([texts[i][slice(*spans[i][row])] for i, row in wanted])
    for (i, row), vector in zip(wanted, vectors, strict=True):
        pooled[i][row] = vector
    return len(wanted)
