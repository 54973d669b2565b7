"""The default answerer: quote the sentences of the retrieved passages that answer.

Every sentence of the top passages (boilerplate and headings excepted) is scored on several
signals: its meaning against the question's, its passage's, the question's specific words
and names in it, whether it holds what the question asks for, a teaser penalty. A logistic
model, fitted by `benchmarks/fit_answerer.py` on one half of our question sets, turns them
into the probability that the sentence holds the answer. The best sentence leads (followed by the
next sentence when it opens its article); another is added only when it is likely to answer too
and says something new.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from index.parts import Draft, Evidence, EvidencePassage, EvidenceSentence, Query
from index.results import Answer, Citation, Quote
from index.signals import asks_for, has_cue
from index.spans import LEGACY_KIND, SentenceVectors

FEATURES = (
    "meaning",  # cosine of the sentence's vector and the question's
    "next_meaning",  # the same for the sentence after it (a hook's point often follows)
    "passage_meaning",  # cosine of its passage and the question
    "article_rank",  # 1 / rank of its article after fusion
    "coverage",  # share of the question's specific words (weighted by rarity) it holds
    "names",  # share of the question's names it holds
    "asked_for",  # holds what the question asks for (a reason, a number, a time, ...)
    "teaser",  # a hook that withholds the point, or a question
    "short",  # under six words
    "lede",  # the article's first sentence
)


@dataclass(frozen=True)
class SentenceWeights:
    """A fitted logistic model over FEATURES: a sentence's probability of answering."""

    weights: dict[str, float]
    bias: float

    def vector(self) -> np.ndarray:
        return np.array([self.weights[name] for name in FEATURES], dtype=np.float64)


# Fitted by benchmarks/fit_answerer.py (logistic regression) on the fit half of the
# celebrity set, one model per kind of sentence vector (index/spans.py): "meaning" reads
# them, and a sentence pooled within its passage scores differently from one encoded
# alone. benchmarks/README.md has both halves of both sets, and why a fit on the
# celebrity and BBC fit halves together was not adopted.
WEIGHTS_BY_KIND: dict[SentenceVectors, SentenceWeights] = {
    "encoded": SentenceWeights({
        "meaning": 1.942, "next_meaning": 0.016, "passage_meaning": 2.79, "article_rank": 3.27,
        "coverage": 1.572, "names": -0.719, "asked_for": 0.547, "teaser": -1.426,
        "short": -0.105, "lede": 0.365,
    }, -8.106),
}
# "pooled": fitted the same way on `.cache/celebrity-pooled` (benchmarks/README.md, "Pooled
# sentence vectors"), with POLICY_BY_KIND["pooled"] (meaning measured past the passage).
WEIGHTS_BY_KIND["pooled"] = SentenceWeights({
    "meaning": 1.372, "next_meaning": 0.604, "passage_meaning": 1.242, "article_rank": 4.018,
    "coverage": 1.074, "names": -0.089, "asked_for": 0.604, "teaser": -1.341,
    "short": -0.144, "lede": 0.239,
}, -6.75)
MAX_QUOTE_CHARS = 400
# Shorter "sentences" are section headings ("The Comments") or fragments.
MIN_QUOTE_WORDS = 4
_LEDE = FEATURES.index("lede")
_TEASER = FEATURES.index("teaser")


@dataclass(frozen=True)
class AnswerPolicy:
    """How much to show: the lead, then more sentences while they are likely answers."""

    passages: int = 3  # passages whose sentences compete
    # Four, not three: short supporting sentences still fit the budget (+1.6 points of
    # answers holding the phrase on the fit half, median still under 350 characters).
    max_quotes: int = 4
    max_chars: int = 350  # the quotes together, so an answer stays short to read
    # Another sentence joins the lead when its probability is at least this share of the
    # lead's (chosen with the budget on the fit half: see benchmarks/README.md).
    min_share_of_lead: float = 0.1
    # Sentences this similar to one already quoted add nothing.
    redundant_cosine: float = 0.85
    # When the lead is the article's opening sentence, the sentence after it is quoted next
    # if its probability is at least this share of the lead's: an opening sentence sums the
    # story up and the next one gives the details (who, what, why), which the question's
    # words match less well than the summary does. 0.2 was the best share on the fit halves
    # (benchmarks/README.md, "Third pass").
    lede_continuation_share: float = 0.2
    # The meaning signals compare the question with a sentence's vector minus this share of
    # its passage's vector. 0 for encoded sentences; a pooled sentence carries its passage's
    # context, and what is its own is what differs from the passage.
    passage_share: float = 0.0


# Pooled sentences of one passage share its context: their cosines to each other average
# 0.76 (0.33 encoded, top passages of the fit halves), so 0.85 called too many of them
# redundant; 0.9 was the best of 0.85, 0.9, 0.95 and none on both fit halves, and a
# passage share of 0.9 the best of 0 to 2 (benchmarks/README.md, "Pooled sentence vectors").
POLICY_BY_KIND: dict[SentenceVectors, AnswerPolicy] = {
    "encoded": AnswerPolicy(),
    "pooled": AnswerPolicy(redundant_cosine=0.9, passage_share=0.9),
}


@dataclass(frozen=True)
class Candidate:
    passage_index: int
    order: int
    text: str
    features: np.ndarray
    vector: np.ndarray | None


def trim(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _cosines(passage: EvidencePassage, question: np.ndarray,
             passage_share: float = 0.0) -> list[float]:
    matrix = passage.sentence_vectors
    if matrix is None and passage.sentences and passage.sentences[0].vector is not None:
        matrix = np.vstack([s.vector for s in passage.sentences])
    if matrix is not None:
        if passage_share:
            matrix = matrix - passage_share * passage.vector
            matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        return (matrix @ question).tolist()
    # Stored before sentence vectors existed: every sentence shares its passage's meaning.
    return [float(passage.vector @ question)] * len(passage.sentences)


def candidates(query: Query, evidence: Evidence, policy: AnswerPolicy) -> list[Candidate]:
    """Every sentence of the top passages with its signals."""
    terms = evidence.terms
    kind = asks_for(query.text)
    kept: list[tuple[int, EvidenceSentence]] = []
    rows: list[list[float]] = []
    for index, passage in enumerate(evidence.passages[: policy.passages]):
        passage_meaning = float(passage.vector @ query.vector)
        cosines = _cosines(passage, query.vector, policy.passage_share)
        for sentence, meaning in zip(passage.sentences, cosines, strict=True):
            signals = sentence.signals
            if signals.boilerplate or signals.words < MIN_QUOTE_WORDS:
                continue  # credits, "Related story" and section headings are never answers
            order = sentence.order
            kept.append((index, sentence))
            rows.append([
                meaning,
                cosines[order + 1] if order + 1 < len(cosines) else meaning,
                passage_meaning,
                1.0 / (1 + index),
                terms.coverage(signals.stems),
                terms.names_found(signals.stems),
                float(has_cue(kind, sentence.text)),
                float(signals.teaser),
                float(signals.words < 6),
                float(passage.position == 0 and order == 0),
            ])
    # One matrix for all (a row each): an array per sentence cost more than its signals.
    features = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    return [Candidate(index, sentence.order, sentence.text, row, sentence.vector)
            for (index, sentence), row in zip(kept, features, strict=True)]


def probabilities(found: list[Candidate], model: SentenceWeights) -> np.ndarray:
    if not found:
        return np.zeros(0)
    logits = np.vstack([c.features for c in found]) @ model.vector() + model.bias
    return 1.0 / (1.0 + np.exp(-logits))


def _redundant(candidate: Candidate, chosen: list[Candidate], limit: float) -> bool:
    for other in chosen:
        if candidate.vector is not None and other.vector is not None:
            if float(candidate.vector @ other.vector) >= limit:
                return True
        elif candidate.text == other.text:
            return True
    return False


def lede_continuation(found: list[Candidate], probability: np.ndarray, lead: int,
                      policy: AnswerPolicy) -> list[int]:
    """The sentence right after the lead, when the lead opens its article and the next
    sentence is likely enough to answer and is no hook (a list of at most one index)."""
    opening = found[lead]
    if opening.features[_LEDE] != 1.0:
        return []
    # Never under the floor every other quote must pass (choose stops at the first below it).
    share = max(policy.lede_continuation_share, policy.min_share_of_lead)
    return [index for index, candidate in enumerate(found)
            if candidate.passage_index == opening.passage_index
            and candidate.order == opening.order + 1
            and candidate.features[_TEASER] != 1.0
            and probability[index] >= share * probability[lead]]


def choose(found: list[Candidate], probability: np.ndarray,
           policy: AnswerPolicy) -> list[Candidate]:
    """The lead (and the sentence after it when the lead opens the article), then the next
    likeliest answers while they fit and add something."""
    if not found:
        return []
    ranked = sorted(range(len(found)), key=lambda i: (-probability[i], i))
    lead = ranked[0]
    chosen = [found[lead]]
    length = len(found[lead].text)
    floor = policy.min_share_of_lead * probability[lead]
    following = lede_continuation(found, probability, lead, policy)
    for index in following + [i for i in ranked[1:] if i not in following]:
        if len(chosen) >= policy.max_quotes or probability[index] < floor:
            break
        candidate = found[index]
        if length + len(candidate.text) > policy.max_chars or _redundant(
                candidate, chosen, policy.redundant_cosine):
            continue
        chosen.append(candidate)
        length += len(candidate.text)
    return chosen


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, policy: AnswerPolicy | None = None,
                 weights: SentenceWeights | None = None) -> None:
        self.policy = policy or AnswerPolicy()
        self.weights = weights or WEIGHTS_BY_KIND[LEGACY_KIND]

    @classmethod
    def for_kind(cls, sentence_vectors: SentenceVectors) -> ExtractiveAnswerer:
        """With the weights fitted on sentence vectors of that kind, and its policy."""
        return cls(POLICY_BY_KIND[sentence_vectors], WEIGHTS_BY_KIND[sentence_vectors])

    def answer(self, query: Query, evidence: Evidence) -> Draft:
        found = candidates(query, evidence, self.policy)
        probability = probabilities(found, self.weights)
        chosen = choose(found, probability, self.policy)
        hits = evidence.hits
        citations: dict[int, Citation] = {}
        quotes: list[Quote] = []
        for candidate in chosen:
            hit = hits[candidate.passage_index]
            if candidate.passage_index not in citations:
                citations[candidate.passage_index] = Citation(
                    number=len(citations) + 1, article_id=hit.article_id, title=hit.title,
                    date=hit.date, url=hit.url, source=hit.source)
            quotes.append(Quote(trim(candidate.text), citations[candidate.passage_index].number))
        confidence = float(probability.max()) if len(probability) else 0.0
        return Draft(
            Answer(question=query.text, abstained=False, quotes=quotes,
                   citations=list(citations.values()), hits=hits, answered_by=self.name),
            confidence if math.isfinite(confidence) else 0.0,
        )
