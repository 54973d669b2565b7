"""A build killed with SIGKILL leaves the previous index whole and the next build resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from corpus.records import Article
from index.embedder import FakeEmbedder
from index.library import Library
from tests.index.test_library import STORIES

# The child builds 3,000 one-passage articles with an embedder slowed down so that the
# kill lands while the second batch of passages is being embedded.
CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from corpus.records import Article
    from index.embedder import FakeEmbedder
    from index.library import Library

    class SlowEmbedder(FakeEmbedder):
        def encode(self, texts):
            time.sleep(0.3)
            return super().encode(texts)

    library = Library.open(Path(sys.argv[1]), SlowEmbedder(), create=True)
    articles = [Article(f"Note {n}", f"Garden note {n} about tulips.", f"note-{n}.txt")
                for n in range(int(sys.argv[2]))]
    library.add_articles(articles, progress=lambda done, total: print(done, total, flush=True))
    print("finished", flush=True)
""")


def kill_after_first_commit(folder: Path, articles: int) -> None:
    project = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), str(articles)], stdout=subprocess.PIPE,
        text=True, cwd=project, env={**os.environ, "PYTHONPATH": str(project)},
    )
    assert child.stdout is not None
    for line in child.stdout:
        done, _total = line.split()
        if int(done) > 0:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_a_small_build_killed_midway_keeps_what_it_committed(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    folder = tmp_path / "index"
    Library.open(folder, fake_embedder, create=True).close()
    kill_after_first_commit(folder, 200)  # a few hundred passages commit in several steps
    reopened = Library.open(folder, fake_embedder)
    assert 0 < reopened.info().articles < 200
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
    report = reopened.add_articles(
        [Article(f"Note {n}", f"Garden note {n} about tulips.", f"note-{n}.txt")
         for n in range(3000)]
    )
    assert len(report.unchanged) == committed
    assert len(report.added) == 3000 - committed
    assert reopened.info().articles == 3003
    reopened.close()
