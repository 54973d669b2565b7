"""The product's own vector index at a million passages: what `index/dense.py` builds from 1M
vectors (`DenseIndex.from_vectors`, as a library's restructure does), timed and checked
against exact search (issue 10, item 4).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dense_million.py
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/dense_million.py --rows 300000

speed.py's 1M tier compares FAISS index types built by its own code (shared centroids); this
builds the one `index/dense.py` chooses, with its own training sample, lists and probes, then
serves it from the written file in a fresh process (the embedder loaded too, as the bot is).
Vectors: speed.py's 1M recycled vectors (built there and cached in benchmarks/.cache).
Questions: the celebrity questions, embedded by onnx-fp32. Prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchcommon import load_questions, markdown_table
from speed import (
    exact_top,
    load_average,
    make_backend,
    max_rss_mb,
    million_vectors,
    recycle_pool,
    timed_runs,
)

from index.dense import DenseIndex

BACKEND = "onnx-fp32"


def recall_at_10(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t.tolist())) / 10
                          for f, t in zip(found, truth, strict=True)]))


def serve(path: Path) -> dict:
    """In this (fresh) process: the embedder and the written index, then questions embedded
    and searched one at a time; the question floor alone for the ratio."""
    embedder = make_backend(BACKEND)
    dense = DenseIndex.read(path)
    questions = [q.text for q in load_questions()]
    floor = timed_runs(lambda text: embedder.encode([text]), questions)
    both = timed_runs(lambda text: dense.search(embedder.encode([text])[0], 10), questions)
    return {"floor_p50": floor.p50, "floor_p99": floor.p99, "serve_p50": both.p50,
            "serve_p99": both.p99, "serving_rss_mb": max_rss_mb()}


def measure(rows: int) -> dict:
    embedder = make_backend(BACKEND)
    vectors = million_vectors(recycle_pool(embedder))[:rows]
    queries = embedder.encode([q.text for q in load_questions()])
    truth = exact_top(vectors, queries)
    load_before = load_average()
    started = time.perf_counter()
    dense = DenseIndex.from_vectors(np.arange(rows, dtype=np.int64), np.asarray(vectors),
                                    vectors.shape[1])
    build_s = time.perf_counter() - started
    kind = dense.kind
    found = [[passage_id for passage_id, _ in dense.search(query, 10)] for query in queries]
    alone = timed_runs(lambda key: dense.search(queries[int(key)], 10),
                       [str(i) for i in range(len(queries))])
    with tempfile.TemporaryDirectory(prefix="dense-million-") as folder:
        path = Path(folder) / "dense.faiss"
        dense.write(path)
        size_mb = path.stat().st_size / 2**20
        served = json.loads(subprocess.run(
            [sys.executable, __file__, "--serve", str(path)], check=True, capture_output=True,
            text=True).stdout.strip().splitlines()[-1])
    return {"rows": rows, "kind": kind, "recall@10": recall_at_10(found, truth), "build_s": build_s,
            "search_p50": alone.p50, "search_p99": alone.p99, "size_mb": size_mb,
            "load": f"{load_before} -> {load_average()}", **served}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="how many of the 1M vectors to index (default: all)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        print(json.dumps(serve(args.serve)))
        return
    r = measure(args.rows)
    print(markdown_table(
        ["passages", "index (dense.py's choice)", "recall@10 vs exact", "build s",
         "search p50 / p99 ms", "file MB", "serving: embed + search p50 / p99 ms",
         "floor p50 / p99 ms", "× floor (p50)", "serving RSS MB", "load"],
        [[f"{r['rows']:,}", r["kind"], f"{r['recall@10']:.3f}",
          f"{r['build_s']:.0f}", f"{r['search_p50']:.2f} / {r['search_p99']:.2f}",
          f"{r['size_mb']:.0f}", f"{r['serve_p50']:.1f} / {r['serve_p99']:.1f}",
          f"{r['floor_p50']:.1f} / {r['floor_p99']:.1f}",
          f"{r['serve_p50'] / r['floor_p50']:.2f}", f"{r['serving_rss_mb']:.0f}",
          r["load"]]]))


if __name__ == "__main__":
    main()
