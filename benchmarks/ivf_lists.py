"""dense.faiss's inverted-list rule across library sizes (issue 10, stop 19): recall@10
against exact search, the search's latency right after the question's embedding (as in an
ask: the model has just run through the caches), and the build's time, for the rule in
index/dense.py beside the one before stop 19 (4·√n lists, 3% of them probed below 300k
passages, 32 from there).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ivf_lists.py
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ivf_lists.py --sizes 20k,100k

Each size is the first n of speed.py's 1M recycled vectors (real passage vectors with a
little noise; made by `speed.py --build-only`, or here on first use); the questions are the
celebrity set's, embedded by onnx-fp32. FAISS searches on one thread, as the library's do.
Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import faiss
import numpy as np
from benchcommon import load_questions, markdown_table, percentile_ms
from dense_million import recall_at_10
from speed import exact_top, make_backend, million_vectors, recycle_pool

from index.dense import DenseIndex

SIZES = "20k,50k,100k,200k,300k,500k"


def before_stop_19(size: int) -> tuple[int, int]:
    """(lists, nprobe) as index/dense.py chose them before stop 19."""
    lists = int(4 * np.sqrt(size))
    return lists, 32 if size >= 300_000 else max(8, lists // 32)


# None: the index as `DenseIndex.from_vectors` builds it today, lists and probes its own.
RULES: dict[str, Callable[[int], tuple[int, int]] | None] = {
    "4·√n lists, 3% probed (before)": before_stop_19,
    "index/dense.py": None,
}


def parse_size(text: str) -> int:
    return int(float(text[:-1]) * {"k": 1_000, "m": 1_000_000}[text[-1]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=SIZES, help=f"comma-separated (default {SIZES})")
    args = parser.parse_args()
    embedder = make_backend("onnx-fp32")
    texts = [q.text for q in load_questions()]
    queries = np.vstack([embedder.encode([text]) for text in texts]).astype(np.float32)
    vectors = million_vectors(recycle_pool(embedder))
    rows = []
    for size in (parse_size(s) for s in args.sizes.split(",")):
        held = np.ascontiguousarray(vectors[:size], dtype=np.float32)
        ids = np.arange(size, dtype=np.int64)
        exact = exact_top(held, queries)
        built: dict[str, tuple[DenseIndex, float]] = {}
        for name, rule in RULES.items():
            faiss.omp_set_num_threads(2)  # the library trains on both cores too
            lists, nprobe = rule(size) if rule else (None, None)
            started = time.perf_counter()
            dense = DenseIndex.from_vectors(ids, held, held.shape[1], lists=lists)
            built[name] = dense, time.perf_counter() - started
            faiss.omp_set_num_threads(1)
            if nprobe is not None:
                dense._index.nprobe = nprobe
        # The rules take turns question by question (which goes first alternating): this
        # VM's speed drifts within a minute.
        taken: dict[str, list[float]] = {name: [] for name in RULES}
        for turn, (text, query) in enumerate(zip(texts, queries, strict=True)):
            for name in list(RULES)[:: 1 if turn % 2 else -1]:
                embedder.encode([text])
                start = time.perf_counter()
                built[name][0].search(query, 50)
                taken[name].append(time.perf_counter() - start)
        for name, (dense, build_s) in built.items():
            found = [[pid for pid, _ in dense.search(query, 10)] for query in queries]
            rows.append([f"{size:,}", name, dense.kind.split(",")[0], dense._index.nprobe,
                         f"{recall_at_10(found, exact):.4f}",
                         f"{percentile_ms(taken[name], 50):.3f}", f"{build_s:.1f}"])
            print(" | ".join(map(str, rows[-1])), flush=True)
    print(markdown_table(["passages", "rule", "lists", "nprobe", "recall@10 vs exact",
                          "search p50 ms, after an embedding", "build s"], rows))


if __name__ == "__main__":
    main()
