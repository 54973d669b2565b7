"""Dense search on PostgreSQL: cosine over pgvector, within the asker's scopes.

The HNSW index holds the global passages only (a partial index, `WHERE scope =
'global'`), so its search never spends its candidates on other servers' passages: a
server with a few articles among many still gets its k results, and no server's passage
can leak into another's search. A server's own passages are searched exactly (its rows
through the scope index), and the two lists are merged in the same query.

pgvector 0.6 has no iterative index scans: an HNSW scan returns at most `hnsw.ef_search`
rows, so it is set to at least k for each search (SET LOCAL, in the query's transaction).
"""

from __future__ import annotations

import numpy as np

from index.parts import Query, Ranking
from index.pg.connections import Connections
from index.records import GLOBAL_SCOPE

# Graph degree and build-time candidate list of the HNSW index, and the search-time list,
# chosen in benchmarks/postgres.py (benchmarks/README.md, "PostgreSQL"): at 100k passages
# the smallest setting whose 50 candidates hold 99% of an exact search's (pgvector's
# defaults, m 16 and ef_construction 64, held 98.7% at ef_search 400).
HNSW_M = 24
HNSW_EF_CONSTRUCTION = 128
EF_SEARCH = 250
HNSW_INDEX = "passages_dense_global"


def vector_column_sql(dim: int) -> str:
    """The vector column's dimension, set when a library is created (the model's)."""
    return f"ALTER TABLE passages ALTER COLUMN vector TYPE vector({int(dim)})"


def hnsw_index_sql() -> str:
    return (f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON passages USING hnsw "
            f"(vector vector_cosine_ops) WITH (m = {HNSW_M}, ef_construction = "
            f"{HNSW_EF_CONSTRUCTION}) WHERE scope = '{GLOBAL_SCOPE}'")


def _scope_search(scope: str, at: int) -> str:
    """Nearest passages of one scope. The global scope is written out, so the planner
    can use the partial HNSW index; a server's scope is a parameter (exact search)."""
    where = f"scope = '{GLOBAL_SCOPE}'" if scope == GLOBAL_SCOPE else f"scope = %(scope{at})s"
    return (f"(SELECT id, vector <=> %(vector)s AS distance FROM passages WHERE {where} "
            f"ORDER BY vector <=> %(vector)s LIMIT %(k)s)")


class PgDenseRetriever:
    name = "dense"
    needs_vector = True

    def __init__(self, database: Connections, ef_search: int = EF_SEARCH) -> None:
        self._database = database
        self.ef_search = ef_search

    def retrieve(self, query: Query, k: int) -> Ranking:
        if k <= 0 or not query.scopes:
            return []
        params: dict[str, object] = {
            "vector": np.asarray(query.vector, dtype=np.float32), "k": k}
        for at, scope in enumerate(query.scopes):
            params[f"scope{at}"] = scope
        searches = " UNION ALL ".join(
            _scope_search(scope, at) for at, scope in enumerate(query.scopes))
        with self._database.transaction() as connection:
            connection.execute("SELECT set_config('hnsw.ef_search', %s, true)",
                               (str(max(self.ef_search, k)),))
            rows = connection.execute(
                f"SELECT id, 1 - distance FROM ({searches}) found "
                f"ORDER BY distance, id LIMIT %(k)s", params).fetchall()
        return [(int(passage_id), float(score)) for passage_id, score in rows]
