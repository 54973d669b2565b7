"""`python -m index build|add|remove|info|search|ask|migrate|export`: the whole engine
without Discord, on the index folder or, with `--database-url` (or
SPOTLIGHT_DATABASE_URL), on PostgreSQL."""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from dotenv import load_dotenv
from tqdm import tqdm

from corpus import load_path
from corpus.errors import CorpusError
from corpus.records import LoadReport
from index.config import LibraryConfig, database_url
from index.embedder import Embedder, make_embedder, resolve_backend
from index.errors import IndexError_, QuestionError
from index.feeds import cli as feed_commands
from index.library import Library, open_library
from index.paths import default_index_dir
from index.results import AddReport, Answer, Hit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m index",
        description="Build and query Spotlight's article index.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, *, database: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--index", type=Path, default=None,
                         help="index folder (default: $SPOTLIGHT_INDEX_DIR or data/index)")
        if database:
            sub.add_argument("--database-url", metavar="URL", default=None,
                             help="the library in PostgreSQL instead of the index folder "
                                  "(default: $SPOTLIGHT_DATABASE_URL)")
        return sub

    build = command("build", "Index a corpus folder or file; unchanged articles are skipped.")
    build.add_argument("--corpus", type=Path, required=True, help="folder or file of articles")
    build.add_argument("--rebuild", action="store_true",
                       help="start from an empty index (after a model change); on PostgreSQL "
                            "the library is emptied first (questions are kept)")
    add = command("add", "Add articles from a file or folder, keeping what is there.")
    add.add_argument("path", type=Path)
    remove = command("remove", "Remove an article by its id (see `search` or `info`).")
    remove.add_argument("article_id")
    info = command("info", "What the index holds and how it was built.")
    info.add_argument("--json", action="store_true")
    search = command("search", "The best passages for a query, one per article.")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=5)
    search.add_argument("--mode", choices=("hybrid", "dense", "keyword"), default="hybrid")
    search.add_argument("--json", action="store_true")
    ask = command("ask", "Answer questions with quoted, cited sentences (or abstain).")
    ask.add_argument("question", nargs="?")
    ask.add_argument("--questions", type=Path, help="a file with one question per line")
    ask.add_argument("--k", type=int, default=3)
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    feeds = command("feeds", "The operator's global feeds: add URL, list, remove URL.")
    feeds.add_argument("action", choices=("add", "list", "remove"))
    feeds.add_argument("url", nargs="?")
    watch = command("watch", "Poll every due feed and add what is new; one line per feed.")
    watch.add_argument("--once", action="store_true", help="one round, then exit (cron)")
    watch.add_argument("--interval", type=float, default=None, metavar="SECONDS",
                       help="poll each feed this often (default $SPOTLIGHT_FEED_INTERVAL_MINUTES"
                            " or 15 min; never below the minimum nor the feed's TTL)")
    command("migrate", "Bring the PostgreSQL schema up to date (library and feeds).")
    command("upgrade", "Store what this version keeps per passage (each sentence's words, "
                       "stems and flags) for passages stored before: the same answers, a new "
                       "question's ~1 ms quicker. Safe beside a running bot.")
    export = command("export", "Copy the library, vectors included (no re-embedding), from "
                               "the index folder into PostgreSQL or back.", database=False)
    direction = export.add_mutually_exclusive_group(required=True)
    direction.add_argument("--to", metavar="URL",
                           help="copy the index folder into this database (its library empty)")
    direction.add_argument("--from", dest="source", metavar="URL",
                           help="copy this database's library into the index folder (new)")
    return parser


@contextmanager
def _progress(description: str) -> Iterator:
    bar = tqdm(total=0, unit="passage", desc=description, file=sys.stderr, leave=False)

    def update(done: int, total: int | None) -> None:
        bar.total = total  # None: a running count (how many are left is not known)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def _load(path: Path) -> LoadReport:
    if not path.exists():
        raise CorpusError(f"{path} does not exist.")
    loaded = load_path(path)
    for skipped in loaded.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    if not loaded.articles:
        raise CorpusError(
            f"No articles found in {path} ({len(loaded.skipped)} files skipped); "
            "the index was left as it was."
        )
    return loaded


def _summary(verb: str, folder: Path | str, loaded: LoadReport, report: AddReport,
             seconds: float) -> str:
    return (
        f"{verb} {folder}: {len(loaded.articles)} articles read "
        f"({len(report.added)} new, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.removed)} removed), "
        f"{report.passages} passages embedded, {len(loaded.skipped)} files skipped, "
        f"{len(loaded.duplicates) + len(report.duplicates)} duplicates, {seconds:.1f} s"
    )


def _swap_in(new_folder: Path, folder: Path) -> None:
    """Replace an index folder by a finished one; the old one served until this moment."""
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new_folder.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _build(args: argparse.Namespace, folder: Path, embedder: Embedder, config: LibraryConfig,
           out: TextIO) -> None:
    started = time.perf_counter()
    loaded = _load(args.corpus)
    swap = args.rebuild and config.database_url is None
    target = folder.with_name(folder.name + ".new") if swap else folder
    if swap:
        shutil.rmtree(target, ignore_errors=True)
    elif args.rebuild:
        _drop_database_library(config.database_url)
    library = open_library(config, embedder, folder=target, create=True)
    try:
        with _progress("embedding") as progress:
            # A file that is there but unreadable right now keeps its indexed articles.
            report = library.build(loaded.articles, progress=progress,
                                   keep_sources=[skipped.path for skipped in loaded.skipped])
    finally:
        library.close()
    if swap:
        _swap_in(target, folder)
    print(_summary("Built", library.storage.location if config.database_url else folder,
                   loaded, report, time.perf_counter() - started), file=out)


def _print_hits(hits: Sequence[Hit], out: TextIO) -> None:
    for hit in hits:
        where = hit.url or hit.source
        date = f", {hit.date}" if hit.date else ""
        print(f"{hit.rank}. {hit.title}{date}  [{hit.article_id}]  {where}", file=out)
        print(f"   {hit.passage[:300]}", file=out)


def _print_answer(answer: Answer, out: TextIO) -> None:
    print(f"Q: {answer.question}", file=out)
    if answer.abstained:
        print("I don't know: my articles don't cover that. Closest articles:", file=out)
        _print_hits(answer.hits, out)
        return
    if answer.text is not None:
        print(f"  {answer.text}", file=out)
    if answer.note:
        print(f"  ({answer.note})", file=out)
    for quote in answer.quotes:
        print(f'  "{quote.text}" [{quote.citation}]', file=out)
    print("Sources:", file=out)
    for citation in answer.citations:
        date = f", {citation.date}" if citation.date else ""
        print(f"  [{citation.number}] {citation.title}{date}  {citation.url or citation.source}",
              file=out)


def _questions(args: argparse.Namespace) -> list[str]:
    if args.questions:
        try:
            lines = args.questions.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise CorpusError(f"{args.questions} is not UTF-8 text (byte {error.start})") from None
        return [line for line in lines if line.strip()]
    if args.question is None:
        raise SystemExit("ask: give a QUESTION or --questions FILE")
    return [args.question]


def _query(args: argparse.Namespace, library: Library, out: TextIO) -> None:
    if args.command == "info":
        info = library.info()
        if args.json:
            print(json.dumps(info.__dict__, indent=2), file=out)
        else:
            for key, value in info.__dict__.items():
                print(f"{key:>15}: {value}", file=out)
    elif args.command == "search":
        hits = library.search(args.query, k=args.k, mode=args.mode)
        if args.json:
            print(json.dumps([hit.to_json() for hit in hits], ensure_ascii=False), file=out)
        else:
            _print_hits(hits, out)
    elif args.command == "ask":
        for question in _questions(args):
            try:
                answer = library.ask(question, k=args.k)
            except QuestionError as error:
                if not args.questions:
                    raise
                # One unusable line (empty once cleaned, too long) must not end the file.
                print(f"skipped question {question[:60]!r}: {error}", file=sys.stderr)
                continue
            if args.json:
                print(json.dumps(answer.to_json(), ensure_ascii=False), file=out, flush=True)
            else:
                _print_answer(answer, out)
                print(file=out)


def _url_option(option: str, value: str) -> str:
    try:
        return database_url(value)
    except ValueError as error:  # the value is not echoed: it may hold a password
        raise ValueError(f"{option} {error}") from None


def _drop_database_library(url: str) -> None:
    from index.pg.storage import drop_library, open_database

    database = open_database(url)
    try:
        drop_library(database)
    finally:
        database.close()


def _migrate(config: LibraryConfig, out: TextIO) -> None:
    if config.database_url is None:
        raise ValueError("migrate needs a PostgreSQL database: give --database-url URL or set "
                         "SPOTLIGHT_DATABASE_URL")
    from index.pg.database import Database
    from index.pg.schema import migrate_all

    database = Database.open(config.database_url)
    try:
        for migrated in migrate_all(database):
            print(migrated, file=out)
    finally:
        database.close()


def _export(args: argparse.Namespace, folder: Path, out: TextIO) -> None:
    from index.embedded_transfer import EmbeddedSource, EmbeddedTarget
    from index.pg.transfer import PgSource, PgTarget
    from index.pg.urls import redact
    from index.transfer import copy_library

    url = _url_option("--to" if args.to else "--from", args.to or args.source)
    started = time.perf_counter()
    if args.to:
        counts = copy_library(EmbeddedSource(folder), PgTarget(url))
        where = f"from {folder} to {redact(url)}"
    else:
        counts = copy_library(PgSource(url), EmbeddedTarget(folder))
        where = f"from {redact(url)} to {folder}"
    print(f"Exported {counts} {where} in {time.perf_counter() - started:.1f} s "
          "(vectors copied, nothing re-embedded).", file=out)


def run(argv: Sequence[str] | None = None, *, embedder: Embedder | None = None,
        out: TextIO | None = None) -> int:
    out = out or sys.stdout
    load_dotenv()  # the same .env as the bot, so SPOTLIGHT_DATA_DIR moves both
    args = _parser().parse_args(argv)
    folder = args.index or default_index_dir()
    try:
        config = LibraryConfig.from_env()  # the bot's limits and LLM settings, from .env too
        if getattr(args, "database_url", None):
            config = replace(config, database_url=_url_option("--database-url",
                                                              args.database_url))
        resolve_backend()  # an unknown SPOTLIGHT_EMBEDDING_BACKEND is a one-line error
        if args.command == "migrate":  # no model needed
            _migrate(config, out)
            return 0
        if args.command == "export":  # vectors are copied, not computed: no model either
            _export(args, folder, out)
            return 0
    except (ValueError, IndexError_, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "feeds":  # no model needed: subscriptions only
        return feed_commands.manage(args.action, args.url, folder, out,
                                    database_url=config.database_url)
    try:
        embedder = embedder or make_embedder()  # SPOTLIGHT_EMBEDDING_BACKEND, else onnx-fp32
        if args.command == "watch":
            return feed_commands.watch(folder, embedder, config, out, once=args.once,
                                       interval=args.interval)
        if args.command == "build":
            _build(args, folder, embedder, config, out)
            return 0
        library = open_library(config, embedder, folder=folder)
        try:
            if args.command == "add":
                started = time.perf_counter()
                loaded = _load(args.path)
                with _progress("embedding") as progress:
                    report = library.add_articles(loaded.articles, progress=progress)
                print(_summary("Added to", library.storage.location, loaded, report,
                               time.perf_counter() - started), file=out)
            elif args.command == "upgrade":
                filled = 0
                with _progress("sentence signals") as progress:
                    for filled in library.fill_signals():
                        progress(filled, None)
                print(f"Stored the sentence signals of {filled} passages in "
                      f"{library.storage.location}.", file=out)
            elif args.command == "remove":
                removed = library.remove(args.article_id)
                print(f"Removed {args.article_id}." if removed
                      else f"No global article {args.article_id}.", file=out)
                return 0 if removed else 1
            else:
                _query(args, library, out)
        finally:
            library.close()
    except (IndexError_, CorpusError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as error:  # a damaged or foreign store.sqlite
        print(f"error: the index at {folder} is unreadable ({error}); "
              "rebuild it with `build --rebuild`", file=sys.stderr)
        return 2
    return 0
