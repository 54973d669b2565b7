"""Retrieval and answering quality, printed as markdown tables.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py               # everything
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py --calibrate   # abstention sweep
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/quality.py --skip-scifact

1. Our celebrity question set (celebrity_questions.jsonl): Recall@1, Recall@5 and MRR@10
   for dense, keyword and hybrid search; abstention of `Library.ask`.
2. SciFact (BEIR test split): nDCG@10 for the three modes, beside published BM25 (0.665).

Indexes are built once with the real model and cached in benchmarks/.cache/.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from benchcommon import (
    Question,
    cached_library,
    celebrity_benchmark_articles,
    indexed_sources,
    load_questions,
    machine_line,
    markdown_table,
    require,
    scifact_articles,
    scifact_dir,
)

from index.embedder import SentenceTransformerEmbedder
from index.library import Library, SearchMode

MODES: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")
SEARCH_DEPTH = 10  # MRR and nDCG are cut at 10
ASK_K = 3
PUBLISHED_SCIFACT_BM25 = 0.665
THRESHOLDS = np.round(np.arange(0.20, 0.7001, 0.025), 3)


# -- retrieval on our question set --------------------------------------------------------
@dataclass(frozen=True)
class RetrievalOutcome:
    question: Question
    mode: SearchMode
    first_gold_rank: int | None  # 1-based within the top SEARCH_DEPTH, None if absent
    top_sources: tuple[str, ...]


def retrieve(library: Library, questions: Sequence[Question],
             mode: SearchMode) -> list[RetrievalOutcome]:
    outcomes = []
    for question in questions:
        hits = library.search(question.text, k=SEARCH_DEPTH, mode=mode)
        rank = next((hit.rank for hit in hits if hit.source in question.gold), None)
        outcomes.append(RetrievalOutcome(question, mode, rank, tuple(h.source for h in hits)))
    return outcomes


def recall_at(outcomes: Sequence[RetrievalOutcome], k: int) -> float:
    return float(np.mean([o.first_gold_rank is not None and o.first_gold_rank <= k
                          for o in outcomes]))


def mrr(outcomes: Sequence[RetrievalOutcome]) -> float:
    return float(np.mean([1.0 / o.first_gold_rank if o.first_gold_rank else 0.0
                          for o in outcomes]))


def retrieval_report(library: Library, answerable: Sequence[Question]) -> str:
    by_mode = {mode: retrieve(library, answerable, mode) for mode in MODES}
    table = markdown_table(
        ["mode", "Recall@1", "Recall@5", "MRR@10"],
        [[mode, f"{recall_at(o, 1):.3f}", f"{recall_at(o, 5):.3f}", f"{mrr(o):.3f}"]
         for mode, o in by_mode.items()],
    )
    misses = [o for o in by_mode["hybrid"] if not o.first_gold_rank or o.first_gold_rank > 5]
    lines = [table, "", f"Hybrid misses (gold not in top 5): {len(misses)}"]
    for outcome in misses:
        other = {mode: next(o for o in by_mode[mode] if o.question == outcome.question)
                 for mode in ("dense", "keyword")}
        ranks = ", ".join(f"{mode} rank {o.first_gold_rank or '>10'}" for mode, o in other.items())
        lines.append(f"- \"{outcome.question.text}\" gold {sorted(outcome.question.gold)}; "
                     f"hybrid rank {outcome.first_gold_rank or '>10'} ({ranks}); "
                     f"hybrid top 3 {list(outcome.top_sources[:3])}")
    return "\n".join(lines)


# -- abstention ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AskOutcome:
    question: Question
    abstained: bool
    cited_gold: bool  # answered, and one of its citations is a gold article


def ask_all(library: Library, questions: Sequence[Question]) -> list[AskOutcome]:
    outcomes = []
    for question in questions:
        answer = library.ask(question.text, k=ASK_K)
        cited = not answer.abstained and any(c.source in question.gold for c in answer.citations)
        outcomes.append(AskOutcome(question, answer.abstained, cited))
    return outcomes


@dataclass(frozen=True)
class AbstentionScores:
    right_abstain: float  # unanswerable questions abstained on
    wrong_abstain: float  # answerable questions abstained on
    cited_gold: float  # answerable questions answered citing a gold article

    @property
    def balanced_accuracy(self) -> float:
        return (self.right_abstain + (1.0 - self.wrong_abstain)) / 2.0


def abstention_scores(outcomes: Sequence[AskOutcome]) -> AbstentionScores:
    answerable = [o for o in outcomes if o.question.answerable]
    unanswerable = [o for o in outcomes if not o.question.answerable]
    return AbstentionScores(
        right_abstain=float(np.mean([o.abstained for o in unanswerable])),
        wrong_abstain=float(np.mean([o.abstained for o in answerable])),
        cited_gold=float(np.mean([o.cited_gold for o in answerable])),
    )


def abstention_report(library: Library, questions: Sequence[Question]) -> str:
    outcomes = ask_all(library, questions)
    scores = abstention_scores(outcomes)
    n_answerable = sum(q.answerable for q in questions)
    table = markdown_table(
        ["min_evidence", f"unanswerable abstained (of {len(questions) - n_answerable})",
         f"answerable wrongly abstained (of {n_answerable})",
         "answerable answered citing gold"],
        [[f"{library.policy.min_evidence:.3f}", f"{scores.right_abstain:.3f}",
          f"{scores.wrong_abstain:.3f}", f"{scores.cited_gold:.3f}"]],
    )
    answered_wrongly = [o.question.text for o in outcomes
                        if not o.question.answerable and not o.abstained]
    return "\n".join([table, "", "Unanswerable questions answered anyway: "
                      + (", ".join(f'"{q}"' for q in answered_wrongly) or "none")])


def calibration_report(library: Library, questions: Sequence[Question]) -> str:
    """Sweep AnswerPolicy.min_evidence; pick by balanced accuracy, also 2-fold held out."""
    original = library.policy
    sweep: dict[float, list[AskOutcome]] = {}
    for threshold in THRESHOLDS:
        library.policy = replace(original, min_evidence=float(threshold))
        sweep[float(threshold)] = ask_all(library, questions)
        print(f"  threshold {threshold:.3f} done", file=sys.stderr)
    library.policy = original

    scores = {t: abstention_scores(o) for t, o in sweep.items()}
    best = max(scores, key=lambda t: (scores[t].balanced_accuracy, -t))
    rows = [[f"{t:.3f}" + (" ← best" if t == best else "")
             + (" (current)" if math.isclose(t, original.min_evidence) else ""),
             f"{s.right_abstain:.3f}", f"{s.wrong_abstain:.3f}", f"{s.cited_gold:.3f}",
             f"{s.balanced_accuracy:.3f}"] for t, s in scores.items()]
    table = markdown_table(
        ["min_evidence", "unanswerable abstained ↑", "answerable wrongly abstained ↓",
         "answerable answered citing gold ↑", "balanced accuracy ↑"], rows)

    # Choosing the threshold on the questions we then score flatters it: also pick on one
    # half (even/odd lines) and score on the other.
    held_out = []
    for fold in (0, 1):
        def pick(outcomes: list[AskOutcome], keep: int) -> list[AskOutcome]:
            return [o for i, o in enumerate(outcomes) if i % 2 == keep]

        chosen = max(sweep, key=lambda t, f=fold: (
            abstention_scores(pick(sweep[t], f)).balanced_accuracy, -t))
        held_out.append((chosen, abstention_scores(pick(sweep[chosen], 1 - fold))))
    held = "; ".join(f"picked {t:.3f} on half {f}, held-out balanced accuracy "
                     f"{s.balanced_accuracy:.3f}" for f, (t, s) in enumerate(held_out))
    return "\n".join([table, "", f"Best on the whole set: {best:.3f}. 2-fold check: {held}."])


# -- SciFact ------------------------------------------------------------------------------
def scifact_queries_and_qrels() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = {}
    with require(scifact_dir() / "qrels/test.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query-id"].strip(), {})[row["corpus-id"].strip()] = int(
                row["score"].strip())
    queries = {}
    with require(scifact_dir() / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if str(record["_id"]) in qrels:
                queries[str(record["_id"])] = record["text"]
    return queries, qrels


def ndcg_at_10(ranked_doc_ids: Sequence[str], relevance: dict[str, int]) -> float:
    """BEIR's (trec_eval's) nDCG@10: linear gain, discount log2(rank + 1)."""
    dcg = sum(relevance.get(doc, 0) / math.log2(rank + 1)
              for rank, doc in enumerate(ranked_doc_ids[:10], start=1))
    ideal = sorted(relevance.values(), reverse=True)[:10]
    idcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


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
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calibrate", action="store_true",
                        help="sweep the abstention threshold (AnswerPolicy.min_evidence)")
    parser.add_argument("--skip-scifact", action="store_true")
    args = parser.parse_args(argv)

    embedder = SentenceTransformerEmbedder()
    questions = load_questions()
    library = cached_library("celebrity", celebrity_benchmark_articles(), embedder)
    missing = {s for q in questions for s in q.gold} - indexed_sources(library)
    if missing:
        print(f"WARNING: gold articles not in the index (dropped as duplicates?): "
              f"{sorted(missing)}", file=sys.stderr)
    answerable = [q for q in questions if q.answerable]
    print(f"Machine: {machine_line()}\n")
    print(f"Celebrity set: {len(answerable)} answerable questions over "
          f"{len({s for q in answerable for s in q.gold})} articles, "
          f"{len(questions) - len(answerable)} unanswerable; index of "
          f"{library.count_articles()} articles, {library.info().passages} passages.\n")

    if args.calibrate:
        print("## Abstention threshold sweep (Library.ask, hybrid)\n")
        print(calibration_report(library, questions))
        return
    print("## Retrieval (celebrity set)\n")
    print(retrieval_report(library, answerable), "\n")
    print(f"## Abstention (Library.ask, k={ASK_K})\n")
    print(abstention_report(library, questions), "\n")
    library.close()
    if not args.skip_scifact:
        print("## SciFact\n")
        print(scifact_report(embedder))


if __name__ == "__main__":
    main()
