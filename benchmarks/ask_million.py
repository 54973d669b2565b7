"""`Library.ask` end to end at a million passages (issue 10, item 4): the question embedded,
the keyword side (FTS5 or tantivy), dense.faiss as `index/dense.py` builds it at that size,
fusion, evidence rows and the answerer, all through `Library`.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ask_million.py
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ask_million.py --engines tantivy

The library (benchmarks/.cache/ask-1m, built once, ~4.5 GB): keyword.py's 1M keyword store
(the 100k tier's passages and 900k remixes of their sentences, run `keyword.py --million`
first) given speed.py's 1M recycled vectors, a manifest, then opened as a Library, which
builds dense.faiss (and, with tantivy, its keyword folder) from the store. No sentence
vectors: the answerer reads each sentence's meaning from its passage's vector (as for
passages stored before sentence vectors), so the answer step costs a little less than on a
real index. Texts and vectors are unrelated (synthetic), so only timings and memory mean
anything here. Each engine is timed in a fresh process: the question floor (embedding
alone) and `Library.ask` over the celebrity questions, taking turns 20 questions at a time
(speed.timed_side_by_side); peak RSS (VmHWM) of that process.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from benchcommon import CACHE_DIR, load_questions, markdown_table
from speed import (
    load_average,
    make_backend,
    max_rss_mb,
    million_vectors,
    recycle_pool,
    timed_side_by_side,
)

from index.config import KEYWORD_ENGINES, LibraryConfig
from index.library import Library
from index.manifest import FORMAT_VERSION, Manifest
from index.records import utc_now
from index.store import Store

BACKEND = "onnx-fp32"
FOLDER = CACHE_DIR / "ask-1m"
SOURCE = CACHE_DIR / "keyword-1m" / "store.sqlite"
WRITE_CHUNK = 20_000


def build(folder: Path) -> None:
    """The 1M library's store and manifest (once); dense.faiss comes at the first open."""
    if (folder / "manifest.json").exists():
        return
    if not SOURCE.exists():
        sys.exit(f"{SOURCE} is missing: run `benchmarks/keyword.py --million` first")
    folder.mkdir(parents=True, exist_ok=True)
    building = folder / "store.sqlite.tmp"
    shutil.copyfile(SOURCE, building)
    embedder = make_backend(BACKEND)
    vectors = million_vectors(recycle_pool(embedder))
    db = sqlite3.connect(building)
    ids = [row[0] for row in db.execute("SELECT id FROM passages ORDER BY id")]
    assert len(ids) <= len(vectors), "more passages than recycled vectors"
    with db:
        for start in range(0, len(ids), WRITE_CHUNK):
            chunk = ids[start:start + WRITE_CHUNK]
            rows = vectors[start:start + len(chunk)]
            db.executemany("UPDATE passages SET vector = ? WHERE id = ?",
                           [(row.tobytes(), pid) for row, pid in zip(rows, chunk, strict=True)])
        Store.bump_generation(db)
    db.close()
    building.replace(folder / "store.sqlite")
    store = Store(folder / "store.sqlite")
    now = utc_now()
    Manifest(format_version=FORMAT_VERSION, model_name=embedder.name,
             model_sha256=embedder.fingerprint, dim=embedder.dim, faiss_type="(to build)",
             articles=store.total("articles"), passages=store.total("passages"),
             created_at=now, updated_at=now, dense_generation=-1,
             embedding_backend=BACKEND).write(folder)
    store.close()
    # Opening builds dense.faiss from the store's vectors; flush writes it beside the store.
    library = Library.open(folder, embedder)
    library.storage.flush()
    library.close()


def measure(engine: str) -> dict:
    """In this (fresh) process: open the library, time the floor and the asks."""
    embedder = make_backend(BACKEND)
    library = Library.open(FOLDER, embedder, config=LibraryConfig(keyword_engine=engine))
    questions = [q.text for q in load_questions()]
    timed = timed_side_by_side({"floor": lambda text: embedder.encode([text]),
                                "ask": lambda text: library.ask(text)}, questions)
    floor, asks = timed["floor"], timed["ask"]
    kind = library.info().faiss_type
    library.close()
    return {"engine": engine, "index": kind, "floor_p50": floor.p50, "floor_p99": floor.p99,
            "ask_p50": asks.p50, "ask_p99": asks.p99, "rss_mb": max_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default=",".join(KEYWORD_ENGINES),
                        help="keyword engines to time, comma-separated")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    build(FOLDER)
    rows = []
    for engine in args.engines.split(","):
        before = load_average()
        result = json.loads(subprocess.run(
            [sys.executable, __file__, "--measure", engine], check=True, capture_output=True,
            text=True).stdout.strip().splitlines()[-1])
        rows.append([
            engine, result["index"], f"{result['floor_p50']:.1f} / {result['floor_p99']:.1f}",
            f"{result['ask_p50']:.1f} / {result['ask_p99']:.1f}",
            f"{result['ask_p50'] / result['floor_p50']:.2f}",
            f"{result['ask_p99'] / result['floor_p99']:.2f}", f"{result['rss_mb']:.0f}",
            f"{before} -> {load_average()}"])
    print(markdown_table(["keyword engine", "dense.faiss", "floor p50 / p99 ms",
                          "Library.ask p50 / p99 ms", "× floor p50", "p99 / floor p99",
                          "peak RSS MB", "load"], rows))


if __name__ == "__main__":
    main()
