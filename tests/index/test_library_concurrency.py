"""Writers in several processes, on either backend: nothing doubles. (Threads reading and
writing through two Library objects: test_library_contract.py.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from corpus.records import Article
from index.embedder import FakeEmbedder
from index.library import Library
from tests.index.backends import Backend

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from corpus.records import Article
    from index.config import LibraryConfig
    from index.embedder import FakeEmbedder
    from index.library import open_library

    class SlowEmbedder(FakeEmbedder):
        # Embedding takes time, as with the real model: both writers would plan from the
        # same state before either commits, unless writing is serialised.
        def encode(self, texts):
            time.sleep(0.5)
            return super().encode(texts)

    folder, url = sys.argv[1:]
    library = open_library(LibraryConfig(database_url=url or None), SlowEmbedder(),
                           folder=Path(folder), create=True)
    articles = [Article(title=f"Story {n}", text=f"Story {n} tells of rivers and hills.",
                        source=f"story-{n}.txt") for n in range(40)]
    library.add_articles(articles)
    library.close()
""")


def test_two_writer_processes_on_one_library_store_each_passage_once(
    library_backend: Backend, fake_embedder: FakeEmbedder
) -> None:
    library_backend.open(fake_embedder, create=True).close()
    url = library_backend.config.database_url or ""
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(library_backend.folder), url])
               for _ in range(2)]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    library = library_backend.open(fake_embedder)
    info = library.info()
    assert (info.articles, info.passages, info.dense_vectors) == (40, 40, 40)
    library.close()


@pytest.mark.parametrize(("source", "skipped_as"), [
    ("half.json", "half.json"),  # a file being saved right now
    ("locked/story.txt", "locked/"),  # a folder that cannot be listed
    ("locked/story.txt", "./"),  # the corpus root itself
])
def test_a_build_keeps_the_articles_of_what_it_could_not_read_this_time(
    tmp_path: Path, fake_embedder: FakeEmbedder, source: str, skipped_as: str
) -> None:
    library = Library.open(tmp_path / "index", fake_embedder, create=True)
    unreadable = Article(title="Unreadable", text="A story that cannot be read for now.",
                         source=source)
    other = Article(title="Other", text="Another story about a concert.", source="other.txt")
    library.build([unreadable, other])
    assert library.build([other], keep_sources=[skipped_as]).removed == []
    assert len(library.build([other]).removed) == 1  # gone for real: removed
    library.close()
