"""What quality.py and speed.py share: where the data is, the benchmark corpora, cached
indexes, the question sets (and their fit/held-out split), and markdown tables.

Benchmarks are scripts run on demand (`make bench`), never part of the test run.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from corpus import load_path
from corpus.records import Article
from index.embedder import Embedder
from index.errors import IndexMismatchError
from index.library import Library

BENCH_DIR = Path(__file__).resolve().parent
# git-ignored: cached indexes, rebuilt incrementally. SPOTLIGHT_BENCH_CACHE points elsewhere
# (e.g. to measure another checkout without rebuilding this one's indexes).
CACHE_DIR = Path(os.environ.get("SPOTLIGHT_BENCH_CACHE") or BENCH_DIR / ".cache")
QUESTIONS_FILE = BENCH_DIR / "celebrity_questions.jsonl"
BBC_QUESTIONS_FILE = BENCH_DIR / "bbc_questions.jsonl"


def shared_dir() -> Path:
    """`shared/` beside the project folder, or SPOTLIGHT_SHARED_DIR."""
    explicit = os.environ.get("SPOTLIGHT_SHARED_DIR")
    return Path(explicit) if explicit else BENCH_DIR.parents[1] / "shared"


def seeds_dir() -> Path:
    return shared_dir() / "seeds"


def celebrity_legit_dir() -> Path:
    return shared_dir() / "data/celebrity/fakeNewsDatasets/celebrityDataset/legit"


def celebrity_fake_dir() -> Path:
    return shared_dir() / "data/celebrity/fakeNewsDatasets/celebrityDataset/fake"


def bbc_dir() -> Path:
    return shared_dir() / "data/bbc"


def scifact_dir() -> Path:
    return shared_dir() / "data/scifact"


def require(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"Missing benchmark data: {path} (set SPOTLIGHT_SHARED_DIR to the shared folder)")
    return path


# -- corpora ------------------------------------------------------------------------------
def load_prefixed(folder: Path, prefix: str) -> list[Article]:
    """Articles of one folder, each `source` prefixed so several folders can share an index."""
    report = load_path(require(folder))
    return [replace(article, source=f"{prefix}/{article.source}") for article in report.articles]


def celebrity_benchmark_articles() -> list[Article]:
    """The question set's corpus: seeds as `seeds/<file>`, legit articles as `legit/<file>`."""
    return load_prefixed(seeds_dir(), "seeds") + load_prefixed(celebrity_legit_dir(), "legit")


def bbc_articles() -> list[Article]:
    """All BBC articles as `bbc/<category>/<NNN>.txt`. Exact duplicate files are kept once
    by the library (its content hash), which is why BBC gold may list several copies."""
    return load_prefixed(bbc_dir() / "bbc", "bbc")


def scifact_articles() -> list[Article]:
    """One Article per SciFact document; `source` is `scifact/<_id>` so hits map back to qrels."""
    articles = []
    with require(scifact_dir() / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            doc = json.loads(line)
            doc_id = str(doc["_id"])
            title = doc.get("title") or doc["text"][:80]
            articles.append(Article(title=title, text=doc["text"], source=f"scifact/{doc_id}",
                                    external_id=doc_id))
    return articles


# -- cached indexes -----------------------------------------------------------------------
def progress_bar(description: str):
    """A Library progress callback drawing a tqdm bar; call .close() on the returned bar."""
    bar = tqdm(desc=description, unit="passage", leave=False, file=sys.stderr)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    bar.callback = update  # type: ignore[attr-defined]
    return bar


def cache_name(name: str, sentence_vectors: str) -> str:
    """Indexes of encoded sentence vectors keep the names they had before the kind was
    recorded; pooled ones live beside them (`<name>-pooled`)."""
    return name if sentence_vectors == "encoded" else f"{name}-{sentence_vectors}"


def cached_library(name: str, articles: Iterable[Article], embedder: Embedder, *,
                   sentence_vectors: str | None = None) -> Library:
    """The index `.cache/<name>`, brought up to date with `articles` (a new one with
    `sentence_vectors`, else the default kind; an existing one of another kind is rebuilt).

    The library's build is incremental, so after the first run this only checks hashes.
    A cache made by another model or index format is rebuilt. (A change to chunking is
    not detected: articles whose text is unchanged keep their old passages. Delete
    benchmarks/.cache after such a change.)"""
    folder = CACHE_DIR / name
    try:
        library = Library.open(folder, embedder, create=True, sentence_vectors=sentence_vectors)
    except IndexMismatchError as error:
        print(f"(rebuilding .cache/{name}: {error})", file=sys.stderr)
        shutil.rmtree(folder)
        library = Library.open(folder, embedder, create=True, sentence_vectors=sentence_vectors)
    bar = progress_bar(f"indexing {name}")
    started = time.perf_counter()
    report = library.build(list(articles), progress=bar.callback)
    bar.close()
    if report.passages:
        print(f"(built .cache/{name}: {report.passages} passages embedded in "
              f"{time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return library


def indexed_sources(library: Library) -> set[str]:
    total = library.count_articles()
    sources: set[str] = set()
    for offset in range(0, total, 500):
        sources.update(info.source for info in library.list_articles(offset=offset, limit=500))
    return sources


# -- questions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    text: str
    gold: frozenset[str]
    kind: str  # "answerable" or "unanswerable"
    # Answer phrases copied verbatim from a gold article: a correct answer contains one.
    answers: tuple[str, ...] = ()
    line: int = 0  # 1-based line in its file: the fit/held-out split goes by its parity

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"


def load_questions(path: Path = QUESTIONS_FILE) -> list[Question]:
    questions = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            question = Question(record["question"], frozenset(record["gold"]), record["kind"],
                                tuple(record.get("answer", ())), number)
            if question.kind not in ("answerable", "unanswerable") or (
                question.answerable != bool(question.gold)
            ):
                sys.exit(f"{path}:{number}: answerable questions need gold, others none")
            if question.answers and not question.answerable:
                sys.exit(f"{path}:{number}: an unanswerable question has no answer phrases")
            questions.append(question)
    return questions


def gold_file(gold: str) -> Path:
    """The raw file behind a gold source: seeds/..., legit/... or bbc/<category>/<NNN>.txt."""
    prefix, _, rest = gold.partition("/")
    folders = {"seeds": seeds_dir, "legit": celebrity_legit_dir,
               "bbc": lambda: bbc_dir() / "bbc"}
    if prefix not in folders:
        raise ValueError(f"unknown gold prefix: {gold}")
    return folders[prefix]() / rest


def answer_phrase_problems(questions: Sequence[Question],
                           articles: Iterable[Article] = ()) -> list[str]:
    """Every answer phrase must be verbatim in (one of) its question's gold articles, after
    whitespace normalisation only; answerable questions need at least one phrase. With
    `articles` (the corpus as loaded), each phrase must also be in a gold article's body as
    the library indexes it (titles are not part of any passage), compared as answers are."""
    bodies = {article.source: article.text for article in articles}
    problems = []
    for question in questions:
        if not question.answerable:
            continue
        if not question.answers:
            problems.append(f"line {question.line}: no answer phrase: {question.text!r}")
            continue
        texts = [" ".join(require(gold_file(g)).read_text(encoding="utf-8",
                                                          errors="replace").split())
                 for g in sorted(question.gold)]
        for phrase in question.answers:
            if not any(" ".join(phrase.split()) in text for text in texts):
                problems.append(f"line {question.line}: not in the gold text: {phrase!r}")
            elif bodies and not any(contains_answer(bodies.get(g), [phrase])
                                    for g in question.gold):
                problems.append(f"line {question.line}: not in an indexed body: {phrase!r}")
    return problems


def split_halves(questions: Sequence[Question]) -> tuple[list[Question], list[Question]]:
    """(fit, held_out): questions on even lines of their file (2, 4, ...) are the fit half,
    odd lines (1, 3, ...) the held-out half. Anything that tunes on a question set fits on
    the first and reports the second; blank lines do not shift the split."""
    fit = [q for q in questions if q.line % 2 == 0]
    held_out = [q for q in questions if q.line % 2 == 1]
    return fit, held_out


def normalise_for_match(text: str) -> str:
    """Lower case, punctuation dropped (curly quotes and dashes included), whitespace
    collapsed: how answer phrases are compared with answer text."""
    kept = "".join(ch if ch.isalnum() else " " for ch in text.casefold())
    return " ".join(kept.split())


def contains_answer(text: str | None, answers: Sequence[str]) -> bool:
    """Whether `text` contains any of the answer phrases (normalised; None never does)."""
    if not text:
        return False
    haystack = f" {normalise_for_match(text)} "
    return any(f" {normalise_for_match(answer)} " in haystack for answer in answers
               if normalise_for_match(answer))


# -- SciFact (BEIR test split) ------------------------------------------------------------
def scifact_queries_and_qrels() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = {}
    with require(scifact_dir() / "qrels/test.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query-id"].strip(), {})[row["corpus-id"].strip()] = int(
                row["score"].strip())
    queries = {}
    with require(scifact_dir() / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if str(record["_id"]) in qrels:
                queries[str(record["_id"])] = record["text"]
    return queries, qrels


def ndcg_at_10(ranked_doc_ids: Sequence[str], relevance: dict[str, int]) -> float:
    """BEIR's (trec_eval's) nDCG@10: linear gain, discount log2(rank + 1)."""
    dcg = sum(relevance.get(doc, 0) / math.log2(rank + 1)
              for rank, doc in enumerate(ranked_doc_ids[:10], start=1))
    ideal = sorted(relevance.values(), reverse=True)[:10]
    idcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


# -- reporting ----------------------------------------------------------------------------
def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def machine_line() -> str:
    import faiss
    import sentence_transformers
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} cores, torch threads "
            f"{torch.get_num_threads()}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, "
            f"sentence-transformers {sentence_transformers.__version__}, faiss {faiss.__version__}")
