"""How the extractive answerer picks quotes once its sentences are scored."""

from __future__ import annotations

import numpy as np
import pytest

from index.answerers.extractive import (
    FEATURES,
    POLICY_BY_KIND,
    AnswerPolicy,
    Candidate,
    _cosines,
    choose,
)
from index.parts import EvidencePassage, EvidenceSentence

OTHER = ("Separately, the magazine spent three paragraphs on the couple's holiday plans, "
         "their dogs and the house they are said to be looking at in the hills.")


def sentence(order: int, text: str, *, lede: bool = False, teaser: bool = False) -> Candidate:
    features = np.zeros(len(FEATURES))
    features[FEATURES.index("lede")] = float(lede)
    features[FEATURES.index("teaser")] = float(teaser)
    return Candidate(0, order, text, features, None)


def quoted(found: list[Candidate], probability: list[float], **policy: float) -> list[str]:
    chosen = choose(found, np.array(probability), AnswerPolicy(max_chars=230, **policy))
    return [candidate.text for candidate in chosen]


OPENING = "The singer cancelled the rest of her world tour on Monday."
DETAILS = "She said her doctors had ordered six months of rest."


def test_the_sentence_after_an_opening_lead_is_quoted_before_likelier_ones() -> None:
    found = [sentence(0, OPENING, lede=True), sentence(1, DETAILS), sentence(5, OTHER)]
    # Without the continuation OTHER (likelier, longer) would take the budget from DETAILS.
    assert quoted(found, [0.5, 0.15, 0.4]) == [OPENING, DETAILS]
    assert quoted(found, [0.5, 0.15, 0.4], lede_continuation_share=0.5) == [OPENING, OTHER]


@pytest.mark.parametrize(("lede", "teaser"), [(False, False), (True, True)])
def test_no_continuation_after_a_lead_that_does_not_open_the_article_or_before_a_hook(
        lede: bool, teaser: bool) -> None:
    found = [sentence(0, OPENING, lede=lede), sentence(1, DETAILS, teaser=teaser),
             sentence(5, OTHER)]
    assert quoted(found, [0.5, 0.15, 0.4]) == [OPENING, OTHER]


def test_the_continuation_never_passes_the_floor_every_quote_must_pass() -> None:
    found = [sentence(0, OPENING, lede=True), sentence(1, DETAILS), sentence(5, OTHER)]
    # min_share_of_lead 0.5 excludes DETAILS (0.15 / 0.5), whatever the continuation's share.
    assert quoted(found, [0.5, 0.15, 0.4], lede_continuation_share=0.0,
                  min_share_of_lead=0.5) == [OPENING, OTHER]


@pytest.mark.parametrize("as_stored", [False, True], ids=["sentences", "stored matrix"])
def test_pooled_meaning_is_measured_past_the_passage(as_stored: bool) -> None:
    """A pooled sentence vector carries its passage's context: with passage_share the
    meaning signal compares the question with what the sentence adds to its passage.
    The same from the sentences' vectors and from the matrix the store keeps them in,
    which is left as it was."""
    passage_vector = np.array([1.0, 0.0, 0.0])
    own = np.array([0.6, 0.8, 0.0])
    other = np.array([0.6, 0.0, 0.8])
    stored = np.vstack([own, other]) if as_stored else None
    passage = EvidencePassage(hit=None, vector=passage_vector, position=0, sentences=[
        EvidenceSentence("a", 0, own), EvidenceSentence("b", 1, other)],
        sentence_vectors=stored)
    question = np.array([0.0, 1.0, 0.0])
    assert _cosines(passage, question) == pytest.approx([0.8, 0.0])
    shifted = own - 0.5 * passage_vector
    expected = float(shifted @ question / np.linalg.norm(shifted))
    assert _cosines(passage, question, 0.5) == pytest.approx([expected, 0.0])
    assert expected > 0.8  # the part the passage does not say weighs more
    if as_stored:
        assert np.array_equal(stored, np.vstack([own, other]))
    assert POLICY_BY_KIND["encoded"].passage_share == 0.0
    assert POLICY_BY_KIND["pooled"].passage_share > 0.0
