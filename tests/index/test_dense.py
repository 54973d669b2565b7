"""index/dense.py: FAISS search over unit vectors, ids are passage ids."""

from __future__ import annotations

import faiss
import numpy as np

from index.dense import DenseIndex


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_search_returns_the_exact_nearest_passage_ids() -> None:
    vectors = _unit(500, 32, seed=1)
    ids = np.arange(1000, 1500, dtype=np.int64)
    index = DenseIndex.from_vectors(ids, vectors, 32)
    query = _unit(1, 32, seed=2)[0]
    found = index.search(query, 5)
    expected = ids[np.argsort(-(vectors @ query))[:5]]
    assert [passage_id for passage_id, _ in found] == expected.tolist()
    assert np.allclose([score for _, score in found], np.sort(vectors @ query)[::-1][:5],
                       atol=1e-5)


def test_searches_use_one_openmp_thread_each() -> None:
    # Questions run side by side on worker threads; FAISS threads inside each search
    # oversubscribed the cores (2-3x the CPU per question under load).
    assert faiss.omp_get_max_threads() == 1
