"""Where `Library.ask`'s time goes (issue 10): each stage of the answering path timed on the
asking thread, over the celebrity questions, in two passes (the first meets every question's
passages for the first time, as a new question does; the second finds them warm), beside
the question's embedding alone, back to back (speed.py's floor) and after a pause (as a
question arriving alone meets the model), and the whole ask after the same pause.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ask_stages.py        # speed.py's 100k library
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ask_stages.py --folder benchmarks/.cache/ask-1m

Stages are timed by wrapping, on this process's objects, the parts `Library` composes
(retrievers, fusion, answerer, answerability), the reads the pipeline makes of
`library.storage.passages` and the embedder's `encode`. Only calls on the asking thread
count: the keyword side, run on another thread while the question is embedded, shows as
the wait for it. Each stage's figure is its median over the questions, so the stages do
not add up to the ask's median; "the rest" (the reranker, a frozen part, among it) is the
ask's median minus the embedding's and the stages'. Prints a table; writes nothing. Build
the library first (speed.py, ask_million.py).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from benchcommon import CACHE_DIR, load_questions, markdown_table
from speed import load_average, make_backend

import index.pipeline
from index.library import Library

PASSES = ("first sight", "again")
# What each wrapped call is shown as, in the order the pipeline makes them.
STAGES = {
    "query": "the question checked and scoped (other processes' writes caught up)",
    "embed": "the question's embedding, inside the ask",
    "wait": "wait for the keyword side (run ahead)",
    "dense": "dense search (FAISS)",
    "articles_of": "article of each candidate passage",
    "fuse": "fusion (reciprocal rank)",
    "passage_vectors": "the best candidates' vectors",
    "dedupe": "near-copies dropped",
    "evidence_rows": "evidence rows read (text, sentences)",
    "evidence_passage": "evidence rows decoded (sentences, stored signals)",
    "terms": "question terms over the evidence",
    "answer": "answerer (sentences scored, quotes chosen)",
    "judge": "answerability",
}


class StageClock:
    """Seconds per stage within the current ask, counted on the asking thread only."""

    def __init__(self) -> None:
        self.asker = threading.get_ident()
        self.current: dict[str, float] = defaultdict(float)

    def wrap(self, owner: object, attribute: str, stage: str) -> None:
        inner = getattr(owner, attribute)

        def timed(*args, **kwargs):
            if threading.get_ident() != self.asker:
                return inner(*args, **kwargs)
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.current[stage] += time.perf_counter() - started

        setattr(owner, attribute, timed)


def instrument(library: Library, clock: StageClock) -> None:
    pipeline, source = library.pipeline, library.storage.passages
    clock.wrap(library.embedder, "encode", "embed")
    clock.wrap(library, "query", "query")
    clock.wrap(index.pipeline._Ahead, "finish", "wait")
    clock.wrap(pipeline.retrievers["dense"], "retrieve", "dense")
    for read, stage in (("articles_of", "articles_of"), ("passage_vectors", "passage_vectors"),
                        ("evidence", "evidence_rows")):
        clock.wrap(source, read, stage)
    clock.wrap(pipeline.fusion, "fuse", "fuse")
    clock.wrap(index.pipeline, "drop_near_duplicates", "dedupe")
    clock.wrap(index.pipeline, "_evidence_passage", "evidence_passage")
    clock.wrap(pipeline, "evidence", "terms")
    clock.wrap(pipeline.answerer, "answer", "answer")
    clock.wrap(pipeline.answerability, "judge", "judge")


def timed_pass(library: Library, clock: StageClock,
               questions: Sequence[str]) -> tuple[list[float], dict[str, list[float]]]:
    totals: list[float] = []
    stages: dict[str, list[float]] = defaultdict(list)
    for question in questions:
        clock.current.clear()
        started = time.perf_counter()
        library.ask(question)
        totals.append(time.perf_counter() - started)
        for stage in STAGES:
            stages[stage].append(clock.current.get(stage, 0.0))
    return totals, stages


def timed_calls(call: Callable[[str], object], questions: Sequence[str],
                pause_s: float) -> list[float]:
    taken = []
    for question in questions:
        if pause_s:
            time.sleep(pause_s)
        started = time.perf_counter()
        call(question)
        taken.append(time.perf_counter() - started)
    return taken


def ms(values: Sequence[float]) -> float:
    return 1000 * statistics.median(values)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=CACHE_DIR / "speed-100k-recycled",
                        help="the library to ask (default: speed.py's 100k tier)")
    parser.add_argument("--backend", default="onnx-fp32", help="the library's embedding backend")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pause-ms", type=float, default=5.0,
                        help="the pause before each embedding of the second floor")
    args = parser.parse_args(argv)
    if not (args.folder / "manifest.json").exists():
        parser.error(f"no library in {args.folder}: build it with speed.py or ask_million.py")

    clock = StageClock()
    embedder = make_backend(args.backend)
    encode = embedder.encode  # unwrapped: the floors
    library = Library.open(args.folder, embedder)
    instrument(library, clock)
    questions = [q.text for q in load_questions()]
    warmup, timed = questions[: args.warmup], questions[args.warmup:]
    before = load_average()
    for question in warmup:
        library.ask(question)
    passes = {name: timed_pass(library, clock, timed) for name in PASSES}
    floor = timed_calls(lambda q: encode([q]), timed, 0.0)
    paused = timed_calls(lambda q: encode([q]), timed, args.pause_ms / 1000)
    asked_alone = timed_calls(library.ask, timed, args.pause_ms / 1000)
    info = library.info()
    library.close()

    rows = [["Library.ask", *(f"{ms(totals):.2f}" for totals, _ in passes.values())]]
    rows += [[label, *(f"{ms(stages[stage]):.2f}" for _, stages in passes.values())]
             for stage, label in STAGES.items()]
    rest = [ms(totals) - sum(ms(stages[stage]) for stage in STAGES)
            for totals, stages in passes.values()]
    rows.append(["the rest (glue; stage medians do not add up exactly)",
                 *(f"{value:.2f}" for value in rest)])
    rows.append(["embedding alone, back to back (the floor)", f"{ms(floor):.2f}", ""])
    rows.append([f"embedding alone, after a {args.pause_ms:g} ms pause", f"{ms(paused):.2f}", ""])
    rows.append([f"Library.ask after a {args.pause_ms:g} ms pause (a question arriving alone)",
                 "", f"{ms(asked_alone):.2f}"])
    print(f"{args.folder}: {info.passages:,} passages, {info.faiss_type}, backend "
          f"{args.backend}; {len(timed)} questions a pass; load {before} -> {load_average()}\n")
    print(markdown_table(["p50 ms", *PASSES], rows))


if __name__ == "__main__":
    main()
