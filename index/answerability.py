"""Whether the articles answer the question: several signals, not one threshold.

A question about a covered person but an uncovered event ("why did justin bieber cancel
his justice tour") retrieves that person's articles with high similarity; what gives it
away is that its specific words ("justice", "tour") are nowhere in the evidence, that the
answerer found no sentence it believes, and that the retrievers disagree. A logistic
model, fitted by `benchmarks/fit_answerer.py` on one half of our question sets, weighs
them; the threshold keeps answerable questions wrongly refused under 5% on that half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.parts import Draft, Evidence, Query
from index.signals import passage_stems
from index.spans import LEGACY_KIND, SentenceVectors

FEATURES = (
    "confidence",  # the answerer's probability that its lead answers
    "evidence",  # best cosine between the question and a retrieved passage
    # Within one passage (the best-covering of the top three), never their union: a word
    # found in another article says nothing about this one.
    "coverage",  # share of the question's weighted words found in a top passage
    "missing",  # weight of the most specific question word absent from it (0..1)
    "agreement",  # share of retrievers ranking the top article in their own top five
)
EVIDENCE_PASSAGES = 3


@dataclass(frozen=True)
class AnswerabilityWeights:
    weights: dict[str, float]
    bias: float
    threshold: float  # answer when the probability is at least this

    def vector(self) -> np.ndarray:
        return np.array([self.weights[name] for name in FEATURES])


# Fitted by benchmarks/fit_answerer.py (logistic regression, C=0.3, classes balanced) on the
# fit half of the celebrity set, after the answerer's weights for the same kind of sentence
# vectors (its confidence is a signal); the threshold refuses at most 3% of that half's
# answerable questions.
WEIGHTS_BY_KIND: dict[SentenceVectors, AnswerabilityWeights] = {
    "encoded": AnswerabilityWeights(
        {"confidence": 0.903, "evidence": 1.247, "coverage": 1.77, "missing": -1.376,
         "agreement": 0.771}, -1.713, 0.367),
}
WEIGHTS_BY_KIND["pooled"] = AnswerabilityWeights(
    {"confidence": 0.545, "evidence": 1.277, "coverage": 1.833, "missing": -1.404,
     "agreement": 0.81}, -1.762, 0.3698)


@dataclass(frozen=True)
class Judgement:
    answerable: bool
    probability: float
    features: np.ndarray


def features(query: Query, evidence: Evidence, draft: Draft) -> np.ndarray:
    top = evidence.passages[:EVIDENCE_PASSAGES]
    terms = evidence.terms
    passages = [passage_stems(p.hit.title, (s.signals for s in p.sentences))
                for p in top] or [set()]
    covering = max(passages, key=terms.coverage)
    best = max((float(p.vector @ query.vector) for p in top), default=0.0)
    return np.array([
        draft.confidence,
        best,
        terms.coverage(covering),
        terms.most_specific_missing(covering),
        evidence.agreement,
    ])


class Answerability:
    def __init__(self, threshold: float | None = None,
                 model: AnswerabilityWeights | None = None) -> None:
        self.model = model or WEIGHTS_BY_KIND[LEGACY_KIND]
        self.threshold = self.model.threshold if threshold is None else threshold
        self._weights = self.model.vector()

    @classmethod
    def for_kind(cls, sentence_vectors: SentenceVectors) -> Answerability:
        """With the model fitted after the answerer's weights for that kind."""
        return cls(model=WEIGHTS_BY_KIND[sentence_vectors])

    def probability(self, signals: np.ndarray) -> float:
        return float(1.0 / (1.0 + np.exp(-(signals @ self._weights + self.model.bias))))

    def judge(self, query: Query, evidence: Evidence, draft: Draft) -> Judgement:
        if not evidence.passages:
            return Judgement(False, 0.0, np.zeros(len(FEATURES)))
        signals = features(query, evidence, draft)
        probability = self.probability(signals)
        return Judgement(probability >= self.threshold, probability, signals)
