"""A build killed with SIGKILL leaves the previous index whole, no half article, and the
next build resumes: in the embedded folder and in PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from corpus import chunk_article
from corpus.records import Article
from index.embedder import FakeEmbedder
from index.library import Library
from tests.index.backends import Backend
from tests.index.test_library import STORIES

# The child adds articles (`note(n, sentences)`) with an embedder slowed down so that the
# kill lands while the second batch of passages is being embedded.
CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from index.config import LibraryConfig
    from index.embedder import FakeEmbedder
    from index.library import open_library
    from tests.index.test_killed_build import note

    class SlowEmbedder(FakeEmbedder):
        def encode(self, texts):
            time.sleep(0.3)
            return super().encode(texts)

    folder, url, articles, sentences = sys.argv[1:]
    library = open_library(LibraryConfig(database_url=url or None), SlowEmbedder(),
                           folder=Path(folder), create=True)
    library.add_articles([note(n, int(sentences)) for n in range(int(articles))],
                         progress=lambda done, total: print(done, total, flush=True))
    print("finished", flush=True)
""")


def note(n: int, sentences: int = 1) -> Article:
    """One passage for one sentence; 30 sentences make several passages."""
    text = " ".join(f"Garden note {n} line {line} says the tulips bloom early this year."
                    for line in range(sentences))
    return Article(f"Note {n}", text, f"note-{n}.txt")


def kill_after_first_commit(folder: Path, articles: int, *, url: str | None = None,
                            sentences: int = 1) -> None:
    project = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), url or "", str(articles), str(sentences)],
        stdout=subprocess.PIPE, text=True, cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
    )
    assert child.stdout is not None
    for line in child.stdout:
        done, _total = line.split()
        if int(done) > 0:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_a_build_killed_midway_keeps_whole_articles_and_the_next_one_completes(
    library_backend: Backend, fake_embedder: FakeEmbedder
) -> None:
    library_backend.open(fake_embedder, create=True).close()
    # 60 articles of several passages each commit in several batches of whole articles.
    kill_after_first_commit(library_backend.folder, 60, url=library_backend.config.database_url,
                            sentences=30)
    reopened = library_backend.open(fake_embedder)
    stored = reopened.list_articles(limit=100)
    assert 0 < len(stored) < 60
    passages = len(chunk_article(note(0, 30)))
    assert passages > 1
    assert {info.passages for info in stored} == {passages}, "a half-stored article"
    assert reopened.info().passages == reopened.info().dense_vectors == passages * len(stored)
    report = reopened.add_articles([note(n, 30) for n in range(60)])
    assert (len(report.unchanged), len(report.added)) == (len(stored), 60 - len(stored))
    assert reopened.info().passages == passages * 60
    reopened.close()


def test_killed_build_leaves_a_usable_index(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    folder = tmp_path / "index"
    first = Library.open(folder, fake_embedder, create=True)
    first.build(STORIES)
    before = [(hit.article_id, hit.passage) for hit in first.search("volcano ash lava", k=1)]
    first.close()

    kill_after_first_commit(folder, 3000)

    reopened = Library.open(folder, fake_embedder)
    after = reopened.search("volcano ash lava", k=1)
    assert [(hit.article_id, hit.passage) for hit in after] == before
    info = reopened.info()
    assert 3 < info.articles < 3003, "the kill should land between two committed batches"
    # dense.faiss was written before the kill; reopening rebuilds it from SQLite's vectors.
    assert info.dense_vectors == info.passages
    committed = info.articles - 3
    report = reopened.add_articles([note(n) for n in range(3000)])
    assert len(report.unchanged) == committed
    assert len(report.added) == 3000 - committed
    assert reopened.info().articles == 3003
    reopened.close()
