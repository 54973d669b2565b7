"""Sentence vectors pooled from their passage's token embeddings (index/spans.py): the span
arithmetic on made-up tokens, then the real model's pooling checked by hand and the
fallback for sentences past the model's window."""

from __future__ import annotations

import numpy as np
import pytest

from index.embedder import FakeEmbedder
from index.spans import (
    KIND_ENV,
    fill_fallbacks,
    kind_for_new_index,
    pool_spans,
    resolve_kind,
    span_tokens,
    supports_spans,
)

# "[CLS] kim went . [SEP]" over the text "kim went." (offsets as a fast tokenizer gives them)
TEXT = "kim went."
OFFSETS = [(0, 0), (0, 3), (4, 8), (8, 9), (0, 0)]
SPECIAL = [1, 0, 0, 0, 1]


def test_span_tokens_are_the_non_special_tokens_inside_the_span() -> None:
    assert span_tokens(TEXT, OFFSETS, SPECIAL, (0, 9)).tolist() == [1, 2, 3]
    assert span_tokens(TEXT, OFFSETS, SPECIAL, (4, 9)).tolist() == [2, 3]
    assert span_tokens(TEXT, OFFSETS, SPECIAL, (0, 3)).tolist() == [1]


def test_a_span_past_the_window_has_no_tokens() -> None:
    # The model kept "kim went" only: "." and what follows were cut off.
    text = "kim went. she left."
    offsets, special = [(0, 0), (0, 3), (4, 8), (0, 0)], [1, 0, 0, 1]
    assert span_tokens(text, offsets, special, (0, 9)) is None  # partly cut: "." lost
    assert span_tokens(text, offsets, special, (10, 19)) is None  # wholly cut
    assert span_tokens(text, offsets, special, (0, 8)).tolist() == [1, 2]


def test_whitespace_past_the_last_token_is_not_truncation() -> None:
    text = "kim went.  "
    assert span_tokens(text, OFFSETS, SPECIAL, (4, 11)).tolist() == [2, 3]


def test_a_span_without_tokens_cannot_be_pooled() -> None:
    assert span_tokens("   ", [(0, 0), (0, 0)], [1, 1], (0, 3)) is None


def test_pool_spans_is_the_unit_mean_of_the_span_tokens() -> None:
    rng = np.random.default_rng(7)
    tokens = rng.normal(size=(5, 4)).astype(np.float32)
    pooled, missing = pool_spans(TEXT, tokens, OFFSETS, SPECIAL, [(4, 9), (20, 30)])
    by_hand = tokens[[2, 3]].mean(axis=0)
    np.testing.assert_allclose(pooled[0], by_hand / np.linalg.norm(by_hand), rtol=1e-6)
    assert missing == [1] and not pooled[1].any()


def test_fill_fallbacks_encodes_the_missing_spans_alone_in_one_call() -> None:
    calls: list[list[str]] = []

    def encode(texts):
        calls.append(list(texts))
        return np.full((len(texts), 2), 0.5, dtype=np.float32)

    texts = ["abc def", "ghi jkl"]
    spans = [[(0, 3), (4, 7)], [(4, 7)]]
    pooled = [np.zeros((2, 2), np.float32), np.zeros((1, 2), np.float32)]
    assert fill_fallbacks(encode, texts, spans, pooled, [[1], [0]]) == 2
    assert calls == [["def", "jkl"]]
    assert not pooled[0][0].any() and pooled[0][1].tolist() == [0.5, 0.5]
    assert fill_fallbacks(encode, texts, spans, pooled, [[], []]) == 0 and len(calls) == 1


def test_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KIND_ENV, raising=False)
    assert resolve_kind("pooled") == "pooled" and resolve_kind(" Encoded ") == "encoded"
    monkeypatch.setenv(KIND_ENV, "pooled")
    assert resolve_kind() == "pooled"
    with pytest.raises(ValueError, match="Unknown sentence-vector kind"):
        resolve_kind("averaged")


def test_a_new_index_pools_only_with_an_embedder_that_can(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    class EncodeOnly:
        name, dim, fingerprint = "plain", 4, "plain-4"

        def encode(self, texts):
            return np.zeros((len(texts), 4), np.float32)

    monkeypatch.setenv(KIND_ENV, "pooled")
    assert supports_spans(FakeEmbedder()) and not supports_spans(EncodeOnly())
    assert kind_for_new_index(FakeEmbedder()) == "pooled"
    assert kind_for_new_index(EncodeOnly()) == "encoded"  # the setting: where it can
    with pytest.raises(ValueError, match="cannot pool"):
        kind_for_new_index(EncodeOnly(), "pooled")  # asked for explicitly: refused


# -- the real model ------------------------------------------------------------------------
@pytest.mark.model
def test_torch_pooled_vectors_equal_a_mean_over_the_span_token_embeddings_by_hand(
        real_embedder) -> None:
    text = "Kim in Japan\nKim went to Japan. She left the kids at home."
    start = text.index("She")
    made = real_embedder.encode_with_spans([text], [[(start, len(text))]])
    tokens = real_embedder.model.tokenizer.tokenize(text)
    assert tokens[-7:] == ["she", "left", "the", "kids", "at", "home", "."]
    embeddings = real_embedder.model.encode([text], output_value="token_embeddings")[0]
    embeddings = embeddings.float().numpy()
    assert len(embeddings) == len(tokens) + 2  # [CLS] ... [SEP]
    by_hand = embeddings[-8:-1].mean(axis=0)  # the last seven before [SEP]
    by_hand /= np.linalg.norm(by_hand)
    np.testing.assert_allclose(made.spans[0][0], by_hand, atol=1e-5)
    assert made.fallbacks == 0
    # The text's own vector is what encode gives; the sentence's is not its encoding alone.
    np.testing.assert_allclose(made.texts[0], real_embedder.encode([text])[0], atol=1e-5)
    alone = real_embedder.encode([text[start:]])[0]
    assert float(made.spans[0][0] @ alone) < 0.99


@pytest.mark.model
def test_a_sentence_past_the_window_is_encoded_on_its_own(real_embedder) -> None:
    filler = "The tour resumed in Manchester after the attack on the arena. " * 40
    last = "Ariana thanked her fans."
    text = f"Title\nShe sang. {filler}{last}"
    assert len(real_embedder.model.tokenizer.tokenize(text)) > real_embedder.model.max_seq_length
    first = text.index("She sang.")
    spans = [(first, first + len("She sang.")), (len(text) - len(last), len(text))]
    made = real_embedder.encode_with_spans([text], [spans])
    assert made.fallbacks == 1
    alone = real_embedder.encode([last, "She sang."])
    assert float(made.spans[0][1] @ alone[0]) > 0.9999  # encoded: exactly its own vector
    assert float(made.spans[0][0] @ alone[1]) < 0.99  # pooled in context
