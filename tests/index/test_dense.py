"""index/dense.py: FAISS search over unit vectors, ids are passage ids."""

from __future__ import annotations

import threading

import faiss
import numpy as np
import pytest

from index.dense import DenseIndex, _ivf_lists, _training_sample


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


def test_searches_use_one_openmp_thread_each_on_any_thread() -> None:
    """Questions run side by side on worker threads; FAISS threads inside each search
    oversubscribed the cores (2-3x the CPU per question under load). OpenMP keeps the count
    per thread: a thread that never set it has one per core."""
    index = DenseIndex.from_vectors(np.arange(50, dtype=np.int64), _unit(50, 8, seed=3), 8)
    seen: list[int] = []

    def search_then_count() -> None:
        index.search(_unit(1, 8, seed=4)[0], 3)
        seen.append(faiss.omp_get_max_threads())

    worker = threading.Thread(target=search_then_count)
    worker.start()
    worker.join()
    assert seen == [1]


def _clustered(rows: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around 20 topics, as text embeddings are: an inverted file's case."""
    rng = np.random.default_rng(seed)
    centres = _unit(20, dim, seed + 1)
    vectors = centres[rng.integers(0, 20, rows)] + 0.15 * rng.normal(size=(rows, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _overlap_with_exact(index: DenseIndex, ids: np.ndarray, vectors: np.ndarray,
                        queries: np.ndarray, k: int = 10) -> float:
    shared = 0
    for query in queries:
        exact = set(ids[np.argsort(-(vectors @ query))[:k]].tolist())
        shared += len(exact & {passage_id for passage_id, _ in index.search(query, k)})
    return shared / (k * len(queries))


def test_an_inverted_file_keeps_float16_codes_and_finds_what_exact_search_finds(
        monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("index.dense.IVF_THRESHOLD", 500)
    vectors = _clustered(3000, 32, seed=3)
    ids = np.arange(10_000, 13_000, dtype=np.int64)
    # Lists of ~40 passages, as at 100k (8·√n lists of 3,000 would hold 7 each).
    index = DenseIndex.from_vectors(ids, vectors, 32, lists=75)
    assert index.kind == "IVF75,SQfp16(IP)" and index.size == 3000
    assert index._index.nprobe == 32
    # Its centroids too: a search scans all of them first.
    assert isinstance(faiss.downcast_index(index._index.quantizer), faiss.IndexScalarQuantizer)
    queries = _clustered(30, 32, seed=4)
    assert _overlap_with_exact(index, ids, vectors, queries) >= 0.9
    query = queries[0]
    best_id, best_score = index.search(query, 1)[0]
    assert abs(best_score - float(vectors[best_id - 10_000] @ query)) < 5e-3  # fp16 codes

    index.write(tmp_path / "dense.faiss")
    again = DenseIndex.read(tmp_path / "dense.faiss")
    assert again.kind == index.kind and again.search(query, 5) == index.search(query, 5)
    assert isinstance(faiss.downcast_index(again._index.quantizer), faiss.IndexScalarQuantizer)
    again.remove([best_id])
    assert best_id not in {passage_id for passage_id, _ in again.search(query, 10)}
    allowed = ids[1::2]
    only_odd = again.search(query, 10, DenseIndex.selector(allowed))
    assert only_odd and {passage_id for passage_id, _ in only_odd} <= set(allowed.tolist())


@pytest.mark.parametrize(("passages", "lists"), [
    (20_000, 1_131),  # 8·√n
    (100_000, 2_529),
    (250_000, 4_000),  # 8·√n reaches the most lists
    (1_000_000, 4_000),  # 4·√n reaches them
    (4_000_000, 8_000),  # 4·√n beyond
])
def test_inverted_lists_grow_as_8_root_n_up_to_the_most_then_as_4_root_n(
        passages: int, lists: int) -> None:
    assert _ivf_lists(passages) == lists


def test_an_inverted_file_with_fewer_lists_than_nprobe_probes_them_all(monkeypatch) -> None:
    monkeypatch.setattr("index.dense.IVF_THRESHOLD", 500)
    vectors = _clustered(1000, 32, seed=5)
    index = DenseIndex.from_vectors(np.arange(1000, dtype=np.int64), vectors, 32, lists=20)
    assert index.kind == "IVF20,SQfp16(IP)" and index._index.nprobe == 20


def test_lists_of_few_passages_train_without_faiss_warning(monkeypatch, capfd) -> None:
    """8·√n lists hold ~18 passages at 20k, under the 39 FAISS asks for: measured fine,
    so a library of that size logs no alarm on each training."""
    monkeypatch.setattr("index.dense.IVF_THRESHOLD", 500)
    vectors = _clustered(1000, 32, seed=6)
    index = DenseIndex.from_vectors(np.arange(1000, dtype=np.int64), vectors, 32, lists=50)
    assert index.kind == "IVF50,SQfp16(IP)"
    assert "WARNING" not in capfd.readouterr().err


def _list_members(index: DenseIndex) -> dict[int, int]:
    """Passage id -> the inverted list holding it."""
    lists = index._index.invlists
    return {int(passage_id): number for number in range(index._index.nlist)
            for passage_id in faiss.rev_swig_ptr(lists.get_ids(number),
                                                 lists.list_size(number))}


def test_each_vector_joins_the_list_of_its_nearest_centroid(monkeypatch, tmp_path) -> None:
    """Adds find lists through a float32 copy of the centroids (BLAS), not the float16
    quantizer: the same lists, whether built, added to later, or read from a file."""
    monkeypatch.setattr("index.dense.IVF_THRESHOLD", 500)
    vectors = _clustered(2000, 32, seed=8)
    index = DenseIndex.from_vectors(np.arange(1500, dtype=np.int64), vectors[:1500], 32)
    index.write(tmp_path / "dense.faiss")
    again = DenseIndex.read(tmp_path / "dense.faiss")
    again.add(np.arange(1500, 2000, dtype=np.int64), vectors[1500:])
    members = _list_members(again)
    assert len(members) == 2000
    _, nearest = again._index.quantizer.search(vectors, 1)  # the float16 centroids
    agreeing = sum(members[row] == nearest[row, 0] for row in range(2000))
    assert agreeing >= 0.999 * 2000  # a near-tie may round either way
    assert again.vectors([1999])[1999] == pytest.approx(vectors[1999], abs=5e-3)
    assert not again._index.by_residual  # codes of the vectors, trained without the float16 lists


def test_a_file_with_residual_codes_takes_new_passages_too(tmp_path) -> None:
    """Files written before keep float16 codes of each vector's distance to its centroid:
    a passage added now is coded the same way."""
    vectors = _clustered(1200, 32, seed=9)
    quantizer = faiss.IndexScalarQuantizer(32, faiss.ScalarQuantizer.QT_fp16,
                                           faiss.METRIC_INNER_PRODUCT)
    written = faiss.IndexIVFScalarQuantizer(quantizer, 32, 16, faiss.ScalarQuantizer.QT_fp16,
                                            faiss.METRIC_INNER_PRODUCT)
    written.train(vectors[:1000])
    written.add_with_ids(vectors[:1000], np.arange(1000, dtype=np.int64))
    faiss.write_index(written, str(tmp_path / "dense.faiss"))
    index = DenseIndex.read(tmp_path / "dense.faiss")
    assert index._index.by_residual
    index.add(np.arange(1000, 1200, dtype=np.int64), vectors[1000:])
    assert index.vectors([1100])[1100] == pytest.approx(vectors[1100], abs=5e-3)
    assert index.search(vectors[1100], 1)[0][0] == 1100


def test_the_lists_are_learnt_from_a_sample_spread_over_the_whole_library() -> None:
    vectors = np.arange(1000, dtype=np.float32).reshape(-1, 1) * np.ones((1, 4), np.float32)
    sample = _training_sample(vectors, 100)
    assert len(sample) == 100 and sample.dtype == np.float32 and sample.flags.c_contiguous
    assert sample[0, 0] == 0 and sample[-1, 0] == 999  # the newest articles too
    assert len(_training_sample(vectors[:50], 100)) == 50  # small: every vector


def _held_vectors_match(index: DenseIndex, ids: np.ndarray, vectors: np.ndarray,
                        atol: float) -> None:
    wanted = [int(ids[3]), int(ids[0]), int(ids[7])]
    held = index.vectors(wanted)
    assert list(held) == wanted
    for passage_id, vector in held.items():
        np.testing.assert_allclose(vector, vectors[ids.tolist().index(passage_id)], atol=atol)


def test_each_kind_of_index_gives_back_the_vectors_it_holds_by_passage_id(
        monkeypatch, tmp_path) -> None:
    """Dropping near-copies reads the candidates' vectors from the index (in memory), not
    from the store's wide rows; fp16 codes come back decoded."""
    vectors = _clustered(3000, 32, seed=6)
    ids = np.arange(5_000, 8_000, dtype=np.int64)
    flat = DenseIndex.from_vectors(ids[:400], vectors[:400], 32)
    _held_vectors_match(flat, ids, vectors, atol=0)
    monkeypatch.setattr("index.dense.IVF_THRESHOLD", 500)
    inverted = DenseIndex.from_vectors(ids, vectors, 32)
    _held_vectors_match(inverted, ids, vectors, atol=2e-3)

    inverted.write(tmp_path / "dense.faiss")
    again = DenseIndex.read(tmp_path / "dense.faiss")
    _held_vectors_match(again, ids, vectors, atol=2e-3)
    again.remove([int(ids[0])])
    again.add(np.array([9_999], dtype=np.int64), vectors[:1])
    found = again.vectors([int(ids[3]), int(ids[0]), 9_999, 123])  # removed, added, never
    assert list(found) == [int(ids[3]), 9_999]
    np.testing.assert_allclose(found[9_999], vectors[0], atol=2e-3)


def test_an_inverted_file_written_before_is_read_searched_and_mapped_as_it_is(
        tmp_path) -> None:
    """Float32 codes and no id map: files written before stop 12 keep working."""
    vectors = _clustered(1000, 32, seed=7)
    ids = np.arange(20, 1020, dtype=np.int64)
    old = faiss.IndexIVFFlat(faiss.IndexFlatIP(32), 32, 16, faiss.METRIC_INNER_PRODUCT)
    old.train(vectors)
    old.add_with_ids(vectors, ids)
    faiss.write_index(old, str(tmp_path / "dense.faiss"))
    read = DenseIndex.read(tmp_path / "dense.faiss")
    assert read.kind == "IVF16,Flat(IP)"
    assert read.search(vectors[5], 1)[0][0] == ids[5]
    _held_vectors_match(read, ids, vectors, atol=0)
    # Adds find their lists through its own float32 quantizer.
    more = _clustered(100, 32, seed=10)
    read.add(np.arange(5000, 5100, dtype=np.int64), more)
    _, nearest = read._index.quantizer.search(more, 1)
    members = _list_members(read)
    assert all(members[5000 + row] == nearest[row, 0] for row in range(100))
    assert read.search(more[7], 1)[0][0] == 5007
