"""Speed and memory, printed as markdown tables (and saved for plots.py).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/speed.py
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/speed.py --tiers 1k,1m --backends onnx-fp32

- per embedding backend (torch, onnx-fp32, onnx-int8): the query-embedding floor
  (encode of one question, p50/p99), ingest throughput of Library.build on a fresh index
  (BBC articles) and raw encode throughput of exactly the texts the library embedded;
- end-to-end Library.ask latency p50/p99 at about 1k, 10k and 100k passages, per fp32
  backend (int8 vectors cannot serve an fp32 index), timed in turn with the floor (blocks
  of 20 questions) and divided by that floor;
- a 1M-passage tier of synthetic vectors at the FAISS level: index types side by side
  (recall@10 against exact search, search latency, build time, size on disk, serving RSS);
- re-running build on the unchanged corpus, as a share of the full build;
- peak memory (VmHWM) of this run and of a fresh process serving the largest index.

Tier corpora: the real celebrity (legit and fake) and BBC articles, topped up with synthetic
articles of 3-5 real sentences drawn at random (seeded) from the celebrity, BBC and SciFact
texts. Each tier's articles extend the smaller tier's, so a tier starts as a copy of the
smaller one and its incremental build adds only what is new. Tiers listed in
--synthetic-vectors (default 100k) get **recycled vectors** instead of running the model
over every new passage: see RecyclingEmbedder. Questions are always embedded for real.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from benchcommon import (
    BENCH_DIR,
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
from index.config import KEYWORD_ENGINES, LibraryConfig
from index.embedder import Embedder, make_embedder
from index.ingest import embedding_text
from index.library import Library
from index.spans import SpanVectors

TIERS = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
MILLION = 1_000_000
WARMUP = 20
RUNS = 200
BLOCK = 20  # inputs a call takes in turn with another (timed_side_by_side)
SYNTHETIC_SEED = 20240601
# Short synthetic articles (about one passage each); latency depends on the passage
# count, not length.
SYNTHETIC_SENTENCES = (3, 5)  # per synthetic article, drawn uniformly
# The ingest measurement embeds these passages (and their sentences) once per backend in
# Library.build, then twice more as raw encode calls.
INGEST_ARTICLES = 300
TARGET_ASK_VS_FLOOR = 1.5
TARGET_ASK_VS_FLOOR_1M = 2.0
TARGET_INGEST_VS_TORCH = 2.0
TARGET_INGEST_VS_ENCODE = 0.9
TARGET_REBUILD_SHARE = 0.02
TARGET_RECALL_1M = 0.95
TARGET_RSS_1M_MB = 1536
RESULTS = BENCH_DIR / "results" / "speed.json"
MODEL_CACHE = CACHE_DIR / "models"
# Recycled vectors: a pool of real embeddings, mixed two at a time with a little noise.
POOL_TEXTS = 4_000
RECYCLE_NOISE = 0.02  # per dimension, before renormalising (|noise| ~ 0.4 of a unit vector)


# -- corpora for the size tiers -----------------------------------------------------------
def real_articles() -> list[Article]:
    return (load_prefixed(celebrity_legit_dir(), "legit")
            + load_prefixed(celebrity_fake_dir(), "fake") + load_prefixed(bbc_dir(), "bbc"))


def passage_counts(articles: Sequence[Article]) -> list[int]:
    return [len(chunk_article(article)) for article in articles]


def sentence_pool(real: Sequence[Article]) -> list[str]:
    return sorted({s for a in [*real, *scifact_articles()] for s in split_sentences(a.text)
                   if 6 <= len(s.split()) <= 40})


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


def tier_corpora(tiers: Sequence[str]) -> dict[str, list[Article]]:
    real = real_articles()
    counts = passage_counts(real)
    largest = max(TIERS[name] for name in tiers)
    synthetic = synthetic_articles(sentence_pool(real), max(0, largest - sum(counts)))
    everything = real + synthetic
    counts += passage_counts(synthetic)
    return {name: prefix_with_passages(everything, counts, TIERS[name]) for name in tiers}


# -- recycled vectors ---------------------------------------------------------------------
def recycle_pool(embedder: Embedder) -> np.ndarray:
    """Real embeddings of POOL_TEXTS real passages and sentences (cached per model)."""
    path = CACHE_DIR / f"recycle-pool-{embedder.fingerprint[:16]}.npy"
    if path.exists():
        return np.load(path)
    texts: list[str] = []
    for article in real_articles():
        for passage in chunk_article(article):
            texts.append(embedding_text(article.title, passage.text))
            texts.extend(split_sentences(passage.text)[:1])
    texts = random.Random(SYNTHETIC_SEED).sample(texts, min(POOL_TEXTS, len(texts)))
    pool = embedder.encode(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, pool)
    return pool


def recycled_vectors(pool: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """One unit vector per uint64 key: a real embedding, 0-40% of another mixed in, and
    Gaussian noise, renormalised. Deterministic in the key; clusters like real text does
    (neighbours at cosine 0.6-0.95) rather than 1M near-copies of a few thousand points."""
    keys = np.asarray(keys, dtype=np.uint64)

    def part(shift: int, size: int) -> np.ndarray:
        return ((keys >> np.uint64(shift)) % np.uint64(size)).astype(np.int64)

    share = part(42, 1000).astype(np.float32) / 2500.0
    mixed = (pool[part(0, len(pool))] * (1 - share)[:, None]
             + pool[part(21, len(pool))] * share[:, None])
    # Noise from two rows of a fixed Gaussian table: the same key, the same vector.
    table = _noise_table(pool.shape[1])
    mixed += (table[part(12, len(table))] + table[part(33, len(table))]) * np.float32(
        RECYCLE_NOISE / np.sqrt(2))
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


_NOISE: dict[int, np.ndarray] = {}


def _noise_table(dim: int) -> np.ndarray:
    if dim not in _NOISE:
        _NOISE[dim] = np.random.default_rng(SYNTHETIC_SEED).standard_normal(
            (8192, dim), dtype=np.float32)
    return _NOISE[dim]


def text_keys(texts: Sequence[str]) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(),
                                    "little") for t in texts], dtype=np.uint64)


class RecyclingEmbedder:
    """Builds big benchmark indexes without running the model: each text gets a recycled
    vector (see recycled_vectors) keyed by its hash. It reports the real model's name,
    fingerprint and backend so the index then opens with the real embedder, which embeds
    the questions. The vectors are synthetic: only latency, not quality, means anything."""

    def __init__(self, real: Embedder, pool: np.ndarray) -> None:
        self.name, self.dim, self.pool = real.name, real.dim, pool
        self.fingerprint = real.fingerprint
        self.backend = getattr(real, "backend", "torch")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return recycled_vectors(self.pool, text_keys(texts))


def tier_library(name: str, articles: list[Article], smaller: str | None, embedder: Embedder,
                 synthetic: set[str], pool: Callable[[], np.ndarray]) -> Library:
    """A tier starts as a copy of the next smaller one (whose articles are a prefix of its
    own), so each passage is embedded (or recycled) once across all tiers."""
    suffix = "-recycled" if name in synthetic else ""
    folder = CACHE_DIR / f"speed-{name}{suffix}"
    candidates = [CACHE_DIR / f"speed-{smaller}{s}" for s in ("-recycled", "")] if smaller else []
    source = next((c for c in candidates if c.exists()), None)
    if not folder.exists() and source:
        shutil.copytree(source, folder)
    builder = RecyclingEmbedder(embedder, pool()) if name in synthetic else embedder
    return cached_library(folder.name, articles, builder)


# -- measurements -------------------------------------------------------------------------
@dataclass(frozen=True)
class Latency:
    p50: float
    p99: float


def timed_runs(call, inputs: Sequence[str], runs: int = RUNS) -> Latency:
    return timed_side_by_side({"": call}, inputs, runs)[""]


def timed_side_by_side(calls: dict[str, Callable[[str], object]], inputs: Sequence[str],
                       runs: int = RUNS, block: int = BLOCK) -> dict[str, Latency]:
    """Each call over the same inputs, the calls taking turns a block of inputs at a time
    (which goes first swapped every round). This VM's speed drifts by ±20% within a
    minute: the ask's ratio to the floor, each measured over a minute of its own, moved
    1.7-2.5× between runs of the same code (benchmarks/README.md, stop 12)."""
    for call in calls.values():
        for text in inputs[:WARMUP]:
            call(text)
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for start in range(0, runs, block):
        for name in names if (start // block) % 2 == 0 else names[::-1]:
            for i in range(start, min(start + block, runs)):
                text = inputs[i % len(inputs)]
                started = time.perf_counter()
                calls[name](text)
                seconds[name].append(time.perf_counter() - started)
    return {name: Latency(percentile_ms(taken, 50), percentile_ms(taken, 99))
            for name, taken in seconds.items()}


class RecordingEmbedder:
    """The real embedder, noting every batch of texts the library asks it to encode."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.backend = getattr(inner, "backend", "torch")
        self.calls: list[list[str]] = []
        self.fallbacks = 0

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.encode(texts)

    def encode_with_spans(self, texts: Sequence[str], spans) -> SpanVectors:
        """A pooled index's call: the passages are the texts the model reads."""
        self.calls.append(list(texts))
        made = self.inner.encode_with_spans(texts, spans)
        self.fallbacks += made.fallbacks
        return made


@dataclass(frozen=True)
class Ingest:
    backend: str
    articles: int
    passages: int
    texts: int  # passages and their sentences: what the library asked to embed
    unique_texts: int  # distinct within each call (the ONNX embedder embeds only these)
    build_s: float
    encode_one_call_s: float
    encode_same_calls_s: float
    rebuild_s: float
    sentence_vectors: str = "encoded"  # "pooled": the texts are the passages alone
    fallbacks: int = 0  # pooled: sentences past the model's window, encoded on their own

    @property
    def build_rate(self) -> float:
        return self.passages / self.build_s


def measure_ingest(embedder: Embedder, limit: int, sentence_vectors: str = "encoded") -> Ingest:
    articles = load_prefixed(bbc_dir(), "bbc")
    articles = articles[:limit] if limit else articles
    recorder = RecordingEmbedder(embedder)
    with tempfile.TemporaryDirectory(prefix="spotlight-ingest-") as folder:
        library = Library.open(Path(folder) / "index", recorder, create=True,
                               sentence_vectors=sentence_vectors)
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
    unique = sum(len(set(call)) for call in calls)
    return Ingest(getattr(embedder, "backend", "torch"), len(articles), report.passages,
                  len(texts), unique, build_s, one_call_s, same_calls_s, rebuild_s,
                  sentence_vectors, recorder.fallbacks)


def ingest_texts(ingest: Ingest) -> str:
    if ingest.sentence_vectors == "pooled":
        return f"(passages; sentences pooled, {ingest.fallbacks} past the window encoded)"
    return "with sentences"


def backend_and_kind(label: str) -> tuple[str, str]:
    """`torch+pooled` -> ("torch", "pooled"): ingest with pooled sentence vectors."""
    backend, _, kind = label.partition("+")
    return backend, kind or "encoded"


def make_backend(label: str) -> Embedder:
    """torch, onnx-fp32, onnx-int8 (the default recipe) or onnx-int8-<recipe>; a `+pooled`
    suffix (ingest with pooled sentence vectors) names the same embedder."""
    label = backend_and_kind(label)[0]
    if label.startswith("onnx-int8-"):
        from index.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(variant=label.removeprefix("onnx-"), cache_dir=MODEL_CACHE)
    return make_embedder(label, cache_dir=MODEL_CACHE)


def serving_memory(folder: Path, backend: str, config: LibraryConfig) -> dict:
    """Peak RSS of a fresh process that opens the index and answers questions."""
    output = subprocess.run(
        [sys.executable, __file__, "--serve-memory", str(folder), "--backends", backend,
         "--keyword-engine", config.keyword_engine],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def serve_memory_child(folder: Path, backend: str, config: LibraryConfig) -> None:
    embedder = make_backend(backend)
    library = Library.open(folder, embedder, config=config)
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


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the 1M tier: FAISS alone, synthetic vectors ----------------------------------------
@dataclass(frozen=True)
class MillionCandidate:
    """An index type for 1M passages: FAISS codes under one shared inverted file."""

    name: str
    codes: str  # "Flat", "SQ8" or "SQfp16"
    nprobes: tuple[int, ...]


MILLION_LISTS = 4096  # ~4*sqrt(1M), as index/dense.py picks
MILLION_TRAIN = 200_000  # k-means sample: ~49 vectors per list
MILLION_CANDIDATES = (
    # What index/dense.py builds at this size: IVF with flat codes (1.5 GB of vectors).
    MillionCandidate(f"IVF{MILLION_LISTS},Flat", "Flat", (32, 64, 128)),
    # 8-bit scalar quantised codes: a quarter of the memory, distances near exact.
    MillionCandidate(f"IVF{MILLION_LISTS},SQ8", "SQ8", (32, 64, 128)),
    # Half precision: near lossless, half the memory.
    MillionCandidate(f"IVF{MILLION_LISTS},SQfp16", "SQfp16", (32, 64, 128)),
)


def million_vectors(pool: np.ndarray) -> np.ndarray:
    """1M recycled vectors (keys 0..1M-1 scrambled), memory-mapped from the cache."""
    path = CACHE_DIR / f"speed-1m-vectors-{RECYCLE_NOISE}.npy"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), mode="w+",
                                        dtype=np.float32, shape=(MILLION, pool.shape[1]))
        for start in range(0, MILLION, 100_000):
            ids = np.arange(start, min(start + 100_000, MILLION), dtype=np.uint64)
            keys = (ids * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(SYNTHETIC_SEED)
            out[start:start + len(ids)] = recycled_vectors(pool, keys)
        out.flush()
        del out
        os.replace(path.with_suffix(".tmp.npy"), path)
    return np.load(path, mmap_mode="r")


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), 100_000):
        scores = queries @ np.asarray(vectors[start:start + 100_000]).T
        ids = np.argpartition(-scores, k, axis=1)[:, :k]
        merged_scores = np.hstack([best_scores, np.take_along_axis(scores, ids, axis=1)])
        merged_ids = np.hstack([best_ids, ids + start])
        order = np.argsort(-merged_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_ids = np.take_along_axis(merged_ids, order, axis=1)
    return best_ids


def million_centroids(vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """The inverted file's centroids, learnt once (k-means on a sample) for all candidates."""
    import faiss

    path = CACHE_DIR / f"speed-1m-centroids-{MILLION_LISTS}.npy"
    if path.exists():
        return np.load(path), json.loads(path.with_suffix(".json").read_text())["train_s"]
    started = time.perf_counter()
    sample = np.random.default_rng(SYNTHETIC_SEED).choice(len(vectors), MILLION_TRAIN,
                                                          replace=False)
    kmeans = faiss.Kmeans(vectors.shape[1], MILLION_LISTS, niter=10, spherical=True,
                          seed=SYNTHETIC_SEED)
    kmeans.train(np.ascontiguousarray(vectors[np.sort(sample)]))
    train_s = time.perf_counter() - started
    np.save(path, kmeans.centroids)
    path.with_suffix(".json").write_text(json.dumps({"train_s": train_s}))
    return kmeans.centroids, train_s


def build_million_index(candidate: MillionCandidate, vectors: np.ndarray,
                        centroids: np.ndarray, path: Path) -> float:
    """Train (codes only: the centroids are shared), add 1M vectors, write; seconds."""
    import faiss

    started = time.perf_counter()
    dim = vectors.shape[1]
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(centroids)
    metric = faiss.METRIC_INNER_PRODUCT
    if candidate.codes == "Flat":
        index = faiss.IndexIVFFlat(quantizer, dim, MILLION_LISTS, metric)
    else:
        kind = {"SQ8": faiss.ScalarQuantizer.QT_8bit,
                "SQfp16": faiss.ScalarQuantizer.QT_fp16}[candidate.codes]
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, MILLION_LISTS, kind, metric)
    index.own_fields = True
    quantizer.this.disown()
    sample = np.random.default_rng(SYNTHETIC_SEED + 1).choice(
        len(vectors), min(50_000, len(vectors)), replace=False)
    index.train(np.ascontiguousarray(vectors[np.sort(sample)]))  # the coarse part is done
    for start in range(0, len(vectors), 100_000):
        index.add(np.ascontiguousarray(vectors[start:start + 100_000]))
    faiss.write_index(index, str(path))
    return time.perf_counter() - started


def million_child(path: Path, nprobe: int, backend: str, mmap: bool) -> None:
    """A fresh serving process: the embedder plus the 1M index; embed and search questions.
    Prints latency (embed + search, and search alone) and VmHWM as JSON."""
    import faiss

    embedder = make_backend(backend)
    flags = faiss.IO_FLAG_MMAP if mmap else 0
    index = faiss.read_index(str(path), flags)
    index.nprobe = nprobe
    questions = [q.text for q in load_questions()]
    vectors = dict(zip(questions, embedder.encode(questions), strict=True))

    def embed_and_search(text: str) -> None:
        index.search(embedder.encode([text]), 10)

    def search_only(text: str) -> None:
        index.search(vectors[text][None, :], 10)

    both = timed_runs(embed_and_search, questions)
    alone = timed_runs(search_only, questions)
    print(json.dumps({"embed_search_p50": both.p50, "embed_search_p99": both.p99,
                      "search_p50": alone.p50, "search_p99": alone.p99,
                      "maxrss_mb": max_rss_mb()}))


def million_tier(embedder: Embedder, backend: str, pool: np.ndarray,
                 candidates: Sequence[MillionCandidate]) -> list[dict]:
    import faiss

    started = time.perf_counter()
    vectors = million_vectors(pool)
    print(f"(1M vectors ready in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
    queries = embedder.encode([q.text for q in load_questions()])
    by_key = {str(i): row[None, :] for i, row in enumerate(queries)}
    started = time.perf_counter()
    truth = exact_top(vectors, queries)
    exact_ms = (time.perf_counter() - started) * 1000 / len(queries)
    results = []
    centroids, train_s = million_centroids(vectors)
    for candidate in candidates:
        path = CACHE_DIR / f"speed-1m-{candidate.name.replace(',', '-')}.faiss"
        built = path.with_suffix(".json")  # the build time, kept beside the cached index
        if not path.exists() or not built.exists():
            build_s = build_million_index(candidate, vectors, centroids, path)
            built.write_text(json.dumps({"build_s": build_s, "load": load_average()}))
            print(f"(built {candidate.name} in {build_s:.0f} s)", file=sys.stderr)
        build_s = train_s + json.loads(built.read_text())["build_s"]
        index = faiss.read_index(str(path))
        for nprobe in candidate.nprobes:
            index.nprobe = nprobe
            _, found = index.search(queries, 10)
            recall = float(np.mean([len(set(f) & set(t)) / 10
                                    for f, t in zip(found, truth, strict=True)]))
            one = timed_runs(lambda key, ix=index: ix.search(by_key[key], 10), list(by_key))
            results.append({"index": candidate.name, "nprobe": nprobe, "recall@10": recall,
                            "build_s": build_s, "size_mb": path.stat().st_size / 2**20,
                            "exact_search_ms": exact_ms, "search_p50_here": one.p50,
                            "search_p99_here": one.p99})
        del index
    # Serving: each candidate at the smallest nprobe reaching the recall target.
    for candidate in candidates:
        rows = [r for r in results if r["index"] == candidate.name]
        chosen = next((r for r in rows if r["recall@10"] >= TARGET_RECALL_1M), rows[-1])
        path = CACHE_DIR / f"speed-1m-{candidate.name.replace(',', '-')}.faiss"
        output = subprocess.run(
            [sys.executable, __file__, "--million-child", str(path), "--nprobe",
             str(chosen["nprobe"]), "--backends", backend],
            check=True, capture_output=True, text=True).stdout
        chosen.update(json.loads(output.strip().splitlines()[-1]), serving=True)
    return results


def million_rows(results: Sequence[dict], floor: Latency) -> list[list[str]]:
    rows = []
    for r in results:
        build = f"{r['build_s']:.0f} s"
        serving = ""
        if r.get("serving"):
            ratio = r["embed_search_p50"] / floor.p50
            serving = (f"search p50 {r['search_p50']:.2f} ms, p99 {r['search_p99']:.2f} ms; "
                       f"embed+search p50 {r['embed_search_p50']:.1f} ms "
                       f"({ratio:.2f}× floor), p99 {r['embed_search_p99']:.1f} ms; "
                       f"serving RSS {r['maxrss_mb']:.0f} MB "
                       f"{verdict(r['maxrss_mb'] <= TARGET_RSS_1M_MB)}")
        rows.append([r["index"], str(r["nprobe"]),
                     f"{r['recall@10']:.3f} {verdict(r['recall@10'] >= TARGET_RECALL_1M)}",
                     f"p50 {r['search_p50_here']:.2f} ms, p99 {r['search_p99_here']:.2f} ms",
                     build, f"{r['size_mb']:.0f} MB", serving])
    return rows


RUN_KEYS = ("machine", "load_before", "load_after", "keyword_engine", "loads")


def updated_results(previous: dict, measured: dict) -> dict:
    """`previous` with the parts `measured` holds replaced, and the load each part of the
    file was measured under (`loads`: part -> [before, after])."""
    parts = {key: value for key, value in measured.items() if key not in RUN_KEYS}
    run_load = [measured["load_before"], measured["load_after"]]
    loads = previous.get("loads") or {
        key: [previous.get("load_before"), previous.get("load_after")]
        for key in previous if key not in RUN_KEYS}
    return previous | parts | {"loads": loads | dict.fromkeys(parts, run_load)}


# -- main ---------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiers", type=lambda text: [t for t in text.split(",") if t],
                        default=[*TIERS, "1m"],
                        help="comma-separated index sizes to time (default: 1k,10k,100k,1m; "
                             "'' for none: the floors and ingest alone)")
    parser.add_argument("--backends", default="torch,onnx-fp32,onnx-int8",
                        help="embedding backends to compare (floor and ingest); the first "
                             "fp32 one after torch serves the tiers; `<backend>+pooled` "
                             "ingests with pooled sentence vectors (index/spans.py)")
    parser.add_argument("--ask-backends", default="torch,onnx-fp32",
                        help="fp32 backends to time Library.ask with")
    parser.add_argument("--synthetic-vectors", default="100k",
                        help="tiers whose new passages get recycled vectors (1m always does)")
    parser.add_argument("--ingest-articles", type=int, default=INGEST_ARTICLES,
                        help="BBC files for the ingest measurement (0: all 2,225)")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--build-only", action="store_true",
                        help="build (or refresh) the cached tiers and the 1M vectors, time nothing")
    parser.add_argument("--keyword-engine", choices=KEYWORD_ENGINES,
                        default=LibraryConfig().keyword_engine,
                        help="what ranks the keyword side of Library.ask (as "
                             "SPOTLIGHT_KEYWORD_ENGINE; tantivy's folder is built at the "
                             "first open, before timing)")
    parser.add_argument("--no-json", action="store_true",
                        help=f"do not write {RESULTS.relative_to(BENCH_DIR)} (a partial run)")
    parser.add_argument("--update-json", action="store_true",
                        help=f"replace in {RESULTS.relative_to(BENCH_DIR)} only what this run "
                             "measured, each part with this run's load (the charts say it)")
    parser.add_argument("--serve-memory", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--million-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--nprobe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mmap", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    config = LibraryConfig(keyword_engine=args.keyword_engine)
    if args.serve_memory:
        serve_memory_child(args.serve_memory, backends[0], config)
        return
    if args.million_child:
        million_child(args.million_child, args.nprobe, backends[0], args.mmap)
        return
    if unknown := set(args.tiers) - {*TIERS, "1m"}:
        parser.error(f"unknown tiers {sorted(unknown)}; choose from {', '.join(TIERS)}, 1m")
    ask_backends = [b.strip() for b in args.ask_backends.split(",") if b.strip()]
    synthetic = {t.strip() for t in args.synthetic_vectors.split(",") if t.strip()}
    load_before = load_average()
    results: dict = {"machine": machine_line(), "load_before": load_before,
                     "keyword_engine": args.keyword_engine}

    embedders = {label: make_backend(label) for label in dict.fromkeys(backends + ask_backends)}
    serving_backend = ask_backends[-1] if ask_backends else backends[0]
    reference = embedders[serving_backend]
    questions = [q.text for q in load_questions()]
    tiers = sorted((t for t in args.tiers if t in TIERS), key=TIERS.get)
    pool_cache: list[np.ndarray] = []

    def pool() -> np.ndarray:
        if not pool_cache:
            pool_cache.append(recycle_pool(reference))
        return pool_cache[0]

    # Build (or refresh) every index before timing anything, so no build competes for the
    # CPU with a measurement.
    corpora = tier_corpora(tiers) if tiers else {}
    tier_folders: dict[str, Path] = {}
    smaller = None
    for name in tiers:
        started = time.perf_counter()
        library = tier_library(name, corpora[name], smaller, reference, synthetic, pool)
        results.setdefault("tier_build_s", {})[name] = time.perf_counter() - started
        tier_folders[name], smaller = library.folder, name
        library.close()

    if args.build_only:
        if "1m" in args.tiers:
            million_centroids(million_vectors(pool()))
        return

    rows: list[list[str]] = []
    floors: dict[str, Latency] = {}
    for label in dict.fromkeys(backends + ask_backends):
        floors[label] = timed_runs(lambda q, e=embedders[label]: e.encode([q]), questions)
        rows.append([f"query embedding floor, {label} (encode 1 question)",
                     f"p50 {floors[label].p50:.1f} ms, p99 {floors[label].p99:.1f} ms", "", ""])
    results["floor"] = {label: asdict(f) for label, f in floors.items()}

    for name in tiers:
        for label in ask_backends:
            library = Library.open(tier_folders[name], embedders[label], config=config)
            passages = library.info().passages
            # The floor again, in turn with the asks: the ratio of two latencies
            # measured in the same minutes.
            timed = timed_side_by_side({"floor": lambda q, e=embedders[label]: e.encode([q]),
                                        "ask": lambda q, lib=library: lib.ask(q)}, questions)
            latency, floor = timed["ask"], timed["floor"]
            ratio = latency.p50 / floor.p50
            target = (f"p50 ≤ {TARGET_ASK_VS_FLOOR}× floor: {ratio:.2f}× "
                      f"{verdict(ratio <= TARGET_ASK_VS_FLOOR)}") if name == "100k" else \
                f"{ratio:.2f}× floor"
            target += f" (floor in turn: p50 {floor.p50:.1f} ms)"
            vectors = "recycled vectors" if name in synthetic else "real vectors"
            kind = library.info().faiss_type
            size = f"{kind}, {vectors}, index {folder_mb(library.folder):.0f} MB on disk"
            rows.append([f"Library.ask, {label}, {passages:,} passages "
                         f"({library.count_articles():,} articles)",
                         f"p50 {latency.p50:.1f} ms, p99 {latency.p99:.1f} ms", target, size])
            results.setdefault("ask", []).append({
                "tier": name, "backend": label, "passages": passages, "index": kind,
                "vectors": vectors, "p50": latency.p50, "p99": latency.p99,
                "floor_p50": floor.p50})
            library.close()

    if not args.skip_ingest:
        ingests = {label: measure_ingest(embedders[label], args.ingest_articles,
                                         backend_and_kind(label)[1])
                   for label in backends}
        results["ingest"] = {label: asdict(i) for label, i in ingests.items()}
        torch_rate = ingests["torch"].build_rate if "torch" in ingests else None
        for label, ingest in ingests.items():
            raw_rate = ingest.passages / ingest.encode_one_call_s
            vs_torch = ""
            if torch_rate and label != "torch":
                ratio = ingest.build_rate / torch_rate
                vs_torch = (f"≥ {TARGET_INGEST_VS_TORCH}× torch: {ratio:.2f}× "
                            f"{verdict(ratio >= TARGET_INGEST_VS_TORCH)}")
            rows.append([f"ingest, {label}: Library.build, fresh index, BBC "
                         f"({ingest.articles} files, {ingest.passages:,} passages, "
                         f"{ingest.texts:,} texts {ingest_texts(ingest)}, "
                         f"{ingest.unique_texts:,} distinct per call)",
                         f"{ingest.build_rate:.0f} passages/s ({ingest.build_s:.1f} s)",
                         vs_torch, f"{ingest.build_rate / raw_rate:.2f}× raw encode"])
            rows.append([f"raw encode, {label}, same texts, one call",
                         f"{raw_rate:.0f} passages/s ({ingest.encode_one_call_s:.1f} s)", "",
                         f"in the library's calls: "
                         f"{ingest.passages / ingest.encode_same_calls_s:.0f} passages/s"])
        first = next(iter(ingests.values()))
        share = first.rebuild_s / first.build_s
        rows.append(["re-run build, unchanged corpus", f"{first.rebuild_s:.2f} s",
                     f"≤ {TARGET_REBUILD_SHARE:.0%} of full build: {share:.1%} "
                     f"{verdict(share <= TARGET_REBUILD_SHARE)}", ""])

    if tiers:
        largest = tiers[-1]
        serving = serving_memory(tier_folders[largest], serving_backend, config)
        results["serving_memory"] = serving
        rows.append([f"peak memory serving the {largest} index ({serving_backend}, fresh "
                     f"process, 50 asks)", f"{serving['maxrss_mb']:.0f} MB RSS",
                     f"Python heap peak during asks {serving['ask_heap_peak_mb']:.1f} MB", ""])

    million: list[dict] = []
    if "1m" in args.tiers:
        million = million_tier(reference, serving_backend, pool(), MILLION_CANDIDATES)
        results["million"] = million
    rows.append(["peak memory of this benchmark run", f"{max_rss_mb():.0f} MB RSS", "", ""])
    results["load_after"] = load_average()

    if args.update_json and RESULTS.exists():
        results = updated_results(json.loads(RESULTS.read_text()), results)
    if not args.no_json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"Machine: {machine_line()}; load average before {load_before}, after "
          f"{results['load_after']}; keyword engine {args.keyword_engine}\n")
    print(markdown_table(["measure", "result", "target", "note"], rows))
    if million:
        print(f"\n1M passages, synthetic (recycled) vectors, FAISS alone, {serving_backend} "
              f"embeds the questions; exact search (numpy, chunked) "
              f"{million[0]['exact_search_ms']:.0f} ms/question:\n")
        print(markdown_table(["index", "nprobe", f"recall@10 vs exact (≥ {TARGET_RECALL_1M})",
                              "search, 1 question", "build (train + add)", "size on disk",
                              "serving (fresh process, at the first nprobe meeting recall)"],
                             million_rows(million, floors[serving_backend])))


if __name__ == "__main__":
    main()
