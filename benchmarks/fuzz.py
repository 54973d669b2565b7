"""Hostile files and questions through the corpus loaders and the index; one markdown table.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/fuzz.py [--files 10000] [--questions 2000]

Generates (seeded) files in every supported format, most of them hostile: malformed and
truncated JSON, 400- and 5,000-digit numbers, brackets nested 100k deep, lone surrogates
(escaped in JSON and as undecodable bytes in text and file names), binary and compressed
bytes, long runs of spaces, dots, stars and brackets (the inputs that made patterns
quadratic), entity declarations, deep HTML, plus symbolic-link loops, broken links and a
FIFO. A share are good articles, each with unique text, which must all come through.

Stages, each counting crashes (any exception but the layer's own refusal), hangs (an item
over the time limit, cut by SIGALRM), silent drops (a file that neither yields an article
nor a skip line) and good files lost:

1. `parse_document` on every file's bytes (uploads): only CorpusError may come out;
2. `load_path` on the folder (builds, start-up sync): every file accounted for;
3. `Library.build` on half the articles and `Library.add_articles` on the rest, with the
   test embedder (`FakeEmbedder`) in a temp folder: every good file's article stored;
4. hostile questions through `Library.ask` and `Library.search`: only QuestionError may
   come out.

Run it after changing loaders, cleaning, chunking or question handling; all four columns
must stay 0.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus import CorpusError, LoadReport, load_path, parse_document
from corpus.text import display_path
from index.embedder import FakeEmbedder
from index.errors import QuestionError
from index.library import Library

GZIP_BOMB = gzip.compress(b"<html><body><p>" + b"a " * 5_000_000 + b"</p></body></html>")
WORDS = ("kim", "north", "met", "gala", "tour", "album", "premiere", "divorce", "wedding",
         "fans", "photos", "trip", "japan", "singer", "actress", "award", "criticized")


# ---------------------------------------------------------------------------------------
# Generated files


@dataclass(frozen=True)
class FuzzFile:
    name: bytes  # relative path as bytes: names may hold undecodable bytes
    data: bytes
    good: bool  # a well-formed article that must come through


def _story(rng: random.Random, serial: int, sentences: int = 4) -> tuple[str, str]:
    """A title and text no other file shares (the serial is spelled into both)."""
    tag = f"story{serial}x{rng.randrange(10**9)}"
    title = f"{rng.choice(WORDS).title()} {tag} {rng.choice(WORDS)}"
    text = " ".join(
        f"{rng.choice(WORDS).title()} {' '.join(rng.choices(WORDS, k=8))} {tag} number {n}."
        for n in range(sentences)
    )
    return title, text


def _good(rng: random.Random, serial: int) -> FuzzFile:
    title, text = _story(rng, serial)
    kind = rng.choice(("txt", "md", "html", "json", "jsonl"))
    if kind == "txt":
        data = f"{title}\n\n{text}\n".encode()
    elif kind == "md":
        data = f"---\ndate: 2023-07-30\n---\n# {title}\n\n**{text}**\n".encode()
    elif kind == "html":
        data = (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
                f"<p>{text}</p><p>{text.upper()}</p></article></body></html>").encode()
    elif kind == "json":
        data = json.dumps({"id": serial, "title": title, "text": text,
                           "url": f"https://example.com/{serial}", "date": 1690711200}).encode()
    else:
        data = (json.dumps({"id": f"a{serial}", "title": title, "text": text}) + "\n").encode()
    return FuzzFile(f"good/{serial:05d}.{kind}".encode(), data, good=True)


def _big(rng: random.Random) -> int:
    """A run length: mostly small, 1 in 20 long enough that quadratic code would show
    (the old heading pattern took 51 s at 32k; linear code takes milliseconds)."""
    return 32_000 if rng.random() < 0.05 else rng.choice((300, 2_000))


def _hostile_json(rng: random.Random, serial: int) -> bytes:
    title, text = _story(rng, serial, sentences=2)
    depth = rng.choice((1_000, 100_000))
    digits = rng.choice((400, 4_301, 20_000))
    choices: list[Callable[[], bytes]] = [
        lambda: json.dumps({"title": title, "text": text}).encode()[:-rng.randrange(1, 20)],
        lambda: b'{"title": "t", "text": "x y z", "date": ' + b"9" * digits + b"}",
        lambda: b'{"title": "t", "text": "x y z", "n": -' + b"1" * digits + b".5e9999}",
        lambda: b"[" * depth + b"]" * depth,
        lambda: b'{"a":' * depth + b"1" + b"}" * depth,
        lambda: b'{"title": "kim \\ud800", "text": "north \\udfff \\ud83d went", "id": "\\udc00"}',
        lambda: b'{"title": NaN, "text": Infinity, "date": -Infinity}',
        lambda: json.dumps([{"id": 1, "title": title, "text": text}] * 3).encode(),
        lambda: b"[]",
        lambda: b"{}",
        lambda: b"[" + b"1," * 10_000 + b"1]",
        lambda: json.dumps({"title": title, "text": text, "url": "http://a\n[x](http://evil)",
                            "link": "javascript:alert(1)"}).encode(),
        lambda: json.dumps({"title": [1], "text": {"a": text}, "body": 5,
                            "content": None}).encode(),
        lambda: json.dumps({"title": title, "text": "word " * _big(rng)}).encode(),
        lambda: json.dumps({"title": title, "text": "<p>" * _big(rng) + text}).encode(),
        lambda: json.dumps({"title": "\u2028" + title, "text": text + "\u2029\x00\x1b[2J"},
                           ensure_ascii=False).encode(),
        lambda: "\n".join([json.dumps({"title": title, "text": text}), "{bad", "[" * 5000,
                           "", "null", json.dumps({"text": "\u2028"}, ensure_ascii=False)]
                          ).encode(),
        lambda: os.urandom(rng.randrange(1, 3000)),
    ]
    return rng.choice(choices)()


def _hostile_text(rng: random.Random, serial: int) -> bytes:
    title, text = _story(rng, serial, sentences=2)
    n = _big(rng)
    runs = (" ", ".", "*", "**x ", "![", "[a](", "<", "`", "_", "# ", "\n \n", "'", "…", "?!",
            "Read more at ", "\r", "\t", "-", "> ", "&amp;")
    choices: list[Callable[[], bytes]] = [
        lambda: ("# a" + " " * n + "b\n\n" + text).encode(),
        lambda: (title + "\n\n" + rng.choice(runs) * (n // 4) + "x " + text).encode(),
        lambda: (rng.choice(runs) * n).encode(),
        lambda: os.urandom(rng.randrange(1, 5000)),
        lambda: (title + "\n\n" + text).encode("utf-16"),
        lambda: (title + "\n\n" + text + " caf\xe9 \xa3").encode("latin-1"),
        lambda: (title + "\n\n" + text).encode() + b"\xff\xfe\xed\xa0\x80",
        lambda: (title + "\n\n" + text).encode() + b"\x00",
        lambda: b" \n\t\r\n " * rng.randrange(1, 100),
        lambda: "".join(chr(rng.randrange(1, 0x2FFFF)) for _ in range(2000))
        .encode("utf-8", "surrogatepass"),
        lambda: ("\x1b[31m" + title + "\x07\n\n" + text + "\x85\x9b\x7f").encode(),
        lambda: ("---\ntitle: " + title + "\n" + "x: y\n" * _big(rng) + text).encode(),
        lambda: (">" * _big(rng) + " " + text).encode(),
        lambda: (title + "\n" + text + " " + "word " * rng.choice((_big(rng), 700_000))).encode(),
        lambda: base64.b64encode(os.urandom(_big(rng))),
    ]
    return rng.choice(choices)()


def _hostile_html(rng: random.Random, serial: int) -> bytes:
    title, text = _story(rng, serial, sentences=3)
    page = f"<html><body><article><h1>{title}</h1><p>{text}</p></article></body></html>"
    depth = _big(rng)
    choices: list[Callable[[], bytes]] = [
        lambda: ("<div>" * depth + text + "</div>" * depth).encode(),
        lambda: GZIP_BOMB,
        lambda: gzip.compress(page.encode()),
        lambda: ('<?xml version="1.0"?><!DOCTYPE html [<!ENTITY a "' + "x" * 100
                 + '"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><html><body><p>'
                 + "&b;" * 1000 + text + "</p></body></html>").encode(),
        lambda: f"<html><body><script>{'x' * _big(rng)}</script></body></html>".encode(),
        lambda: f'<html><body><p title="{"a" * _big(rng) * 3}">{text}</p></body></html>'.encode(),
        lambda: ("<" * _big(rng)).encode(),
        lambda: page.replace("<p>", "<p>\ud800").encode("utf-8", "surrogatepass"),
        lambda: page.encode()[: rng.randrange(1, len(page))],
        lambda: os.urandom(rng.randrange(1, 4000)),
        lambda: ('<html><head><link rel="canonical" href="javascript:alert(1)"></head>'
                 + page[6:]).encode(),
    ]
    return rng.choice(choices)()


def _hostile(rng: random.Random, serial: int) -> FuzzFile:
    family = rng.random()
    if family < 0.4:
        data = _hostile_json(rng, serial)
        suffix = rng.choice((".json", ".jsonl"))
    elif family < 0.75:
        data = _hostile_text(rng, serial)
        suffix = rng.choice((".txt", ".md", ".markdown"))
    elif family < 0.95:
        data = _hostile_html(rng, serial)
        suffix = rng.choice((".html", ".htm"))
    else:
        data = os.urandom(rng.randrange(0, 500))
        suffix = rng.choice((".pdf", "", ".TXT", ".json.gz", ".exe"))
    stem = rng.choice((b"%05d" % serial, b"caf\xff%05d" % serial, b"sp ace %05d" % serial,
                       "é✓%05d".encode() % serial, b"-%05d" % serial))
    return FuzzFile(b"hostile/" + stem + suffix.encode(), data, good=False)


def generate(count: int, seed: int) -> list[FuzzFile]:
    rng = random.Random(seed)
    return [_good(rng, n) if rng.random() < 0.3 else _hostile(rng, n) for n in range(count)]


def write(folder: Path, files: list[FuzzFile]) -> None:
    for file in files:
        path = Path(os.fsdecode(os.path.join(os.fsencode(folder), file.name)))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.data)
    links = folder / "links"
    links.mkdir()
    (links / "loop.txt").symlink_to(links / "loop.txt")
    (links / "broken.txt").symlink_to(links / "missing.txt")
    (links / "parent").symlink_to(folder)
    os.mkfifo(links / "pipe.txt")


# ---------------------------------------------------------------------------------------
# Hostile questions


def questions(count: int, seed: int) -> list[str]:
    rng = random.Random(seed + 1)
    fixed = ["", " ", "\x00", "\ud800", "kim \ud800", "<@123>", "<@&1> <#2>", "?" * 500,
             "x" * 10_000, '"', "*", "NEAR(kim north)", "kim AND OR NOT", "^kim", "title:kim",
             "'; DROP TABLE articles; --", "kim\x00north", "\u202eenoyreve", "🎤" * 100,
             "\n\n\n", "why was kim criticized?", "a" * 501, "\u200b" * 50, "() [] {}",
             "kim -north", "kim*", "\"unbalanced", "NOT", "col:umn:kim", "\\", "%_%"]
    alphabet = "abc kim north \"*()^:-+'~.,?!\\\x00\x1b\u2028\ud800\udfff🎤é✓<@#>&|"
    out = list(fixed)
    while len(out) < count:
        length = rng.choice((1, 5, 20, 80, 400, 600))
        out.append("".join(rng.choice(alphabet) for _ in range(length)))
    return out[:count]


# ---------------------------------------------------------------------------------------
# Running


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Hang in this thread after `seconds` (regex and parser loops check signals)."""
    def alarm(signum: int, frame: object) -> None:
        raise Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Stage:
    name: str
    items: int = 0
    crashes: int = 0
    hangs: int = 0
    silent_drops: int = 0
    good_lost: int = 0
    slowest: float = 0.0
    slowest_label: str = ""
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(what)

    def run(self, label: str, call: Callable[[], object], allowed: type[BaseException],
            limit: float) -> object | None:
        """`call()` timed and guarded; None when it raised `allowed`, crashed or hung."""
        self.items += 1
        started = time.perf_counter()
        try:
            with time_limit(limit):
                return call()
        except Hang:
            self.hangs += 1
            self.note(f"hang: {label}")
        except allowed:
            pass
        except Exception as error:  # counting them is the point
            self.crashes += 1
            self.note(f"crash: {label}: {type(error).__name__}: {str(error)[:80]}")
        finally:
            elapsed = time.perf_counter() - started
            if elapsed > self.slowest:
                self.slowest, self.slowest_label = elapsed, label
            self.seconds += elapsed
        return None


def stage_parse(files: list[FuzzFile], limit: float) -> Stage:
    stage = Stage("parse_document (uploads)")
    for file in files:
        name = os.fsdecode(file.name)
        result = stage.run(repr(file.name), lambda n=name, d=file.data: parse_document(n, d),
                           CorpusError, limit)
        if file.good and not result:
            stage.good_lost += 1
            stage.note(f"good file lost: {file.name!r}")
    return stage


def stage_load(folder: Path, files: list[FuzzFile], limit: float) -> tuple[Stage, LoadReport]:
    stage = Stage("load_path (folder build)")
    report = stage.run("load_path", lambda: load_path(folder), Exception, limit)
    stage.items = len(files)
    if not isinstance(report, LoadReport):
        stage.crashes += 1
        return stage, LoadReport()
    sources = {article.source for article in report.articles}
    skipped = {skip.path for skip in report.skipped}
    skipped_records = {skip.path.rsplit(":", 1)[0] for skip in report.skipped}
    dropped = {key.split("#", 1)[0] for key, _kept in report.duplicates}
    accounted = sources | skipped | skipped_records | dropped
    for file in files:
        path = display_path(os.fsdecode(file.name))
        if path not in accounted:
            stage.silent_drops += 1
            stage.note(f"silent drop: {path!r}")
        if file.good and path not in sources:
            stage.good_lost += 1
            stage.note(f"good file lost: {path!r}")
    for special in ("links/loop.txt", "links/broken.txt", "links/pipe.txt", "links/parent/"):
        stage.items += 1
        if special not in skipped:
            stage.silent_drops += 1
            stage.note(f"silent drop: {special}")
    return stage, report


def stage_index(folder: Path, files: list[FuzzFile], report: LoadReport,
                limit: float) -> tuple[Stage, Library | None]:
    stage = Stage("Library.build + add_articles")
    library = stage.run("open", lambda: Library.open(folder, FakeEmbedder(), create=True),
                        Exception, limit)
    if not isinstance(library, Library):
        stage.crashes += 1
        return stage, None
    half = len(report.articles) // 2
    stage.run("build", lambda: library.build(report.articles[:half]), Exception, limit * 60)
    stage.run("add_articles", lambda: library.add_articles(report.articles[half:]), Exception,
              limit * 60)
    stage.items = len(report.articles)
    stored = {info.source for info in library.list_articles(limit=library.count_articles() + 1)}
    for file in files:
        path = display_path(os.fsdecode(file.name))
        if file.good and path not in stored:
            stage.good_lost += 1
            stage.note(f"good file lost in the index: {path!r}")
    return stage, library


def stage_questions(library: Library, asked: list[str], limit: float) -> Stage:
    stage = Stage("ask + search (questions)")
    for question in asked:
        stage.run(repr(question[:40]), lambda q=question: library.ask(q), QuestionError, limit)
        stage.run(repr(question[:40]), lambda q=question: library.search(q), QuestionError,
                  limit)
    return stage


def progress(stage: Stage) -> Stage:
    print(f"{stage.name}: {stage.items:,} items in {stage.seconds:.0f} s", file=sys.stderr)
    return stage


def table(stages: list[Stage], limit: float) -> str:
    lines = [
        f"| stage | items | crashes | hangs (> {limit:g} s) | silent drops | good files lost "
        "| slowest item (s) | total (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in stages:
        lines.append(f"| {s.name} | {s.items:,} | {s.crashes} | {s.hangs} | {s.silent_drops} "
                     f"| {s.good_lost} | {s.slowest:.2f} | {s.seconds:.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=2_000)
    parser.add_argument("--uploads", type=int, default=None,
                        help="send only the first N files through parse_document too")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--limit", type=float, default=10.0, help="seconds per item")
    args = parser.parse_args()
    started = time.perf_counter()
    files = generate(args.files, args.seed)
    with tempfile.TemporaryDirectory(prefix="spotlight-fuzz-") as temp:
        corpus_dir = Path(temp) / "corpus"
        write(corpus_dir, files)
        stages = [progress(stage_parse(files[: args.uploads], args.limit))]
        load_stage, report = stage_load(corpus_dir, files, args.limit * 100)
        stages.append(progress(load_stage))
        index_stage, library = stage_index(Path(temp) / "index", files, report, args.limit)
        stages.append(progress(index_stage))
        if library is not None:
            try:
                asked = questions(args.questions, args.seed)
                stages.append(progress(stage_questions(library, asked, args.limit)))
            finally:
                library.close()
    good = sum(f.good for f in files)
    print(f"{len(files):,} files ({good:,} good, {len(files) - good:,} hostile) + 4 links/FIFO, "
          f"{args.questions:,} questions (each asked and searched), seed {args.seed}, "
          f"{time.perf_counter() - started:.0f} s\n")
    print(table(stages, args.limit))
    print("\nSlowest items: " + "; ".join(f"{s.name}: {s.slowest_label[:60]}" for s in stages))
    problems = [example for stage in stages for example in stage.examples]
    if problems:
        print("\nFirst problems:\n" + "\n".join(f"- {p}" for p in problems))
    failed = any(s.crashes or s.hangs or s.silent_drops or s.good_lost for s in stages)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
