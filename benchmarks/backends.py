"""Embedding backends side by side: how close their vectors are, and what retrieval loses.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/backends.py
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/backends.py --recipes channel,tensor --scifact

Backends: torch (sentence-transformers, the reference), onnx-fp32 and one onnx-int8 per
quantisation recipe (index/onnx_embedder.py INT8_RECIPES), all exported here into
benchmarks/.cache/models. For each:

1. Vectors of the celebrity benchmark passages (title + passage, as the library embeds
   them) and of the celebrity questions, against torch's: cosine (mean, 1st percentile,
   min); top-1 agreement (each passage's nearest other passage, each question's best
   passage: the same one as with torch vectors); each question's top-10 passages shared.
2. The celebrity question set through a Library built with that backend (cached in
   benchmarks/.cache/backends-celebrity-<backend>): Recall@1, Recall@5, MRR@10 for dense
   and hybrid search, answerable questions.
3. With --scifact: dense nDCG@10 on SciFact (BEIR test, 300 claims) with the passages
   embedded directly (title + passage, best passage per abstract; no Library, so no
   sentence vectors, which dense search does not use): cached per backend as .npy.

A quantised variant qualifies only if it stays within 1% absolute of torch on every
retrieval figure. Results are printed as markdown and saved to benchmarks/results/backends.json
for plots.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import numpy as np
from benchcommon import (
    BENCH_DIR,
    CACHE_DIR,
    cached_library,
    celebrity_benchmark_articles,
    load_questions,
    machine_line,
    markdown_table,
    ndcg_at_10,
    scifact_articles,
    scifact_queries_and_qrels,
)

from corpus import chunk_article
from corpus.records import Article
from index.embedder import Embedder, SentenceTransformerEmbedder
from index.ingest import embedding_text
from index.onnx_embedder import INT8_RECIPES, OnnxEmbedder

MODEL_CACHE = CACHE_DIR / "models"
RESULTS = BENCH_DIR / "results" / "backends.json"
QUALITY_BAR = 0.01  # absolute loss allowed on any retrieval figure
DEPTH = 10


def make_backend(label: str) -> Embedder:
    if label == "torch":
        return SentenceTransformerEmbedder()
    if label == "onnx-fp32":
        return OnnxEmbedder(variant="fp32", cache_dir=MODEL_CACHE)
    if label.startswith("onnx-int8-") and label.removeprefix("onnx-int8-") in INT8_RECIPES:
        return OnnxEmbedder(variant=label.removeprefix("onnx-"), cache_dir=MODEL_CACHE)
    raise SystemExit(f"unknown backend {label!r}")


def passage_texts(articles: Sequence[Article]) -> tuple[list[str], list[str]]:
    """(texts as the library embeds them, the article source of each)."""
    texts, sources = [], []
    for article in articles:
        for passage in chunk_article(article):
            texts.append(embedding_text(article.title, passage.text))
            sources.append(article.source)
    return texts, sources


# -- 1. vectors -------------------------------------------------------------------------
def vector_agreement(reference: tuple[np.ndarray, np.ndarray],
                     other: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    (ref_p, ref_q), (p, q) = reference, other
    cosines = np.concatenate([np.sum(ref_p * p, axis=1), np.sum(ref_q * q, axis=1)])

    def nearest_other(vectors: np.ndarray) -> np.ndarray:
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -np.inf)
        return similarity.argmax(axis=1)

    ref_top = np.argsort(-(ref_q @ ref_p.T), axis=1)[:, :DEPTH]
    top = np.argsort(-(q @ p.T), axis=1)[:, :DEPTH]
    overlap = [len(set(a) & set(b)) / DEPTH for a, b in zip(ref_top, top, strict=True)]
    return {
        "cosine_mean": float(cosines.mean()),
        "cosine_p1": float(np.percentile(cosines, 1)),
        "cosine_min": float(cosines.min()),
        "passage_top1_agreement": float(np.mean(nearest_other(ref_p) == nearest_other(p))),
        "question_top1_agreement": float(np.mean(ref_top[:, 0] == top[:, 0])),
        "question_top10_overlap": float(np.mean(overlap)),
    }


# -- 2. celebrity retrieval through the Library -----------------------------------------
def celebrity_retrieval(label: str, embedder: Embedder) -> dict[str, float]:
    questions = [q for q in load_questions() if q.answerable]
    library = cached_library(f"backends-celebrity-{label}", celebrity_benchmark_articles(),
                             embedder)
    scores: dict[str, float] = {}
    for mode in ("dense", "hybrid"):
        ranks = []
        for question in questions:
            hits = library.search(question.text, k=DEPTH, mode=mode)
            ranks.append(next((h.rank for h in hits if h.source in question.gold), None))
        scores[f"{mode}_recall@1"] = float(np.mean([r == 1 for r in ranks]))
        scores[f"{mode}_recall@5"] = float(np.mean([r is not None and r <= 5 for r in ranks]))
        scores[f"{mode}_mrr@10"] = float(np.mean([1 / r if r else 0.0 for r in ranks]))
    library.close()
    return scores


# -- 3. SciFact, dense, without the Library ----------------------------------------------
def scifact_dense(label: str, embedder: Embedder) -> dict[str, float]:
    texts, sources = passage_texts(scifact_articles())
    path = CACHE_DIR / f"backends-scifact-{label}.npy"
    if path.exists() and np.load(path, mmap_mode="r").shape[0] == len(texts):
        vectors = np.load(path)
    else:
        started = time.perf_counter()
        vectors = embedder.encode(texts)
        print(f"({label}: {len(texts)} SciFact passages embedded in "
              f"{time.perf_counter() - started:.0f} s)", file=sys.stderr)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    queries, qrels = scifact_queries_and_qrels()
    query_vectors = embedder.encode(list(queries.values()))
    docs = np.array([s.removeprefix("scifact/") for s in sources])
    scores = []
    for query_id, vector in zip(queries, query_vectors, strict=True):
        similarity = vectors @ vector
        ranked: list[str] = []
        for index in np.argsort(-similarity):  # best passage per abstract
            if docs[index] not in ranked:
                ranked.append(str(docs[index]))
                if len(ranked) == DEPTH:
                    break
        scores.append(ndcg_at_10(ranked, qrels[query_id]))
    return {"scifact_dense_ndcg@10": float(np.mean(scores))}


# -- main ---------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", default=",".join(INT8_RECIPES),
                        help=f"int8 recipes to try (default all: {', '.join(INT8_RECIPES)})")
    parser.add_argument("--scifact", action="store_true", help="also SciFact dense nDCG@10")
    parser.add_argument("--scifact-for", default="",
                        help="comma-separated backends to run SciFact for (default: those "
                             "with retrieval)")
    parser.add_argument("--retrieval-for", default="",
                        help="comma-separated backends to build celebrity libraries for "
                             "(default: all; none: vectors only); others get the vector "
                             "comparison only")
    args = parser.parse_args(argv)
    labels = ["torch", "onnx-fp32"] + [f"onnx-int8-{r.strip()}" for r in args.recipes.split(",")
                                       if r.strip()]
    retrieval_for = ({x.strip() for x in args.retrieval_for.split(",") if x.strip()}
                     or set(labels))
    if args.retrieval_for == "none":
        retrieval_for = set()
    scifact_for = ({x.strip() for x in args.scifact_for.split(",") if x.strip()}
                   or retrieval_for) if args.scifact else set()

    articles = celebrity_benchmark_articles()
    texts, _ = passage_texts(articles)
    questions = [q.text for q in load_questions()]
    results: dict[str, dict[str, float]] = {}
    reference: tuple[np.ndarray, np.ndarray] | None = None
    for label in labels:
        embedder = make_backend(label)
        vectors = (embedder.encode(texts), embedder.encode(questions))
        reference = reference or vectors
        results[label] = vector_agreement(reference, vectors)
        if label in retrieval_for:
            results[label] |= celebrity_retrieval(label, embedder)
        if label in scifact_for:
            results[label] |= scifact_dense(label, embedder)
        print(f"({label}: {results[label]})", file=sys.stderr)
        del embedder

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # Per backend, key by key: a run measuring only SciFact keeps the retrieval figures.
    merged = {label: previous.get(label, {}) | results.get(label, {})
              for label in previous | results}
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"Machine: {machine_line()}\n")
    print(f"Celebrity benchmark corpus: {len(texts):,} passages, {len(questions)} questions.\n")
    vector_keys = ["cosine_mean", "cosine_p1", "cosine_min", "passage_top1_agreement",
                   "question_top1_agreement", "question_top10_overlap"]
    print(markdown_table(["backend", *vector_keys],
                         [[label, *(f"{results[label][k]:.4f}" for k in vector_keys)]
                          for label in labels]))
    retrieval_keys = [k for k in results["torch"] if k not in vector_keys]
    if retrieval_keys:
        print()
        torch_scores = results["torch"]
        rows = []
        for label in labels:
            if retrieval_keys[0] not in results[label]:
                continue
            worst = min(results[label][k] - torch_scores[k] for k in retrieval_keys)
            rows.append([label, *(f"{results[label][k]:.3f}" for k in retrieval_keys),
                         f"{worst:+.3f} " + ("within 1%" if worst >= -QUALITY_BAR else "OUT")])
        print(markdown_table(["backend", *retrieval_keys, "worst Δ vs torch"], rows))


if __name__ == "__main__":
    main()
