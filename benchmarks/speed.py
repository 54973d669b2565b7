"""Speed and memory, printed as one markdown table.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/speed.py

- the query-embedding floor: embedder.encode of one question, p50/p99;
- end-to-end Library.ask latency p50/p99 at about 1k, 10k and 100k passages;
- ingest throughput of Library.build on a fresh index (BBC articles) against raw
  embedder.encode of exactly the same passage texts;
- re-running build on the unchanged corpus, as a share of the full build;
- peak memory (ru_maxrss) of this run and of a process serving the largest index.

The 100k index is the real celebrity (legit and fake) and BBC articles, topped up with
synthetic articles of 3-5 real sentences drawn at random (seeded) from the celebrity, BBC
and SciFact texts. Each tier's articles extend the smaller tier's, so each tier starts as a
copy of the smaller one and its incremental build embeds only what is new. All are cached
in benchmarks/.cache/.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from benchcommon import (
    CACHE_DIR,
    bbc_dir,
    cached_library,
    celebrity_fake_dir,
    celebrity_legit_dir,
    load_prefixed,
    load_questions,
    machine_line,
    markdown_table,
    percentile_ms,
    scifact_articles,
)

from corpus import chunk_article, split_sentences
from corpus.records import Article
from index.embedder import SentenceTransformerEmbedder
from index.library import Library

TIERS = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
WARMUP = 20
RUNS = 200
SYNTHETIC_SEED = 20240601
# Short synthetic articles (about one passage each) keep the one-off embedding of the
# 100k tier near 15 minutes on 2 cores; latency depends on the passage count, not length.
SYNTHETIC_SENTENCES = (3, 5)  # per synthetic article, drawn uniformly
# The ingest measurement embeds these passages three times (build, then raw encode twice).
INGEST_ARTICLES = 600
TARGET_ASK_VS_FLOOR = 1.5
TARGET_INGEST_VS_ENCODE = 0.9
TARGET_REBUILD_SHARE = 0.02


# -- corpora for the size tiers -----------------------------------------------------------
def real_articles() -> list[Article]:
    return (load_prefixed(celebrity_legit_dir(), "legit")
            + load_prefixed(celebrity_fake_dir(), "fake") + load_prefixed(bbc_dir(), "bbc"))


def passage_counts(articles: Sequence[Article]) -> list[int]:
    return [len(chunk_article(article)) for article in articles]


def synthetic_articles(pool: Sequence[str], needed_passages: int) -> list[Article]:
    """Articles of real sentences in a random (seeded, so cache-stable) mix."""
    rng = random.Random(SYNTHETIC_SEED)
    articles, passages = [], 0
    while passages < needed_passages:
        sentences = rng.sample(pool, rng.randint(*SYNTHETIC_SENTENCES))
        title = " ".join(sentences[0].split()[:8])
        article = Article(title=title, text=" ".join(sentences),
                          source=f"synthetic/{len(articles):06d}")
        articles.append(article)
        passages += len(chunk_article(article))
    return articles


def prefix_with_passages(articles: Sequence[Article], counts: Sequence[int],
                         target: int) -> list[Article]:
    total = 0
    for end, count in enumerate(counts, start=1):
        total += count
        if total >= target:
            return list(articles[:end])
    return list(articles)


def tier_corpora() -> dict[str, list[Article]]:
    real = real_articles()
    counts = passage_counts(real)
    pool = sorted({s for a in [*real, *scifact_articles()] for s in split_sentences(a.text)
                   if 6 <= len(s.split()) <= 40})
    largest = max(TIERS.values())
    synthetic = synthetic_articles(pool, max(0, largest - sum(counts)))
    everything = real + synthetic
    counts += passage_counts(synthetic)
    return {name: prefix_with_passages(everything, counts, target)
            for name, target in TIERS.items()}


def tier_library(name: str, articles: list[Article], smaller: str | None, embedder) -> Library:
    """A tier starts as a copy of the next smaller one (whose articles are a prefix of its
    own), so each passage is embedded once across all tiers."""
    folder = CACHE_DIR / f"speed-{name}"
    if not folder.exists() and smaller and (CACHE_DIR / f"speed-{smaller}").exists():
        shutil.copytree(CACHE_DIR / f"speed-{smaller}", folder)
    return cached_library(folder.name, articles, embedder)


# -- measurements -------------------------------------------------------------------------
@dataclass(frozen=True)
class Latency:
    p50: float
    p99: float


def timed_runs(call, inputs: Sequence[str]) -> Latency:
    for text in inputs[:WARMUP]:
        call(text)
    seconds = []
    for i in range(RUNS):
        text = inputs[i % len(inputs)]
        started = time.perf_counter()
        call(text)
        seconds.append(time.perf_counter() - started)
    return Latency(percentile_ms(seconds, 50), percentile_ms(seconds, 99))


class RecordingEmbedder:
    """The real embedder, noting every batch of texts the library asks it to encode."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.calls: list[list[str]] = []

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.encode(texts)


@dataclass(frozen=True)
class Ingest:
    articles: int
    passages: int
    build_s: float
    encode_one_call_s: float
    encode_same_calls_s: float
    rebuild_s: float


def measure_ingest(embedder: SentenceTransformerEmbedder, limit: int) -> Ingest:
    articles = load_prefixed(bbc_dir(), "bbc")
    articles = articles[:limit] if limit else articles
    recorder = RecordingEmbedder(embedder)
    with tempfile.TemporaryDirectory(prefix="spotlight-ingest-") as folder:
        library = Library.open(Path(folder) / "index", recorder, create=True)
        started = time.perf_counter()
        report = library.build(articles)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        library.build(articles)  # unchanged corpus: hashes match, nothing to embed
        rebuild_s = time.perf_counter() - started
        library.close()
    calls = [call for call in recorder.calls if call]
    texts = [text for call in calls for text in call]
    started = time.perf_counter()
    embedder.encode(texts)
    one_call_s = time.perf_counter() - started
    started = time.perf_counter()
    for call in calls:
        embedder.encode(call)
    same_calls_s = time.perf_counter() - started
    return Ingest(len(articles), report.passages, build_s, one_call_s, same_calls_s, rebuild_s)


def serving_memory(folder: Path) -> dict:
    """Peak RSS of a fresh process that opens the index and answers questions."""
    output = subprocess.run(
        [sys.executable, __file__, "--serve-memory", str(folder)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def serve_memory_child(folder: Path) -> None:
    embedder = SentenceTransformerEmbedder()
    library = Library.open(folder, embedder)
    questions = [q.text for q in load_questions()][:50]
    library.ask(questions[0])
    tracemalloc.start()
    for question in questions:
        library.ask(question)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"maxrss_mb": max_rss_mb(), "ask_heap_peak_mb": peak / 2**20}))


def max_rss_mb() -> float:
    """Peak resident memory of this process. VmHWM, where Linux has it: ru_maxrss survives
    fork and exec, so a child would report its parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# -- main ---------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiers", type=lambda text: text.split(","), default=list(TIERS),
                        help="comma-separated index sizes to time (default: 1k,10k,100k)")
    parser.add_argument("--ingest-articles", type=int, default=INGEST_ARTICLES,
                        help="BBC files for the ingest measurement (0: all 2,225)")
    parser.add_argument("--serve-memory", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if unknown := set(args.tiers) - set(TIERS):
        parser.error(f"unknown tiers {sorted(unknown)}; choose from {', '.join(TIERS)}")
    if args.serve_memory:
        serve_memory_child(args.serve_memory)
        return

    embedder = SentenceTransformerEmbedder()
    questions = [q.text for q in load_questions()]
    tiers = sorted(args.tiers, key=TIERS.get)
    largest = tiers[-1]
    # Build (or refresh) every index before timing anything, so no build competes for the
    # CPU with a measurement.
    corpora = tier_corpora()
    tier_folders: dict[str, Path] = {}
    smaller = None
    for name in tiers:
        library = tier_library(name, corpora[name], smaller, embedder)
        tier_folders[name], smaller = library.folder, name
        library.close()

    rows: list[list[str]] = []
    floor = timed_runs(lambda q: embedder.encode([q]), questions)
    rows.append(["query embedding floor (encode 1 question)", f"p50 {floor.p50:.1f} ms, "
                 f"p99 {floor.p99:.1f} ms", "", ""])
    for name in tiers:
        library = Library.open(tier_folders[name], embedder)
        passages = library.info().passages
        latency = timed_runs(lambda q, lib=library: lib.ask(q), questions)
        ratio = latency.p50 / floor.p50
        target = (f"p50 ≤ {TARGET_ASK_VS_FLOOR}× floor: {ratio:.2f}× "
                  f"{verdict(ratio <= TARGET_ASK_VS_FLOOR)}") if name == "100k" else \
            f"{ratio:.2f}× floor"
        size = f"index {folder_mb(library.folder):.0f} MB on disk"
        rows.append([f"Library.ask, {passages:,} passages ({library.count_articles():,} articles)",
                     f"p50 {latency.p50:.1f} ms, p99 {latency.p99:.1f} ms", target, size])
        library.close()

    ingest = measure_ingest(embedder, args.ingest_articles)
    build_rate = ingest.passages / ingest.build_s
    raw_rate = ingest.passages / ingest.encode_one_call_s
    same_calls_rate = ingest.passages / ingest.encode_same_calls_s
    rows.append([f"ingest: Library.build, fresh index, BBC ({ingest.articles} files, "
                 f"{ingest.passages:,} passages)",
                 f"{build_rate:.0f} passages/s ({ingest.build_s:.1f} s)",
                 f"≥ {TARGET_INGEST_VS_ENCODE}× raw encode: {build_rate / raw_rate:.2f}× "
                 f"{verdict(build_rate / raw_rate >= TARGET_INGEST_VS_ENCODE)}", ""])
    rows.append(["raw embedder.encode, same texts, one call (batch 64)",
                 f"{raw_rate:.0f} passages/s ({ingest.encode_one_call_s:.1f} s)", "", ""])
    rows.append(["raw embedder.encode, same texts, in the library's calls",
                 f"{same_calls_rate:.0f} passages/s ({ingest.encode_same_calls_s:.1f} s)",
                 f"build = {build_rate / same_calls_rate:.2f}× this", ""])
    share = ingest.rebuild_s / ingest.build_s
    rows.append(["re-run build, unchanged corpus", f"{ingest.rebuild_s:.2f} s",
                 f"≤ {TARGET_REBUILD_SHARE:.0%} of full build: {share:.1%} "
                 f"{verdict(share <= TARGET_REBUILD_SHARE)}", ""])

    serving = serving_memory(tier_folders[largest])
    rows.append([f"peak memory serving the {largest} index (fresh process, 50 asks)",
                 f"{serving['maxrss_mb']:.0f} MB RSS",
                 f"Python heap peak during asks {serving['ask_heap_peak_mb']:.1f} MB", ""])
    rows.append(["peak memory of this benchmark run", f"{max_rss_mb():.0f} MB RSS", "", ""])

    print(f"Machine: {machine_line()}\n")
    print(markdown_table(["measure", "result", "target", "note"], rows))


if __name__ == "__main__":
    main()
