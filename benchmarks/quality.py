"""Retrieval and answering quality, printed as markdown tables.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py                  # everything
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py --sets bbc --skip-scifact
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py --check-questions  # data only
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py --dump out.jsonl  # per question

1. Our answer-annotated question sets, each over its own cached index:
   `celebrity` (celebrity_questions.jsonl: the seeds plus the 250 legit celebrity articles)
   and `bbc` (bbc_questions.jsonl: all 2,225 BBC news files). Per set, for the whole set and
   for each half (`benchcommon.split_halves`: even lines fit, odd lines held out):
   - article Recall@1, Recall@5 and MRR@10 for dense, keyword and hybrid search;
   - `Library.ask(q, k=3)`: the share of answerable questions whose answer text contains an
     answer phrase, the same share for the top three passages of `Library.search(q, k=3)`
     (the ceiling retrieval leaves the answerer), their ratio, the median answer length,
     and the abstention trade-off; with a curve over the answer's own score (`confidence`
     when the Answer has one, else `evidence`).
2. SciFact (BEIR test split): nDCG@10 for the three modes, beside published BM25 (0.665).

Indexes are built once with the real model and cached in benchmarks/.cache/ (or
SPOTLIGHT_BENCH_CACHE). Only public fields of Answer and Hit are read.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from benchcommon import (
    BBC_QUESTIONS_FILE,
    QUESTIONS_FILE,
    Question,
    answer_phrase_problems,
    bbc_articles,
    cache_name,
    cached_library,
    celebrity_benchmark_articles,
    contains_answer,
    indexed_sources,
    load_questions,
    machine_line,
    markdown_table,
    ndcg_at_10,
    scifact_articles,
    scifact_queries_and_qrels,
    split_halves,
)

from corpus.records import Article
from index.embedder import SentenceTransformerEmbedder
from index.library import Library, SearchMode
from index.spans import KINDS, resolve_kind

MODES: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")
SEARCH_DEPTH = 10  # MRR and nDCG are cut at 10
ASK_K = 3
CEILING_K = 3
PUBLISHED_SCIFACT_BM25 = 0.665
MAX_WRONG_ABSTAIN = 0.05  # the bound on answerable questions abstained on


@dataclass(frozen=True)
class QuestionSet:
    name: str
    questions_file: Path
    articles: Callable[[], list[Article]]


SETS = {
    "celebrity": QuestionSet("celebrity", QUESTIONS_FILE, celebrity_benchmark_articles),
    "bbc": QuestionSet("bbc", BBC_QUESTIONS_FILE, bbc_articles),
}


# -- per-question outcomes ----------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """Everything measured for one question, so every table is a view of these."""

    question: Question
    gold_rank: dict[str, int | None]  # mode -> 1-based rank of the first gold article
    top_sources: tuple[str, ...]  # hybrid top SEARCH_DEPTH
    abstained: bool
    answer: str | None
    contains: bool  # the answer text contains an answer phrase
    ceiling: bool  # one of the top CEILING_K passages contains an answer phrase
    cited_gold: bool  # answered, and one of its citations is a gold article
    score: float  # the answer's confidence (or evidence, before answers had one)


def answer_score(answer: object) -> tuple[float, str]:
    confidence = getattr(answer, "confidence", None)
    if confidence is not None:
        return float(confidence), "confidence"
    return float(getattr(answer, "evidence", 0.0)), "evidence"


def measure(library: Library, question: Question) -> tuple[Outcome, str]:
    ranks: dict[str, int | None] = {}
    top: tuple[str, ...] = ()
    ceiling = False
    if question.answerable:
        for mode in MODES:
            hits = library.search(question.text, k=SEARCH_DEPTH, mode=mode)
            ranks[mode] = next((h.rank for h in hits if h.source in question.gold), None)
            if mode == "hybrid":
                top = tuple(h.source for h in hits)
        ceiling = any(contains_answer(h.passage, question.answers)
                      for h in library.search(question.text, k=CEILING_K))
    answer = library.ask(question.text, k=ASK_K)
    text = None if answer.abstained else answer.answer
    score, score_name = answer_score(answer)
    cited = not answer.abstained and any(c.source in question.gold for c in answer.citations)
    return Outcome(question, ranks, top, answer.abstained, text,
                   question.answerable and contains_answer(text, question.answers),
                   ceiling, cited, score), score_name


# -- scores -------------------------------------------------------------------------------
def mean(values: Sequence[bool | float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def fmt(value: float, digits: int = 3) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def halves(outcomes: Sequence[Outcome]) -> list[tuple[str, list[Outcome]]]:
    by_question = {id(o.question): o for o in outcomes}
    fit, held = split_halves([o.question for o in outcomes])
    return [("all", list(outcomes)),
            ("fit (even lines)", [by_question[id(q)] for q in fit]),
            ("held-out (odd lines)", [by_question[id(q)] for q in held])]


def recall_at(outcomes: Sequence[Outcome], mode: str, k: int) -> float:
    return mean([(o.gold_rank[mode] or SEARCH_DEPTH + 1) <= k for o in outcomes])


def mrr(outcomes: Sequence[Outcome], mode: str) -> float:
    return mean([1.0 / o.gold_rank[mode] if o.gold_rank[mode] else 0.0 for o in outcomes])


@dataclass(frozen=True)
class AnswerScores:
    answerable: int
    unanswerable: int
    contains: float  # answerable questions whose answer contains an answer phrase
    ceiling: float  # ... whose top-3 passages contain one
    median_chars: float  # of the answers given (answered questions of either kind)
    right_abstain: float  # unanswerable questions abstained on
    wrong_abstain: float  # answerable questions abstained on
    cited_gold: float  # answerable questions answered citing a gold article

    @property
    def ratio(self) -> float:
        return self.contains / self.ceiling if self.ceiling else float("nan")


def answer_scores(outcomes: Sequence[Outcome]) -> AnswerScores:
    answerable = [o for o in outcomes if o.question.answerable]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    lengths = [len(o.answer) for o in outcomes if o.answer is not None]
    return AnswerScores(
        answerable=len(answerable), unanswerable=len(unanswerable),
        contains=mean([o.contains for o in answerable]),
        ceiling=mean([o.ceiling for o in answerable]),
        median_chars=float(np.median(lengths)) if lengths else float("nan"),
        right_abstain=mean([o.abstained for o in unanswerable]),
        wrong_abstain=mean([o.abstained for o in answerable]),
        cited_gold=mean([o.cited_gold for o in answerable]),
    )


# -- reports ------------------------------------------------------------------------------
def retrieval_report(outcomes: Sequence[Outcome]) -> str:
    rows = []
    for half, subset in halves([o for o in outcomes if o.question.answerable]):
        for mode in MODES:
            rows.append([mode, f"{half} ({len(subset)})", fmt(recall_at(subset, mode, 1)),
                         fmt(recall_at(subset, mode, 5)), fmt(mrr(subset, mode))])
    table = markdown_table(["mode", "questions", "Recall@1", "Recall@5", "MRR@10"], rows)
    misses = [o for o in outcomes
              if o.question.answerable and (o.gold_rank["hybrid"] or SEARCH_DEPTH + 1) > 5]
    lines = [table, "", f"Hybrid misses (gold not in top 5): {len(misses)}"]
    for o in misses:
        ranks = ", ".join(f"{mode} {o.gold_rank[mode] or '>10'}" for mode in MODES)
        lines.append(f"- line {o.question.line} \"{o.question.text}\" gold "
                     f"{sorted(o.question.gold)}: rank {ranks}; hybrid top 3 "
                     f"{list(o.top_sources[:3])}")
    return "\n".join(lines)


def answer_report(outcomes: Sequence[Outcome]) -> str:
    rows = []
    for half, subset in halves(outcomes):
        s = answer_scores(subset)
        rows.append([f"{half} ({s.answerable} + {s.unanswerable})", fmt(s.contains),
                     fmt(s.ceiling), fmt(s.ratio, 2), fmt(s.median_chars, 0),
                     fmt(s.right_abstain), fmt(s.wrong_abstain), fmt(s.cited_gold)])
    table = markdown_table(
        ["questions (answerable + unanswerable)", "answer contains phrase ↑",
         f"top-{CEILING_K} passages contain phrase (ceiling)", "ratio ↑",
         "median answer chars", "unanswerable abstained ↑", "answerable wrongly abstained ↓",
         "answerable answered citing gold ↑"], rows)
    answered_anyway = [o for o in outcomes if not o.question.answerable and not o.abstained]
    lost = [o for o in outcomes if o.question.answerable and o.ceiling and not o.contains
            and not o.abstained]
    lines = [table, "",
             f"Unanswerable questions answered anyway ({len(answered_anyway)}): "
             + (", ".join(f'"{o.question.text}"' for o in answered_anyway) or "none"),
             "", f"Answerable questions whose top-{CEILING_K} passages hold an answer phrase "
             f"but whose answer does not (answered, not abstained): {len(lost)}"]
    return "\n".join(lines)


def abstain_at(outcomes: Sequence[Outcome], threshold: float) -> tuple[float, float, float]:
    """(unanswerable abstained, answerable wrongly abstained, answerable answered with an
    answer phrase) when also abstaining on answers scoring below `threshold`."""
    def abstains(o: Outcome) -> bool:
        return o.abstained or o.score < threshold

    answerable = [o for o in outcomes if o.question.answerable]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    return (mean([abstains(o) for o in unanswerable]),
            mean([abstains(o) for o in answerable]),
            mean([o.contains and not abstains(o) for o in answerable]))


def pick_threshold(outcomes: Sequence[Outcome], thresholds: Sequence[float]) -> float:
    """The threshold abstaining on most unanswerable questions while wrongly abstaining on
    at most MAX_WRONG_ABSTAIN of the answerable ones (the lowest threshold if none does)."""
    allowed = [t for t in thresholds if abstain_at(outcomes, t)[1] <= MAX_WRONG_ABSTAIN]
    if not allowed:
        return min(thresholds)
    return max(allowed, key=lambda t: (abstain_at(outcomes, t)[0], -t))


def curve_report(outcomes: Sequence[Outcome], score_name: str) -> str:
    answered = sorted({o.score for o in outcomes if not o.abstained})
    if len(answered) < 2:
        return f"(no curve: fewer than two distinct `{score_name}` values among answers)"
    floor = min(o.score for o in outcomes)
    thresholds = sorted({floor - 1e-9} | {float(np.quantile(answered, q))
                                          for q in np.linspace(0.0, 0.95, 20)})
    fit, held = halves(outcomes)[1][1], halves(outcomes)[2][1]
    rows = []
    for t in thresholds:
        cells = [fmt(t, 4)]
        for subset in (outcomes, fit, held):
            right, wrong, kept = abstain_at(subset, t)
            cells.append(f"{fmt(right)} / {fmt(wrong)} / {fmt(kept)}")
        rows.append(cells)
    table = markdown_table(
        [f"also abstain when {score_name} <", "all: unans. abstained / ans. wrongly abstained "
         "/ ans. answered with phrase", "fit half", "held-out half"], rows)
    chosen = pick_threshold(fit, thresholds)
    right, wrong, kept = abstain_at(held, chosen)
    fit_right, fit_wrong, _ = abstain_at(fit, chosen)
    note = (f"Picked on the fit half (most unanswerable abstained with at most "
            f"{MAX_WRONG_ABSTAIN:.0%} answerable wrongly abstained): {score_name} < "
            f"{chosen:.4f} (fit: {fmt(fit_right)} / {fmt(fit_wrong)}); scored on the held-out "
            f"half: unanswerable abstained {fmt(right)}, answerable wrongly abstained "
            f"{fmt(wrong)}, answerable answered with a phrase {fmt(kept)}.")
    return "\n".join([table, "", note])


def set_report(name: str, library: Library, questions: Sequence[Question],
               dump: list[dict] | None) -> str:
    outcomes, score_names = [], set()
    for number, question in enumerate(questions, start=1):
        outcome, score_name = measure(library, question)
        outcomes.append(outcome)
        score_names.add(score_name)
        if number % 50 == 0:
            print(f"  {name}: {number}/{len(questions)} questions", file=sys.stderr)
    score_name = "/".join(sorted(score_names))
    if dump is not None:
        for o in outcomes:
            dump.append({"set": name, "line": o.question.line, "question": o.question.text,
                         "kind": o.question.kind,
                         "half": "fit" if o.question.line % 2 == 0 else "held-out",
                         "gold_rank": o.gold_rank, "abstained": o.abstained,
                         "answer": o.answer, "contains": o.contains, "ceiling": o.ceiling,
                         "cited_gold": o.cited_gold, score_name: o.score})
    return "\n\n".join([
        f"### Retrieval ({name}; article level, answerable questions)", retrieval_report(outcomes),
        f"### Answers (Library.ask, k={ASK_K})", answer_report(outcomes),
        f"### Abstention trade-off over `{score_name}`", curve_report(outcomes, score_name),
    ])


# -- SciFact ------------------------------------------------------------------------------
def scifact_report(embedder: SentenceTransformerEmbedder) -> str:
    library = cached_library("scifact", scifact_articles(), embedder)
    queries, qrels = scifact_queries_and_qrels()
    rows = []
    for mode in MODES:
        scores = []
        for query_id, text in queries.items():
            hits = library.search(text, k=10, mode=mode)
            scores.append(ndcg_at_10([h.source.removeprefix("scifact/") for h in hits],
                                     qrels[query_id]))
        rows.append([mode, f"{np.mean(scores):.3f}"])
    rows.append(["BM25 (published, BEIR)", f"{PUBLISHED_SCIFACT_BM25:.3f}"])
    library.close()
    return markdown_table([f"SciFact test ({len(queries)} queries)", "nDCG@10"], rows)


# -- main ---------------------------------------------------------------------------------
def check_questions(sets: Sequence[QuestionSet]) -> int:
    """Every answer phrase verbatim in its gold article and in an indexed body."""
    failures = 0
    for qset in sets:
        questions = load_questions(qset.questions_file)
        problems = answer_phrase_problems(questions, qset.articles())
        answerable = sum(q.answerable for q in questions)
        print(f"{qset.questions_file.name}: {answerable} answerable, "
              f"{len(questions) - answerable} unanswerable, "
              f"{sum(len(q.answers) for q in questions)} answer phrases: "
              + ("all found" if not problems else f"{len(problems)} problems"))
        for problem in problems:
            print(f"  {problem}")
        failures += len(problems)
    return failures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="celebrity,bbc",
                        help="comma-separated question sets: " + ", ".join(SETS))
    parser.add_argument("--skip-scifact", action="store_true")
    parser.add_argument("--check-questions", action="store_true",
                        help="only check that every answer phrase is in its gold article")
    parser.add_argument("--dump", type=Path, help="write per-question outcomes (JSON lines)")
    parser.add_argument("--sentence-vectors", choices=KINDS, default=None,
                        help="the kind of sentence vector of the question sets' indexes "
                             "(index/spans.py; default SPOTLIGHT_SENTENCE_VECTORS, else the "
                             "default for new indexes): `.cache/<set>` is encoded, "
                             "`.cache/<set>-pooled` pooled")
    args = parser.parse_args(argv)
    kind = resolve_kind(args.sentence_vectors)
    names = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = [name for name in names if name not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {unknown}; choose from {list(SETS)}")
    sets = [SETS[name] for name in names]

    if args.check_questions:
        sys.exit(1 if check_questions(sets) else 0)

    embedder = SentenceTransformerEmbedder()
    dump: list[dict] | None = [] if args.dump else None
    print(f"Machine: {machine_line()}\n")
    for qset in sets:
        questions = load_questions(qset.questions_file)
        library = cached_library(cache_name(qset.name, kind), qset.articles(), embedder,
                                 sentence_vectors=kind)
        indexed = indexed_sources(library)
        unindexed = [q.line for q in questions if q.answerable and not q.gold & indexed]
        if unindexed:
            print(f"WARNING: {qset.name}: no gold article indexed for lines {unindexed}",
                  file=sys.stderr)
        answerable = [q for q in questions if q.answerable]
        print(f"## {qset.name} set ({kind} sentence vectors)\n")
        print(f"{qset.questions_file.name}: {len(answerable)} answerable questions over "
              f"{len({s for q in answerable for s in q.gold})} gold files, "
              f"{len(questions) - len(answerable)} unanswerable; index of "
              f"{library.count_articles()} articles, {library.info().passages} passages.\n")
        print(set_report(qset.name, library, questions, dump), "\n")
        library.close()
    if dump is not None:
        args.dump.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in dump),
                             encoding="utf-8")
    if not args.skip_scifact:
        print("## SciFact\n")
        print(scifact_report(embedder))


if __name__ == "__main__":
    main()
