"""From ranked passages to a grounded answer: quote the sentences that answer, or abstain."""

from __future__ import annotations

import math
from dataclasses import dataclass

from corpus import split_sentences
from index.results import Answer, Citation, Hit, Quote
from index.terms import stems

# Calibrated on benchmarks/celebrity_questions.jsonl (`quality.py --calibrate`, see
# benchmarks/README.md): below this cosine between the question and the best passage the
# articles rarely hold the answer. Balanced accuracy is flat from 0.45 to 0.575; the low end
# keeps short answerable questions ("who went to the Met Gala?": 0.452) answered.
DEFAULT_MIN_EVIDENCE = 0.45
MAX_QUOTE_CHARS = 400


@dataclass(frozen=True)
class AnswerPolicy:
    min_evidence: float = DEFAULT_MIN_EVIDENCE
    max_quotes: int = 3
    # A later article's sentence is quoted only when it matches about as well as the best.
    second_source_ratio: float = 0.6


@dataclass(frozen=True)
class _Sentence:
    hit_index: int
    order: int
    text: str
    stems: frozenset[str]


def trim(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _sentences(hits: list[Hit]) -> list[_Sentence]:
    return [
        _Sentence(hit_index, order, text, frozenset(stems(text)))
        for hit_index, hit in enumerate(hits)
        for order, text in enumerate(split_sentences(hit.passage))
    ]


def _scores(question_stems: set[str], sentences: list[_Sentence]) -> list[float]:
    """Matched question words, rarer ones (within these passages) weighing more, earlier
    sources slightly preferred."""
    total = len(sentences)
    frequency = {stem: sum(stem in s.stems for s in sentences) for stem in question_stems}
    weight = {stem: math.log(1 + total / count) for stem, count in frequency.items() if count}
    return [
        sum(weight.get(stem, 0.0) for stem in sentence.stems & question_stems)
        / (1 + 0.25 * sentence.hit_index)
        for sentence in sentences
    ]


def choose_quotes(question: str, hits: list[Hit], policy: AnswerPolicy) -> list[_Sentence]:
    sentences = _sentences(hits)
    if not sentences:
        return []
    scores = _scores(stems(question), sentences)
    ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    best = scores[ranked[0]]
    if best <= 0:
        # No shared words (a paraphrase): the top passage was still judged relevant by
        # meaning, so quote its opening sentence rather than guess within it.
        return [sentences[0]]
    chosen = [sentences[ranked[0]]]
    for index in ranked[1:]:
        if len(chosen) >= policy.max_quotes or scores[index] < best * policy.second_source_ratio:
            break
        chosen.append(sentences[index])
    return sorted(chosen, key=lambda s: (s.hit_index, s.order))


def compose_answer(
    question: str, hits: list[Hit], evidence: float, policy: AnswerPolicy
) -> Answer:
    """`evidence` is the best cosine between the question and a hit's passage."""
    if not hits or evidence < policy.min_evidence:
        return Answer(question=question, abstained=True, hits=hits, evidence=evidence)
    quotes: list[Quote] = []
    citations: dict[int, Citation] = {}
    for sentence in choose_quotes(question, hits, policy):
        hit = hits[sentence.hit_index]
        if sentence.hit_index not in citations:
            citations[sentence.hit_index] = Citation(
                number=len(citations) + 1, article_id=hit.article_id, title=hit.title,
                date=hit.date, url=hit.url, source=hit.source,
            )
        quotes.append(Quote(trim(sentence.text), citations[sentence.hit_index].number))
    return Answer(
        question=question, abstained=False, quotes=quotes,
        citations=list(citations.values()), hits=hits, evidence=evidence,
    )
