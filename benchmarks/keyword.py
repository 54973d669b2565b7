"""The keyword side at 100k passages: what FTS5 bm25 costs, and cheaper queries, measured.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/keyword.py [--tier 100k]

Runs on speed.py's cached tier index (benchmarks/.cache/speed-<tier>[-recycled]; build it
with speed.py first). The celebrity question set's gold articles are in every tier (the
legit celebrity articles are its first articles), so keyword and hybrid Recall@1/@5 and
MRR@10 are measured on the same index as the latency.

Variants of the keyword search (each content word of the question is one FTS5 phrase):
- `one query`: bm25 over an OR of every word, one FTS5 query (the search before issue 10);
- `split at common words`: today's `Store.keyword_search` (index/bm25.py): the rare
  words' passages ranked first, the common-only ones skipped when they provably cannot
  reach the top k; the same ranking as `one query`, which the `same top k` column checks;
- `drop common`: words matching more than COMMON_SHARE of the passages are left out of
  the OR when at least one rarer word remains (changes the ranking: rejected);
- `rarest N`: only the N rarest words (changes the ranking: rejected);
- `tantivy`: SPOTLIGHT_KEYWORD_ENGINE=tantivy's retriever (index/tantivy_keyword.py):
  tantivy's BM25 by block-max WAND over keyword.tantivy/ in the tier's folder (built at
  the first run: its build time and size are printed), title boosted 0.5 as FTS5 weights
  it. A different ranking: the overlap and recall columns say how different.
The library's keyword retriever is patched in this process only; nothing in index/ changes.

`--million`: the keyword side alone at 1M passages. A keyword-only store (SQLite + FTS5,
empty vectors, so no Library.ask) is built once in benchmarks/.cache/keyword-1m from the
100k tier's passages plus 900k passages of their sentences remixed (seeded, 3-6 sentences
each; ~3 min); `one query`, `split at common words` and `tantivy` (its folder built once
in the same cache folder) are then timed on all 348 questions twice, and their top 50s
compared with the split's.
"""

from __future__ import annotations

import argparse
import itertools
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from benchcommon import CACHE_DIR, load_questions, markdown_table, percentile_ms
from filelock import FileLock

from corpus import split_sentences
from index.embedded import WRITE_LOCK_NAME
from index.embedder import make_embedder
from index.library import Library
from index.parts import Query, Ranking
from index.pipeline import CANDIDATE_POOL as CANDIDATES
from index.retrievers import KeywordRetriever
from index.store import GLOBAL_SCOPE, Store
from index.tantivy_keyword import KEYWORD_DIR, TantivyKeywordRetriever, TantivyKeywords
from index.terms import content_words, fts_any

COMMON_SHARE = 0.01
GLOBAL = (GLOBAL_SCOPE,)
DEPTH = 10
MILLION = 1_000_000
MILLION_SEED = 11

Search = Callable[[str, int], Ranking]  # question text, k -> ranking over GLOBAL


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


def one_query(store: Store, terms: Sequence[str], k: int) -> Ranking:
    """bm25 over an OR of `terms` in one FTS5 query, as the search was before the split
    (the tiers hold the global scope only, so without the scope join)."""
    if not terms:
        return []
    rows = store.db.execute(
        "SELECT rowid, bm25(passages_fts, 0.5, 1.0) AS rank FROM passages_fts "
        "WHERE passages_fts MATCH ? ORDER BY rank, rowid LIMIT ?", (fts_any(terms), k))
    return [(row[0], -row[1]) for row in rows]


def drop_common(store: Store, counts: TermCounts) -> Search:
    def search(text: str, k: int) -> Ranking:
        terms = [t for t in content_words(text) if counts(t) > 0]
        rare = [t for t in terms if counts(t) <= COMMON_SHARE * counts.total]
        return one_query(store, rare or sorted(terms, key=counts)[:1], k)
    return search


def rarest(store: Store, counts: TermCounts, n: int) -> Search:
    def search(text: str, k: int) -> Ranking:
        terms = [t for t in content_words(text) if counts(t) > 0]
        return one_query(store, sorted(terms, key=counts)[:n], k)
    return search


def open_tantivy(folder: Path, store: Store, *, rebuild: bool) -> TantivyKeywords:
    """keyword.tantivy/ in `folder`, built now when missing (or `rebuild`): what it costs
    and its size beside FTS5's tables are printed."""
    path = folder / KEYWORD_DIR
    if rebuild:
        shutil.rmtree(path, ignore_errors=True)
    built = not path.exists()
    started = time.perf_counter()
    keywords = TantivyKeywords.load(folder, store, store, FileLock(str(folder / WRITE_LOCK_NAME)))
    seconds = time.perf_counter() - started
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
    fts = store.db.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'passages_fts%' "
                           "AND name != 'passages_fts_content'").fetchone()[0] / 2**20
    print(f"tantivy: {'built' if built else 'opened'} in {seconds:.1f} s; {size:.0f} MB on "
          f"disk (FTS5's index tables {fts:.0f} MB, its copy of the text not counted)",
          file=sys.stderr)
    return keywords


def tantivy_search(keywords: TantivyKeywords, store: Store) -> Search:
    """The tantivy retriever as Library.ask runs it (the generation check included)."""
    retriever = TantivyKeywordRetriever(keywords, store)
    placeholder = np.zeros(1, dtype=np.float32)  # a keyword retriever never reads it

    def search(text: str, k: int) -> Ranking:
        return retriever.retrieve(Query(text, placeholder, GLOBAL), k)
    return search


def patch(library: Library, search: Search) -> None:
    """Make this library's keyword retriever rank with `search`."""
    for retriever in library.pipeline.retrievers.values():
        if isinstance(retriever, KeywordRetriever):
            def retrieve(query: Query, k: int) -> Ranking:
                return search(query.text, k)
            retriever.retrieve = retrieve


def remixed(pool: Sequence[str], count: int) -> Iterator[tuple[str, str, str]]:
    """(article id, title, text) of `count` passages of 3-6 pooled sentences each."""
    rng = random.Random(MILLION_SEED)
    for n in range(count):
        sentences = rng.sample(pool, rng.randint(3, 6))
        yield (f"remix/{n // 4:06d}", " ".join(sentences[0].split()[:8]), " ".join(sentences))


def million_store(source: Path, target: Path) -> Path:
    """The keyword-only 1M store in `target` (built once): `source`'s passages, then
    remixes of their sentences, written as Store writes them (passages and FTS5 rows)."""
    path = target / "store.sqlite"
    if path.exists():
        return path
    target.mkdir(parents=True, exist_ok=True)
    building = target / "store.sqlite.tmp"
    building.unlink(missing_ok=True)
    Store(building).close()  # the schema
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as old:
        rows = old.execute("SELECT p.article_id, a.title, p.text FROM passages p JOIN articles a "
                           "ON a.id = p.article_id ORDER BY p.id").fetchall()
    pool = [s for _, _, text in rows for s in split_sentences(text) if 4 <= len(s.split()) <= 60]
    db = sqlite3.connect(building)
    with db:
        for number, (article_id, title, text) in enumerate(
                itertools.chain(rows, remixed(pool, MILLION - len(rows)))):
            db.execute("INSERT OR IGNORE INTO articles (id, scope, key, origin, title, source, "
                       "content_hash, added_at, updated_at) VALUES (?, ?, ?, 'build', ?, ?, ?, "
                       "'', '')", (article_id, GLOBAL_SCOPE, article_id, title, article_id,
                                   article_id))
            passage = db.execute("INSERT INTO passages (article_id, scope, position, text, "
                                 "vector) VALUES (?, ?, ?, ?, x'')",
                                 (article_id, GLOBAL_SCOPE, number, text)).lastrowid
            db.execute("INSERT INTO passages_fts (rowid, title, body) VALUES (?, ?, ?)",
                       (passage, title, text))
        Store.bump_generation(db)
    db.execute("INSERT INTO passages_fts (passages_fts) VALUES ('optimize')")
    db.commit()
    db.close()
    building.replace(path)
    return path


def million(source: Path, rebuild_tantivy: bool) -> None:
    folder = CACHE_DIR / "keyword-1m"
    store = Store(million_store(source / "store.sqlite", folder))
    texts = [q.text for q in load_questions() if content_words(q.text)]
    tantivy = tantivy_search(open_tantivy(folder, store, rebuild=rebuild_tantivy), store)
    searches: dict[str, Callable[[str], Ranking]] = {
        "one query": lambda text: one_query(store, content_words(text), CANDIDATES),
        "split at common words": lambda text: store.keyword_search(
            content_words(text), GLOBAL, CANDIDATES),
        "tantivy": lambda text: tantivy(text, CANDIDATES)}
    for text in texts:  # the per-generation phrase counts, as a serving process has them
        searches["split at common words"](text)
    reference = [[p for p, _ in searches["split at common words"](text)] for text in texts]
    compared = {name: [[p for p, _ in searches[name](text)] for text in texts]
                for name in searches}
    seconds: dict[str, list[float]] = {name: [] for name in searches}
    for _ in range(2):
        for name, search in searches.items():
            for text in texts:
                started = time.perf_counter()
                search(text)
                seconds[name].append(time.perf_counter() - started)
    print(f"{store.total('passages'):,} passages (keyword only); {len(texts)} celebrity "
          f"questions, twice; top {CANDIDATES}s compared with the split's\n")
    print(markdown_table(
        ["keyword search", "p50 ms", "p90 ms", "p99 ms", f"same top {CANDIDATES}",
         f"top-{CANDIDATES} overlap", "same top 1", "split's top 1 in its top 5"], [
            [name, *(f"{percentile_ms(values, q):.1f}" for q in (50, 90, 99)),
             *agreement(compared[name], reference)]
            for name, values in seconds.items()]))
    store.close()


def agreement(found: Sequence[list[int]], reference: Sequence[list[int]]) -> list[str]:
    """Per question, how much of the reference ranking `found` keeps: identical rankings,
    the share of the top k in common, the same first passage, the first in its top 5."""
    pairs = list(zip(found, reference, strict=True))
    overlap = [len(set(f) & set(r)) / len(r) if r else float(not f) for f, r in pairs]
    return [f"{np.mean([f == r for f, r in pairs]):.3f}", f"{np.mean(overlap):.3f}",
            f"{np.mean([f[:1] == r[:1] for f, r in pairs]):.3f}",
            f"{np.mean([not r or r[0] in f[:5] for f, r in pairs]):.3f}"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="100k")
    parser.add_argument("--backend", default="onnx-fp32")
    parser.add_argument("--folder", type=Path, help="another index folder than the tier's")
    parser.add_argument("--variants", default="one query,split at common words",
                        help="comma-separated, of: one query, split at common words, "
                        "drop common, rarest 3, rarest 2, tantivy")
    parser.add_argument("--rebuild-tantivy", action="store_true",
                        help="build keyword.tantivy/ anew (to time the build)")
    parser.add_argument("--million", action="store_true",
                        help="the keyword side alone at 1M passages (built from the 100k tier)")
    args = parser.parse_args(argv)
    if args.million:
        args.tier = "100k"
    folder = args.folder or next((CACHE_DIR / f"speed-{args.tier}{s}" for s in ("-recycled", "")
                                  if (CACHE_DIR / f"speed-{args.tier}{s}").exists()), None)
    if folder is None:
        sys.exit(f"No cached {args.tier} tier: run benchmarks/speed.py --tiers {args.tier}")
    if args.million:
        million(folder, args.rebuild_tantivy)
        return
    library = Library.open(folder, make_embedder(args.backend, cache_dir=CACHE_DIR / "models"))
    store = library.storage.store
    counts = TermCounts(store)
    questions = [q for q in load_questions() if q.answerable]
    texts = [q.text for q in questions]
    variants: dict[str, Search] = {
        "one query": lambda text, k: one_query(store, content_words(text), k),
        "split at common words": lambda text, k: store.keyword_search(
            content_words(text), GLOBAL, k),
        "drop common": drop_common(store, counts),
        "rarest 3": rarest(store, counts, 3), "rarest 2": rarest(store, counts, 2),
    }
    chosen = args.variants.split(",")
    if "tantivy" in chosen:
        variants["tantivy"] = tantivy_search(
            open_tantivy(folder, store, rebuild=args.rebuild_tantivy), store)
    for text in texts:  # warm the per-term counts, as a serving process would be
        for term in content_words(text):
            counts(term)
            store.keyword_search([term], GLOBAL, 1)
    reference = {text: variants["one query"](text, CANDIDATES) for text in texts}
    rows = []
    for name in chosen:
        search = variants[name]
        patch(library, search)
        seconds = []
        for text in texts * 2:
            started = time.perf_counter()
            search(text, CANDIDATES)
            seconds.append(time.perf_counter() - started)
        asks = []
        for text in texts:
            started = time.perf_counter()
            library.ask(text)
            asks.append(time.perf_counter() - started)
        found = {text: search(text, CANDIDATES) for text in texts}
        agree = agreement([[p for p, _ in found[t]] for t in texts],
                          [[p for p, _ in reference[t]] for t in texts])
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
                     *agree, *(f"{s:.3f}" for s in scores)])
        print(f"({name} done)", file=sys.stderr)
    print(f"{library.info().passages:,} passages; {len(questions)} answerable celebrity "
          f"questions; top {CANDIDATES} compared with `one query`; common = matching > "
          f"{COMMON_SHARE:.0%} of passages.\n")
    print(markdown_table(["keyword search", "keyword p50 / p99 ms", "Library.ask p50 / p99 ms",
                          f"same top {CANDIDATES}", f"top-{CANDIDATES} overlap",
                          "same top 1", "its top 1 in the top 5", "keyword R@1",
                          "keyword R@5", "keyword MRR", "hybrid R@1", "hybrid R@5",
                          "hybrid MRR"], rows))
    library.close()


if __name__ == "__main__":
    main()
