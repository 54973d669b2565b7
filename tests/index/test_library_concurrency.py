"""Readers and writers at once, in threads and in processes: scopes hold, nothing doubles."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from corpus.records import Article
from index.embedder import FakeEmbedder
from index.library import Library

GUILDS = (101, 202, 303)


def guild_article(guild: int, n: int) -> Article:
    # Every guild's articles share words with the others', so a missing scope filter
    # would return foreign passages.
    return Article(title=f"Secret {guild} number {n}",
                   text=f"The secret recipe {n} of guild {guild} uses saffron and honey.",
                   source=f"g{guild}-{n}.txt")


def test_threaded_guild_writes_and_reads_never_show_a_foreign_article(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    library = Library.open(tmp_path / "index", fake_embedder, create=True)
    library.build([Article(title="Public recipe", text="A public saffron honey recipe.",
                           source="public.txt")])
    foreign: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask_as(guild: int) -> None:
        while not stop.is_set():
            try:
                for mode in ("hybrid", "dense", "keyword"):
                    for hit in library.search("secret saffron honey recipe", guild_id=guild,
                                              k=10, mode=mode):
                        if hit.source.startswith("g") and not hit.source.startswith(f"g{guild}"):
                            foreign.append(f"{guild} saw {hit.source} ({mode})")
                answer = library.ask("secret saffron honey recipe", guild_id=guild)
                for hit in answer.hits:
                    if hit.source.startswith("g") and not hit.source.startswith(f"g{guild}"):
                        foreign.append(f"{guild} was answered from {hit.source}")
            except BaseException as error:
                errors.append(error)
                return

    def write_as(guild: int) -> None:
        for n in range(12):
            report = library.add_articles([guild_article(guild, n)], guild_id=guild)
            if n % 3 == 2:
                library.remove(report.added[0], guild_id=guild)

    readers = [threading.Thread(target=ask_as, args=(g,)) for g in GUILDS]
    writers = [threading.Thread(target=write_as, args=(g,)) for g in GUILDS]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert foreign == []
    assert library.count_articles(guild_id=GUILDS[0], own_only=True) == 8
    assert library.info().dense_vectors == library.storage.store.total("passages")
    library.close()


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from corpus.records import Article
    from index.embedder import FakeEmbedder
    from index.library import Library

    class SlowEmbedder(FakeEmbedder):
        # Embedding takes time, as with the real model: both writers would plan from the
        # same state before either commits, unless writing is serialised.
        def encode(self, texts):
            time.sleep(0.5)
            return super().encode(texts)

    library = Library.open(Path(sys.argv[1]), SlowEmbedder(), create=True)
    articles = [Article(title=f"Story {n}", text=f"Story {n} tells of rivers and hills.",
                        source=f"story-{n}.txt") for n in range(40)]
    library.add_articles(articles)
    library.close()
""")


def test_two_writer_processes_on_one_folder_store_each_passage_once(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    folder = tmp_path / "index"
    Library.open(folder, fake_embedder, create=True).close()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder)]) for _ in range(2)]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    library = Library.open(folder, fake_embedder)
    store = library.storage.store
    assert store.total("articles") == 40
    assert store.total("passages") == 40
    duplicates = store.db.execute(
        "SELECT COUNT(*) FROM (SELECT article_id, position FROM passages "
        "GROUP BY article_id, position HAVING COUNT(*) > 1)").fetchone()[0]
    assert duplicates == 0
    assert library.info().dense_vectors == 40
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
