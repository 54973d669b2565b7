"""Fit the extractive answerer's and answerability's weights on the fit half of our
question sets; report both halves.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/fit_answerer.py [--sets celebrity,bbc]
        [--sentence-vectors encoded|pooled]

The weights are fitted for one kind of sentence vector (index/spans.py), over indexes of
that kind (`.cache/<set>` for encoded, `.cache/<set>-pooled` for pooled): paste them under
that kind in the two modules' WEIGHTS_BY_KIND.

1. Sentence model: every sentence of the top passages of each answerable fit-half question
   is a sample, positive when it contains one of the question's answer phrases; logistic
   regression over index.answerers.extractive.FEATURES.
2. Answerability: one sample per fit-half question (answerable = 1), logistic regression
   over index.answerability.FEATURES, computed with the new sentence weights; the threshold
   is the highest that keeps answerable questions wrongly abstained at most 3% on the fit
   half (the target is 5% on new questions).

It prints the weights as Python to paste into those two modules, and a table for both
halves. Nothing is written to the code by this script.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from benchcommon import (
    BBC_QUESTIONS_FILE,
    QUESTIONS_FILE,
    Question,
    bbc_articles,
    cache_name,
    cached_library,
    celebrity_benchmark_articles,
    contains_answer,
    load_questions,
    markdown_table,
    split_halves,
)
from sklearn.linear_model import LogisticRegression

from index import answerability as answerability_module
from index.answerability import Answerability
from index.answerers import extractive
from index.embedder import SentenceTransformerEmbedder
from index.library import Library
from index.parts import Evidence, Query
from index.spans import KINDS, LEGACY_KIND

ASK_K = 3
MAX_WRONG_ABSTAIN_FIT = 0.03
SETS = {
    "celebrity": (QUESTIONS_FILE, celebrity_benchmark_articles),
    "bbc": (BBC_QUESTIONS_FILE, bbc_articles),
}


@dataclass
class Case:
    question: Question
    query: Query
    evidence: Evidence
    candidates: list[extractive.Candidate]
    labels: np.ndarray  # per candidate: contains an answer phrase


def collect(library: Library, questions: Sequence[Question]) -> list[Case]:
    policy = extractive.POLICY_BY_KIND[library.storage.sentence_vectors]
    cases = []
    for question in questions:
        query = library.query(question.text)
        retrieved = library.pipeline.retrieve(query, ASK_K)
        evidence = library.pipeline.evidence(query, retrieved)
        found = extractive.candidates(query, evidence, policy)
        labels = np.array([contains_answer(c.text, question.answers) for c in found], bool)
        cases.append(Case(question, query, evidence, found, labels))
    return cases


def fit_sentences(cases: Sequence[Case]) -> extractive.SentenceWeights:
    rows = [c.features for case in cases if case.question.answerable for c in case.candidates]
    labels = [label for case in cases if case.question.answerable for label in case.labels]
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.vstack(rows), np.array(labels))
    weights = dict(zip(extractive.FEATURES, model.coef_[0].round(3).tolist(), strict=True))
    return extractive.SentenceWeights(weights, round(float(model.intercept_[0]), 3))


def drafts(cases: Sequence[Case], weights: extractive.SentenceWeights,
           policy: extractive.AnswerPolicy | None = None) -> list:
    answerer = extractive.ExtractiveAnswerer(policy, weights)
    return [answerer.answer(case.query, case.evidence) for case in cases]


def answerability_rows(cases: Sequence[Case], made: list) -> np.ndarray:
    return np.vstack([
        answerability_module.features(case.query, case.evidence, draft)
        for case, draft in zip(cases, made, strict=True)])


def fit_answerability(cases: Sequence[Case],
                      made: list) -> answerability_module.AnswerabilityWeights:
    rows = answerability_rows(cases, made)
    labels = np.array([case.question.answerable for case in cases])
    # C=0.3: about 50 unanswerable questions per half; stronger regularisation held out best.
    model = LogisticRegression(C=0.3, max_iter=2000, class_weight="balanced").fit(rows, labels)
    weights = dict(zip(answerability_module.FEATURES, model.coef_[0].round(3).tolist(),
                       strict=True))
    bias = round(float(model.intercept_[0]), 3)
    probabilities = model.predict_proba(rows)[:, 1]
    answerable = probabilities[labels]
    # The highest threshold that refuses at most MAX_WRONG_ABSTAIN_FIT of answerable ones.
    allowed = int(np.floor(MAX_WRONG_ABSTAIN_FIT * len(answerable)))
    threshold = float(np.sort(answerable)[allowed]) if len(answerable) else 0.5
    return answerability_module.AnswerabilityWeights(weights, bias, round(threshold - 1e-6, 4))


@dataclass(frozen=True)
class Scores:
    contains: float
    ceiling: float
    median_chars: float
    unanswerable_abstained: float
    answerable_abstained: float


def score(cases: Sequence[Case], weights: extractive.SentenceWeights,
          judged_by: answerability_module.AnswerabilityWeights,
          policy: extractive.AnswerPolicy | None = None) -> Scores:
    judge = Answerability(model=judged_by)
    made = drafts(cases, weights, policy)
    contains, ceiling, lengths, wrong, right = [], [], [], [], []
    for case, draft in zip(cases, made, strict=True):
        answered = judge.judge(case.query, case.evidence, draft).answerable
        text = draft.answer.answer if answered else None
        if case.question.answerable:
            contains.append(contains_answer(text, case.question.answers))
            ceiling.append(any(contains_answer(p.hit.passage, case.question.answers)
                               for p in case.evidence.passages[:3]))
            wrong.append(not answered)
        else:
            right.append(not answered)
        if text:
            lengths.append(len(text))
    return Scores(float(np.mean(contains)), float(np.mean(ceiling)),
                  statistics.median(lengths) if lengths else 0.0,
                  float(np.mean(right)) if right else float("nan"), float(np.mean(wrong)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="celebrity,bbc")
    parser.add_argument("--sentence-vectors", choices=KINDS, default=LEGACY_KIND,
                        help="the kind of sentence vector to fit for (index/spans.py)")
    args = parser.parse_args()
    kind = args.sentence_vectors
    embedder = SentenceTransformerEmbedder()
    fit: list[Case] = []
    held: dict[str, list[Case]] = {}
    fit_by_set: dict[str, list[Case]] = {}
    for name in args.sets.split(","):
        path, articles = SETS[name]
        library = cached_library(cache_name(name, kind), articles(), embedder,
                                 sentence_vectors=kind)
        fit_questions, held_questions = split_halves(load_questions(path))
        fit_by_set[name] = collect(library, fit_questions)
        held[name] = collect(library, held_questions)
        fit += fit_by_set[name]
    sentences = fit_sentences(fit)
    judged_by = fit_answerability(fit, drafts(fit, sentences, extractive.POLICY_BY_KIND[kind]))
    print(f"# index/answerers/extractive.py, WEIGHTS_BY_KIND[{kind!r}]")
    print(f"{sentences!r}")
    print(f"# index/answerability.py, WEIGHTS_BY_KIND[{kind!r}]")
    print(f"{judged_by!r}")
    rows = []
    for name in fit_by_set:
        for half, cases in (("fit", fit_by_set[name]), ("held-out", held[name])):
            s = score(cases, sentences, judged_by, extractive.POLICY_BY_KIND[kind])
            rows.append([name, half, len(cases), f"{s.contains:.3f}", f"{s.ceiling:.3f}",
                         f"{s.contains / s.ceiling:.2f}" if s.ceiling else "-",
                         f"{s.median_chars:.0f}", f"{s.unanswerable_abstained:.3f}",
                         f"{s.answerable_abstained:.3f}"])
    print(markdown_table(
        ["set", "half", "questions", "answer has phrase", "top-3 passages have it", "ratio",
         "median answer chars", "unanswerable abstained", "answerable wrongly abstained"],
        rows))


if __name__ == "__main__":
    main()
