"""Keyword search on PostgreSQL, ranked by the same bm25 as the embedded index's FTS5.

`bm25(passages_fts, 0.5, 1.0)` (index/store.py) sums, over the question's content words,
idf * f * (k1 + 1) / (f + k1 * (1 - b + b * length / average length)), where f is the
word's count in the body plus half its count in the title, and idf and the average come
from every passage (all scopes). PostgreSQL has no bm25, so it is computed here:

- counts: `ts_rank` of a one-word query over positions of one weight only gives
  H(f) / 1.6449 with H(f) = 1 + 1/4 + ... + 1/f² (the body's positions come first in the
  tsvector, see index/pg/library_schema.py), and H is inverted exactly with
  pi²/6 - H(f) ≈ 1 / (f + 0.5);
- cost: a word contributes at most idf * (k1 + 1), so passages whose words cannot add up
  to the k-th best score are never scored. The candidates are the passages holding one of
  the smallest sets of words whose bounds reach a threshold (a tsquery of ANDs under an
  OR). The first pass takes the passages holding every word, lowering the threshold while
  fewer than k are found; the k-th score found then is the threshold of a last pass,
  which makes the result exact.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.parts import Query, Ranking
from index.pg.connections import Connections
from index.terms import content_words

K1, B = 1.2, 0.75
BODY_WEIGHT, TITLE_WEIGHT = 1.0, 0.5  # FTS5's bm25(passages_fts, 0.5, 1.0): title, body
ZETA2 = math.pi ** 2 / 6
RANK_SCALE = 1.64493406685  # the constant ts_rank divides by (tsrank.c)
# The first pass's threshold, as a share of what all the question's words could score
# (1.0: the passages holding every word), and what each pass that found fewer than k
# multiplies it by. Chosen on the 100k tier (benchmarks/postgres.py): a pass finding fewer
# than k was cheap by definition, so small steps down cost little.
FIRST_PASS_SHARE = 1.0
SHRINK = 0.6
MAX_CLAUSES = 64
MAX_PRUNED_TERMS = 12
# Up to this many passages holding a word, scoring them all at once is cheaper than two
# passes (each candidate costs two ts_rank calls per word).
SCORE_ALL_BELOW = 2_000
_LEXEME = re.compile(r"[^\s'\\:&|!()<>*]+")
_CACHE_LIMIT = 50_000


@dataclass(frozen=True)
class Term:
    lexeme: str
    idf: float
    holding: int = 0  # passages holding it, all scopes

    @property
    def tsquery(self) -> str:
        return f"'{self.lexeme}'"

    @property
    def bound(self) -> float:
        """No passage scores more than this on this word, however often it holds it."""
        return self.idf * (K1 + 1)


def idf(passages: int, holding: int) -> float:
    """FTS5's: ln((N - n + 0.5) / (n + 0.5)), and 1e-6 for a word in over half of them.
    (n is counted after N: a write committed in between may make it the larger.)"""
    holding = min(holding, passages)
    value = math.log((passages - holding + 0.5) / (holding + 0.5))
    return value if value > 0 else 1e-6


def clauses(bounds: Sequence[float], threshold: float,
            limit: int = MAX_CLAUSES) -> list[tuple[int, ...]] | None:
    """The smallest sets of words (indexes into `bounds`) whose bounds reach `threshold`:
    a passage holding none of these sets scores below it. None when there are more than
    `limit` (then every passage holding any word is a candidate)."""
    order = sorted(range(len(bounds)), key=lambda i: -bounds[i])
    suffix = [0.0] * (len(order) + 1)
    for at in range(len(order) - 1, -1, -1):
        suffix[at] = suffix[at + 1] + bounds[order[at]]
    found: list[tuple[int, ...]] = []

    def extend(start: int, chosen: tuple[int, ...], total: float) -> bool:
        for at in range(start, len(order)):
            if total + suffix[at] < threshold:
                return True
            word = order[at]
            if total + bounds[word] >= threshold:  # minimal: bounds only shrink from here
                found.append(tuple(sorted((*chosen, word))))
                if len(found) > limit:
                    return False
            elif not extend(at + 1, (*chosen, word), total + bounds[word]):
                return False
        return True

    return sorted(found) if extend(0, (), 0.0) else None


_SCOPE = re.compile(r"\w+")


def in_scopes(match: str, scopes: Sequence[str]) -> str:
    """`match`, within `scopes`: each passage's keywords hold its scope as 'scope:<scope>'
    (index/pg/library_schema.py), so the GIN index alone finds a scope's passages."""
    if not all(_SCOPE.fullmatch(scope) for scope in scopes):
        raise ValueError(f"not a scope: {scopes!r}")
    return f"({match}) & (" + " | ".join(f"'scope:{scope}'" for scope in scopes) + ")"


def match_query(terms: Sequence[Term], groups: list[tuple[int, ...]] | None) -> str:
    """A tsquery: any word (groups None), or any of the groups with all its words."""
    if groups is None:
        return " | ".join(term.tsquery for term in terms)
    return " | ".join("(" + " & ".join(terms[i].tsquery for i in group) + ")"
                      for group in groups)


def _score_sql(terms: Sequence[Term]) -> str:
    """bm25 of every candidate (`keywords @@ %(match)s` within `%(scopes)s`), best first."""
    ranks = ", ".join(
        f"ts_rank('{{0,0,0,1}}', keywords, %(t{i})s::tsquery)::float8 AS a{i}, "
        f"ts_rank('{{0,0,1,0}}', keywords, %(t{i})s::tsquery)::float8 AS b{i}"
        for i in range(len(terms)))
    body = ", ".join(
        f"round(1 / greatest({ZETA2!r} - a{i} * {RANK_SCALE!r}, 1e-6) - 0.5) AS body{i}, "
        f"b{i} * {RANK_SCALE!r} AS title_rank{i}" for i in range(len(terms)))
    weighted = ", ".join(
        f"body{i} * {BODY_WEIGHT!r} + {TITLE_WEIGHT!r} * CASE WHEN title_rank{i} < 0.5 "
        f"THEN 0 ELSE round(1 / greatest(1 / (body{i} + 1.5) - (title_rank{i} - 1), 1e-6)"
        f" - body{i} - 0.5) END AS f{i}" for i in range(len(terms)))
    norm = f"{K1!r} * ({1 - B!r} + {B!r} * length / %(average)s)"
    score = " + ".join(f"%(idf{i})s * f{i} * {K1 + 1!r} / (f{i} + {norm})"
                       for i in range(len(terms)))
    # OFFSET 0 keeps each level a subquery of its own, so every ts_rank runs once per
    # candidate (inlined, each reference would run it again), and the tsvector is read
    # (detoasted) once per candidate, not once per ts_rank.
    return (
        f"SELECT id, {score} AS score FROM ("
        f" SELECT id, length, {weighted} FROM ("
        f"  SELECT id, length, {body} FROM ("
        f"   SELECT id, length, {ranks} FROM ("
        f"    SELECT id, length, keywords || ''::tsvector AS keywords FROM passages"
        f"    WHERE keywords @@ %(match)s::tsquery AND scope = ANY(%(scopes)s) OFFSET 0"
        f"   ) found OFFSET 0) ranked OFFSET 0) counted OFFSET 0) weighed"
        f" ORDER BY score DESC, id LIMIT %(k)s")


class Lexicon:
    """Words to the lexemes the database's text search makes of them (cached)."""

    def __init__(self, database: Connections) -> None:
        self._database = database
        self._known: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def lexemes(self, words: Sequence[str]) -> list[tuple[str, ...]]:
        missing = [word for word in dict.fromkeys(words) if word not in self._known]
        if missing:
            with self._database.connection() as connection:
                rows = connection.execute(
                    "SELECT w, ARRAY(SELECT lexeme FROM unnest(to_tsvector('spotlight', "
                    "spotlight_words(w)))) FROM unnest(%s::text[]) AS w", (missing,)).fetchall()
            with self._lock:
                if len(self._known) > _CACHE_LIMIT:
                    self._known.clear()
                self._known.update(
                    (word, tuple(lexeme for lexeme in lexemes if _LEXEME.fullmatch(lexeme)))
                    for word, lexemes in rows)
        return [self._known.get(word, ()) for word in words]


_SCOPES_HELD = """
WITH RECURSIVE held AS (
    (SELECT scope FROM passages ORDER BY scope LIMIT 1)
    UNION ALL
    SELECT (SELECT scope FROM passages WHERE scope > held.scope ORDER BY scope LIMIT 1)
    FROM held WHERE held.scope IS NOT NULL)
SELECT scope FROM held WHERE scope IS NOT NULL"""  # one index probe per scope


class CollectionStatistics:
    """Passages, their average length, each lexeme's passage count over the whole library
    (as FTS5 counts) and the scopes that hold passages, cached per library generation."""

    def __init__(self, database: Connections, generation: Callable[[], int]) -> None:
        self._database = database
        self._generation = generation
        self._at = -1
        self._totals = (0, 0.0)
        self._holding: dict[str, int] = {}
        self._scopes: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def _current(self) -> int:
        generation = self._generation()
        with self._lock:
            if generation != self._at:
                self._at, self._holding = generation, {}
                self._totals, self._scopes = self._count()
        return generation

    def terms(self, lexemes: Sequence[str]) -> tuple[list[Term], float]:
        """(a Term per lexeme, the average passage length)."""
        generation = self._current()
        with self._lock:
            holding = dict(self._holding)
        missing = [lexeme for lexeme in dict.fromkeys(lexemes) if lexeme not in holding]
        if missing:
            with self._database.connection() as connection:
                rows = connection.execute(
                    "SELECT t, (SELECT count(*) FROM passages WHERE keywords @@ "
                    "quote_literal(t)::tsquery) FROM unnest(%s::text[]) AS t",
                    (missing,)).fetchall()
            holding.update((lexeme, int(count)) for lexeme, count in rows)
            with self._lock:
                if self._at == generation:
                    self._holding.update(holding)
        passages, average = self._totals
        return [Term(lexeme, idf(passages, holding[lexeme]), holding[lexeme])
                for lexeme in lexemes], average

    def passages_holding(self, lexemes: Sequence[str], scopes: Sequence[str]) -> int:
        """Passages within `scopes` holding every lexeme: all that hold them, less those of
        the other scopes. Index lookups only: servers' own scopes are small beside the
        global one, whose posting list a direct count would have to read."""
        self._current()
        match = " & ".join(f"'{lexeme}'" for lexeme in lexemes)
        others = sorted(self._scopes - set(scopes))
        count = "(SELECT count(*) FROM passages WHERE keywords @@ %s::tsquery)"
        if not others:
            query, parameters = f"SELECT {count}", (match,)
        else:
            # One statement, so one snapshot: counted apart, a passage committed between
            # the two counts made the difference -1 (a division by zero in the idf).
            query, parameters = f"SELECT {count} - {count}", (match, in_scopes(match, others))
        with self._database.connection() as connection:
            return int(connection.execute(query, parameters).fetchone()[0])

    def _count(self) -> tuple[tuple[int, float], frozenset[str]]:
        with self._database.connection() as connection:
            passages, average = connection.execute(
                "SELECT count(*), coalesce(avg(length), 0)::float8 FROM passages").fetchone()
            scopes = frozenset(row[0] for row in connection.execute(_SCOPES_HELD))
        return (int(passages), float(average)), scopes


class PgKeywordRetriever:
    """Words: bm25 over the question's content words, as the embedded KeywordRetriever
    ranks them, within the asker's scopes (a WHERE clause of the one query)."""

    name = "keyword"
    # Run in the asking thread: its queries use the connection pinned to it (reading()).
    needs_vector = True

    def __init__(self, database: Connections, lexicon: Lexicon,
                 statistics: CollectionStatistics) -> None:
        self._database = database
        self._lexicon = lexicon
        self._statistics = statistics

    def retrieve(self, query: Query, k: int) -> Ranking:
        # One term per word, as FTS5 has one phrase per word (two words with one stem
        # count twice there too).
        lexemes = [lexeme for group in self._lexicon.lexemes(content_words(query.text))
                   for lexeme in group]
        if not lexemes:
            return []
        terms, average = self._statistics.terms(lexemes)
        return self._search(terms, average, query.scopes, k)

    def _search(self, terms: list[Term], average: float, scopes: tuple[str, ...],
                k: int) -> Ranking:
        bounds = [term.bound for term in terms]
        prune = (len(terms) <= MAX_PRUNED_TERMS
                 and sum(term.holding for term in terms) > SCORE_ALL_BELOW)
        threshold = FIRST_PASS_SHARE * sum(bounds)
        while True:
            groups = clauses(bounds, threshold) if prune and threshold > min(bounds) else None
            found = self._score(terms, average, scopes, k, groups) if groups != [] else []
            if groups is None:
                return found  # every passage holding any word was a candidate
            if len(found) == k:
                kth = found[-1][1]
                # Passages left out score below `threshold`; the k-th found beats them,
                # or every passage able to beat the k-th was a candidate already.
                if kth >= threshold or clauses(bounds, kth) == groups:
                    return found
                threshold = kth
            else:
                threshold *= SHRINK

    def _score(self, terms: list[Term], average: float, scopes: tuple[str, ...], k: int,
               groups: list[tuple[int, ...]] | None) -> Ranking:
        params: dict[str, object] = {
            "match": match_query(terms, groups), "scopes": list(scopes), "k": k,
            "average": max(average, 1e-9)}
        for i, term in enumerate(terms):
            params[f"t{i}"] = term.tsquery
            params[f"idf{i}"] = term.idf
        with self._database.connection() as connection:
            rows = connection.execute(_score_sql(terms), params).fetchall()
        return [(int(passage_id), float(score)) for passage_id, score in rows]
