"""The keyword side at 100k passages: what FTS5 bm25 costs, and a cheaper query, measured.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/keyword.py [--tier 100k]

Runs on speed.py's cached tier index (benchmarks/.cache/speed-<tier>[-recycled]; build it
with speed.py first). The celebrity question set's gold articles are in every tier (the
legit celebrity articles are its first articles), so keyword and hybrid Recall@1/@5 and
MRR@10 are measured on the same index as the latency.

Variants of the FTS5 query (index/terms.py fts_query ORs every content word):
- `all terms`: today's query;
- `drop common`: terms matching more than COMMON_SHARE of the passages are left out of
  the OR when at least one rarer term remains (a term's document frequency is counted once
  per index generation and cached; bm25 gives such terms almost no weight anyway, but FTS5
  still has to score every passage holding them);
- `rarest N`: only the N rarest terms.
The library's pipeline is patched in this process only (KeywordRetriever.retrieve);
nothing in index/ changes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from benchcommon import CACHE_DIR, load_questions, markdown_table, percentile_ms

from index.embedder import make_embedder
from index.library import Library
from index.pipeline import CANDIDATE_POOL as CANDIDATES
from index.retrievers import KeywordRetriever
from index.store import GLOBAL_SCOPE, Store
from index.terms import content_words

COMMON_SHARE = 0.01
GLOBAL = (GLOBAL_SCOPE,)
DEPTH = 10


def quoted(terms: Sequence[str]) -> str | None:
    return " OR ".join(f'"{term}"' for term in terms) if terms else None


class TermCounts:
    """Passages matching each term, counted once per store generation."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.generation = -1
        self.counts: dict[str, int] = {}
        self.total = 0

    def __call__(self, term: str) -> int:
        generation = self.store.generation()
        if generation != self.generation:
            self.generation, self.counts = generation, {}
            self.total = self.store.total("passages")
        if term not in self.counts:
            row = self.store.db.execute(
                "SELECT COUNT(*) FROM passages_fts WHERE passages_fts MATCH ?",
                (f'"{term}"',)).fetchone()
            self.counts[term] = int(row[0])
        return self.counts[term]


def drop_common(counts: TermCounts) -> Callable[[str], str | None]:
    def build(text: str) -> str | None:
        terms = [t for t in content_words(text) if counts(t) > 0]
        if not terms:
            return quoted(content_words(text))
        rare = [t for t in terms if counts(t) <= COMMON_SHARE * counts.total]
        return quoted(rare or sorted(terms, key=counts)[:1])
    return build


def rarest(counts: TermCounts, n: int) -> Callable[[str], str | None]:
    def build(text: str) -> str | None:
        terms = [t for t in content_words(text) if counts(t) > 0]
        return quoted(sorted(terms, key=counts)[:n]) if terms else quoted(content_words(text))
    return build


def patch(library: Library, build: Callable[[str], str | None] | None) -> None:
    """Make this library's keyword retriever use `build` (None: today's query)."""
    for retriever in library.pipeline.retrievers.values():
        if isinstance(retriever, KeywordRetriever):
            if build is None:
                retriever.__dict__.pop("retrieve", None)
            else:
                store = retriever._store

                def retrieve(query, k, store=store):
                    match = build(query.text)
                    return store.keyword_search(match, query.scopes, k) if match else []
                retriever.retrieve = retrieve


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="100k")
    parser.add_argument("--backend", default="onnx-fp32")
    parser.add_argument("--folder", type=Path, help="another index folder than the tier's")
    args = parser.parse_args(argv)
    folder = args.folder or next((CACHE_DIR / f"speed-{args.tier}{s}" for s in ("-recycled", "")
                                  if (CACHE_DIR / f"speed-{args.tier}{s}").exists()), None)
    if folder is None:
        sys.exit(f"No cached {args.tier} tier: run benchmarks/speed.py --tiers {args.tier}")
    library = Library.open(folder, make_embedder(args.backend, cache_dir=CACHE_DIR / "models"))
    store = library.storage.store
    counts = TermCounts(store)
    questions = [q for q in load_questions() if q.answerable]
    texts = [q.text for q in questions]
    variants: dict[str, Callable[[str], str | None] | None] = {
        "all terms (today)": None, f"drop common (> {COMMON_SHARE:.0%})": drop_common(counts),
        "rarest 3": rarest(counts, 3), "rarest 2": rarest(counts, 2),
    }
    for text in texts:  # warm the per-term counts, as a serving process would be
        for term in content_words(text):
            counts(term)
    rows = []
    for name, build in variants.items():
        patch(library, build)
        build_query = build or (lambda text: quoted(content_words(text)))
        seconds = []
        for text in texts * 2:
            match = build_query(text)
            started = time.perf_counter()
            if match:
                store.keyword_search(match, GLOBAL, CANDIDATES)
            seconds.append(time.perf_counter() - started)
        asks = []
        for text in texts:
            started = time.perf_counter()
            library.ask(text)
            asks.append(time.perf_counter() - started)
        scores = []
        for mode in ("keyword", "hybrid"):
            ranks = []
            for q in questions:
                hits = library.search(q.text, k=DEPTH, mode=mode)
                ranks.append(next((h.rank for h in hits if h.source in q.gold), None))
            scores += [np.mean([r == 1 for r in ranks]),
                       np.mean([r is not None and r <= 5 for r in ranks]),
                       np.mean([1 / r if r else 0 for r in ranks])]
        rows.append([name, f"{percentile_ms(seconds, 50):.1f} / {percentile_ms(seconds, 99):.1f}",
                     f"{percentile_ms(asks, 50):.1f} / {percentile_ms(asks, 99):.1f}",
                     *(f"{s:.3f}" for s in scores)])
        print(f"({name} done)", file=sys.stderr)
    print(f"{library.info().passages:,} passages; {len(questions)} answerable celebrity "
          f"questions; common = matching > {COMMON_SHARE:.0%} of passages.\n")
    print(markdown_table(["FTS5 query", "keyword_search p50 / p99 ms", "Library.ask p50 / p99 ms",
                          "keyword R@1", "keyword R@5", "keyword MRR", "hybrid R@1",
                          "hybrid R@5", "hybrid MRR"], rows))
    library.close()


if __name__ == "__main__":
    main()
