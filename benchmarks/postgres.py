"""PostgreSQL beside the embedded index: latency, ingest, retrieval quality, HNSW settings.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/postgres.py
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/postgres.py --tiers 10k --skip-quality
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/postgres.py --database-url postgresql://…

Every index is moved into PostgreSQL with `index.transfer` (the export command: same
passages, same vectors, same ids), so both backends serve the same library:

1. `Library.ask` p50/p99 on the 10k and 100k speed tiers (speed.py's cached folders,
   recycled vectors past the real articles), embedded beside PostgreSQL, same questions;
2. HNSW `ef_search`: recall of the dense retriever's 50 candidates (and top 10) against an
   exact search over the same vectors, and its latency, per ef_search on the 100k tier
   (the FAISS IVF index of the embedded backend alongside);
3. ingest: `Library.build` of BBC articles into a fresh folder and a fresh database, with
   the model (what a deployment sees) and with the vectors replayed (the storage alone);
4. quality: Recall@1/@5 and MRR@10 per search mode and the answers (quality.py's
   measures) on the celebrity question set, over the celebrity index (real vectors) and
   over the 100k tier, on both backends.

PostgreSQL is the pgserver wheel's (PostgreSQL 16, pgvector 0.6.2), started with its data
in benchmarks/.cache/pgserver, unless --database-url names a server (its admin URL: the
benchmark creates databases `spotlight_bench_*` there). Results: results/postgres.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psycopg
from benchcommon import (
    BENCH_DIR,
    CACHE_DIR,
    bbc_dir,
    cached_library,
    celebrity_benchmark_articles,
    load_prefixed,
    load_questions,
    machine_line,
    markdown_table,
    percentile_ms,
)
from quality import MODES, answer_scores, measure, mrr, recall_at
from speed import Latency, make_backend, timed_runs

from index.config import LibraryConfig
from index.embedded_transfer import EmbeddedSource
from index.embedder import Embedder
from index.library import Library, open_library
from index.pg import dense
from index.pg.dense import PgDenseRetriever
from index.pg.storage import open_database, read_record
from index.pg.transfer import PgTarget
from index.pipeline import CANDIDATE_POOL
from index.transfer import copy_library

RESULTS = BENCH_DIR / "results" / "postgres.json"
EF_SEARCH_SWEEP = (50, 64, 100, 160, 250, 400)
RECALL_TARGET = 0.99  # of the dense retriever's candidates, against exact search
INGEST_ARTICLES = 300


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


# -- the server and its databases ---------------------------------------------------------
def server_url(given: str | None) -> str:
    if given:
        return given
    import pgserver

    server = pgserver.get_server(CACHE_DIR / "pgserver", cleanup_mode="stop")
    return server.get_uri()


def database_url(admin: str, name: str, *, fresh: bool = False) -> str:
    with psycopg.connect(admin, autocommit=True) as connection:
        if fresh:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                    (name,)).fetchone()
        if not exists:
            connection.execute(f"CREATE DATABASE {name}")
    return urlsplit(admin)._replace(path=f"/{name}").geturl()


@dataclass(frozen=True)
class Moved:
    url: str
    passages: int
    export_s: float | None  # None: the database already held this library


def moved_into_postgres(admin: str, name: str, folder: Path) -> Moved:
    """The folder's library in database `name`, exported unless it is there already."""
    manifest = json.loads((folder / "manifest.json").read_text())
    url = database_url(admin, name)
    database = open_database(url)
    try:
        with database.connection() as connection:
            held = connection.execute("SELECT count(*) FROM passages").fetchone()[0]
        current = read_record(database) is not None and held == manifest["passages"]
    finally:
        database.close()
    if current:
        return Moved(url, held, None)
    url = database_url(admin, name, fresh=True)
    started = time.perf_counter()
    counts = copy_library(EmbeddedSource(folder), PgTarget(url))
    seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM passages")  # as autovacuum would soon: pages all-visible
    return Moved(url, counts.passages, seconds)


def on_postgres(url: str, embedder: Embedder) -> Library:
    return open_library(LibraryConfig(database_url=url), embedder, folder=CACHE_DIR)


# -- measurements -------------------------------------------------------------------------
@dataclass(frozen=True)
class EfPoint:
    ef_search: int
    recall_candidates: float  # of the exact top CANDIDATE_POOL
    recall_10: float
    p50_ms: float
    p99_ms: float


def exact_top(folder: Path, queries: np.ndarray, k: int) -> list[np.ndarray]:
    from index.store import Store

    store = Store(folder / "store.sqlite")
    ids, vectors = store.all_vectors(queries.shape[1])
    store.close()
    tops = []
    for query in queries:
        scores = vectors @ query
        best = np.argpartition(-scores, k)[:k]
        tops.append(ids[best[np.argsort(-scores[best])]])
    return tops


def dense_recall(search, queries: np.ndarray, exact: list[np.ndarray]) -> tuple[float, float]:
    found = [np.array([pid for pid, _ in search(query)]) for query in queries]
    pairs = list(zip(found, exact, strict=True))
    candidates = np.mean([len(np.intersect1d(f, e)) / len(e) for f, e in pairs])
    top10 = np.mean([len(np.intersect1d(f[:10], e[:10])) / 10 for f, e in pairs])
    return float(candidates), float(top10)


def ef_sweep(library: Library, questions: Sequence[str], folder: Path,
             embedder: Embedder) -> tuple[list[EfPoint], tuple[float, float]]:
    queries = embedder.encode(list(questions))
    exact = exact_top(folder, queries, CANDIDATE_POOL)
    scopes = ("global",)
    points = []
    for ef in EF_SEARCH_SWEEP:
        retriever = PgDenseRetriever(library.database, ef_search=ef)

        def search(vector: np.ndarray, retriever: PgDenseRetriever = retriever) -> list:
            from index.parts import Query

            return retriever.retrieve(Query("", vector, scopes), CANDIDATE_POOL)

        recall, recall_10 = dense_recall(search, queries, exact)
        seconds = []
        for query in queries:
            started = time.perf_counter()
            search(query)
            seconds.append(time.perf_counter() - started)
        points.append(EfPoint(ef, recall, recall_10, percentile_ms(seconds, 50),
                              percentile_ms(seconds, 99)))
        print(f"  ef_search {ef}: recall {recall:.4f} / top-10 {recall_10:.4f}, "
              f"p50 {points[-1].p50_ms:.1f} ms", file=sys.stderr)
    return points, faiss_recall(folder, embedder, queries, exact)


def faiss_recall(folder: Path, embedder: Embedder, queries: np.ndarray,
                 exact: list[np.ndarray]) -> tuple[float, float]:
    library = Library.open(folder, embedder)
    retriever = library.pipeline.retrievers["dense"]
    from index.parts import Query

    result = dense_recall(lambda v: retriever.retrieve(Query("", v, ("global",)),
                                                       CANDIDATE_POOL), queries, exact)
    library.close()
    return result


def hnsw_variant(admin: str, tier: str, folder: Path, variant: str,
                 questions: Sequence[str], embedder: Embedder) -> dict:
    """The ef_search sweep on an HNSW index built with other m and ef_construction."""
    m, ef_construction = (int(part) for part in variant.split(":"))
    default = dense.HNSW_M, dense.HNSW_EF_CONSTRUCTION
    dense.HNSW_M, dense.HNSW_EF_CONSTRUCTION = m, ef_construction  # read by the export
    try:
        moved = moved_into_postgres(admin, f"spotlight_bench_{tier}_m{m}_efc{ef_construction}",
                                    folder)
    finally:
        dense.HNSW_M, dense.HNSW_EF_CONSTRUCTION = default
    library = on_postgres(moved.url, embedder)
    points, _ = ef_sweep(library, questions, folder, embedder)
    library.close()
    return {"m": m, "ef_construction": ef_construction, "export_s": moved.export_s,
            "points": [asdict(point) for point in points]}


def choose_ef(points: Sequence[EfPoint]) -> EfPoint:
    """The smallest ef_search whose candidates reach RECALL_TARGET (else the best)."""
    good = [p for p in points if p.recall_candidates >= RECALL_TARGET]
    return min(good, key=lambda p: p.ef_search) if good else max(
        points, key=lambda p: p.recall_candidates)


@dataclass(frozen=True)
class IngestRate:
    backend: str
    embedding: str  # "model" or "replayed"
    passages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.passages / self.seconds


class Replay:
    """The model's vectors for texts it embedded before: storage cost alone."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.backend = getattr(inner, "backend", "torch")
        self.fingerprint = inner.fingerprint
        self.known: dict[str, np.ndarray] = {}
        self.recording = True

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.recording:
            vectors = self.inner.encode(texts)
            self.known.update(zip(texts, vectors, strict=True))
            return vectors
        return np.vstack([self.known[text] for text in texts])


def measure_ingest(admin: str, embedder: Embedder, limit: int) -> list[IngestRate]:
    articles = load_prefixed(bbc_dir(), "bbc")[:limit]
    replay = Replay(embedder)
    rates = []
    for embedding in ("model", "replayed"):
        replay.recording = embedding == "model"
        for backend in ("embedded", "postgres"):
            with tempfile.TemporaryDirectory(prefix="spotlight-ingest-") as folder:
                url = database_url(admin, "spotlight_bench_ingest", fresh=True)
                config = LibraryConfig(database_url=url if backend == "postgres" else None)
                library = open_library(config, replay, folder=Path(folder) / "index",
                                       create=True)
                started = time.perf_counter()
                report = library.build(articles)
                rates.append(IngestRate(backend, embedding, report.passages,
                                        time.perf_counter() - started))
                library.close()
            print(f"  ingest {backend}, {embedding}: {rates[-1].rate:.0f} passages/s",
                  file=sys.stderr)
    return rates


def quality(library: Library, questions: Sequence) -> dict:
    outcomes = [measure(library, question)[0] for question in questions]
    answerable = [o for o in outcomes if o.question.answerable]
    scores = answer_scores(outcomes)
    result = {f"{mode}_recall@1": recall_at(answerable, mode, 1) for mode in MODES}
    result |= {f"{mode}_recall@5": recall_at(answerable, mode, 5) for mode in MODES}
    result |= {f"{mode}_mrr@10": mrr(answerable, mode) for mode in MODES}
    result |= {"answer_contains": scores.contains, "unanswerable_abstained":
               scores.right_abstain, "answerable_wrongly_abstained": scores.wrong_abstain}
    result["top_sources"] = [list(o.top_sources[:1]) for o in answerable]
    return result


def compared(embedded: dict, postgres: dict) -> dict:
    """Both sides' scores, and how often their hybrid top articles agree (the per-question
    lists are dropped)."""
    pairs = zip(embedded.pop("top_sources"), postgres.pop("top_sources"), strict=True)
    return {"embedded": embedded, "postgres": postgres,
            "hybrid_top1_agreement": float(np.mean([x == y for x, y in pairs]))}


# -- the run ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiers", type=lambda text: text.split(","), default=["10k", "100k"])
    parser.add_argument("--backend", default="onnx-fp32", help="embeds the questions")
    parser.add_argument("--database-url", help="an admin URL of a running PostgreSQL")
    parser.add_argument("--ingest-articles", type=int, default=INGEST_ARTICLES)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--hnsw-variants", default="",
                        help="other HNSW builds to sweep on the largest tier, as m:ef_construction "
                             "pairs (e.g. 24:100,16:128); each is a database of its own")
    args = parser.parse_args(argv)
    results: dict = {"machine": machine_line(), "uptime_before": uptime(),
                     "hnsw": {"m": dense.HNSW_M, "ef_construction": dense.HNSW_EF_CONSTRUCTION,
                              "ef_search": dense.EF_SEARCH}}
    print(f"before: {results['uptime_before']}", file=sys.stderr)
    admin = server_url(args.database_url)
    embedder = make_backend(args.backend)
    question_set = load_questions()
    questions = [q.text for q in question_set]
    rows: list[list[str]] = []

    folders = {}
    for tier in args.tiers:
        folder = next((CACHE_DIR / f"speed-{tier}{s}" for s in ("-recycled", "")
                       if (CACHE_DIR / f"speed-{tier}{s}").exists()), None)
        if folder is None:
            sys.exit(f"No cached {tier} tier: run `benchmarks/speed.py --build-only --tiers "
                     f"{tier}` first.")
        folders[tier] = folder

    for tier, folder in folders.items():
        moved = moved_into_postgres(admin, f"spotlight_bench_{tier}", folder)
        if moved.export_s is not None:
            results.setdefault("export", {})[tier] = {
                "passages": moved.passages, "seconds": moved.export_s}
            print(f"  exported {tier}: {moved.passages} passages in {moved.export_s:.0f} s",
                  file=sys.stderr)
        embedded = Library.open(folder, embedder)
        database = on_postgres(moved.url, embedder)
        latencies: dict[str, Latency] = {}
        for name, library in (("embedded", embedded), ("postgres", database)):
            latencies[name] = timed_runs(lambda q, lib=library: lib.ask(q), questions)
            print(f"  {tier} {name}: p50 {latencies[name].p50:.1f} ms", file=sys.stderr)
        results.setdefault("ask", {})[tier] = {
            "passages": moved.passages, "embedded_index": embedded.info().faiss_type,
            **{name: asdict(latency) for name, latency in latencies.items()}}
        rows.append([f"Library.ask, {moved.passages:,} passages ({tier})",
                     f"{latencies['embedded'].p50:.1f} / {latencies['embedded'].p99:.1f} ms",
                     f"{latencies['postgres'].p50:.1f} / {latencies['postgres'].p99:.1f} ms",
                     f"{latencies['postgres'].p50 / latencies['embedded'].p50:.2f}×"])
        if tier == args.tiers[-1]:
            points, ivf = ef_sweep(database, questions, folder, embedder)
            results["ef_search"] = {"tier": tier, "points": [asdict(p) for p in points],
                                    "chosen": asdict(choose_ef(points)),
                                    "embedded_ivf_recall": ivf}
            results["hnsw_variants"] = [
                hnsw_variant(admin, tier, folder, variant, questions, embedder)
                for variant in filter(None, args.hnsw_variants.split(","))]
        if not args.skip_quality:
            results.setdefault("quality", {})[tier] = compared(
                quality(embedded, question_set), quality(database, question_set))
        embedded.close()
        database.close()

    if not args.skip_quality:
        folder = cached_library("celebrity", celebrity_benchmark_articles(), embedder).folder
        moved = moved_into_postgres(admin, "spotlight_bench_celebrity", folder)
        embedded, database = Library.open(folder, embedder), on_postgres(moved.url, embedder)
        results.setdefault("quality", {})["celebrity"] = compared(
            quality(embedded, question_set), quality(database, question_set))
        embedded.close()
        database.close()

    if not args.skip_ingest:
        results["ingest"] = [asdict(rate) | {"rate": rate.rate}
                             for rate in measure_ingest(admin, embedder, args.ingest_articles)]
    results["uptime_after"] = uptime()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    report(results, rows)


def report(results: dict, rows: list[list[str]]) -> None:
    print(f"Machine: {results['machine']}\nbefore: {results['uptime_before']}\n"
          f"after:  {results['uptime_after']}\n")
    print(markdown_table(["measure", "embedded p50 / p99", "PostgreSQL p50 / p99",
                          "PostgreSQL / embedded p50"], rows))
    if "ef_search" in results:
        sweep = results["ef_search"]
        ivf = sweep["embedded_ivf_recall"]
        print(f"\nHNSW ef_search on the {sweep['tier']} tier (m={results['hnsw']['m']}, "
              f"ef_construction={results['hnsw']['ef_construction']}); embedded FAISS IVF: "
              f"candidates {ivf[0]:.4f}, top-10 {ivf[1]:.4f}\n")
        print(markdown_table(
            ["ef_search", f"recall of the {CANDIDATE_POOL} candidates", "recall@10",
             "dense search p50 / p99 ms"],
            [[p["ef_search"], f"{p['recall_candidates']:.4f}", f"{p['recall_10']:.4f}",
              f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f}"] for p in sweep["points"]]))
        print(f"\nchosen: ef_search {sweep['chosen']['ef_search']} (the smallest reaching "
              f"{RECALL_TARGET} of the exact candidates)")
        for variant in results.get("hnsw_variants", []):
            print(f"\nm={variant['m']}, ef_construction={variant['ef_construction']} "
                  f"(export with the index build: {variant['export_s'] or 0:.0f} s)\n")
            print(markdown_table(
                ["ef_search", "recall of the candidates", "recall@10", "p50 / p99 ms"],
                [[p["ef_search"], f"{p['recall_candidates']:.4f}", f"{p['recall_10']:.4f}",
                  f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f}"] for p in variant["points"]]))
    if "quality" in results:
        rows = []
        for index, sides in results["quality"].items():
            for name in ("embedded", "postgres"):
                scores = sides[name]
                rows.append([index, name] + [f"{scores[f'{mode}_recall@1']:.3f} / "
                                             f"{scores[f'{mode}_mrr@10']:.3f}" for mode in MODES]
                            + [f"{scores['answer_contains']:.3f}",
                               f"{scores['unanswerable_abstained']:.3f}"])
            rows.append([index, "hybrid top-1 agreement",
                         f"{sides['hybrid_top1_agreement']:.3f}", "", "", "", ""])
        print("\nCelebrity questions (243 answerable + 105 unanswerable):\n")
        print(markdown_table(["index", "backend"] + [f"{m} R@1 / MRR" for m in MODES]
                             + ["answer contains phrase", "unanswerable abstained"], rows))
    if "ingest" in results:
        print("\nIngest (Library.build, fresh, BBC articles):\n")
        print(markdown_table(["backend", "vectors", "passages", "passages/s"],
                             [[r["backend"], r["embedding"], r["passages"], f"{r['rate']:.0f}"]
                              for r in results["ingest"]]))


if __name__ == "__main__":
    main()
