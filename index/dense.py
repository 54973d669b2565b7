"""dense.faiss: inner-product search over unit vectors, ids are passage ids.

Exact search (IndexFlatIP) up to IVF_THRESHOLD passages; above it an inverted file, which
scans a few percent of the vectors: at 100k passages a flat search costs ~12 ms on two
cores, more than embedding the question (~5 ms). The inverted file keeps its vectors and
its centroids as float16 (IndexIVFScalarQuantizer, fp16): a search reads half the memory,
most of it a cache miss after the question's embedding (100k passages: 1.2 → 0.85 ms a
search, recall@10 0.9730 → 0.9724), and float32 codes alone would take 1.5 GB at a million
passages (benchmarks/README.md, "1M passages": fp16 codes keep recall@10 at 0.992 in 1.0 GB
of serving memory). Files written as IndexIVFFlat before are read and searched as they are.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

# One OpenMP thread per search: questions already run side by side on the bot's worker
# threads, and FAISS's own threads inside each one-question search oversubscribe the two
# cores and spin-wait. Measured on the celebrity benchmark under load: 16-18 → 6.6-7.4 ms
# of CPU per `Library.ask`, wall p50 halved (benchmarks/README.md, "FAISS threads").
# OpenMP keeps the count per calling thread, so every thread that searches sets it
# (`_one_openmp_thread`): set once at import, it held only for the importing thread, and a
# flat index searched on a worker thread still took two (BBC, 8k passages: 2.4 ms of CPU
# a search for 1.2 ms of wall time; 1.2 ms on one thread).
_openmp_set = threading.local()


def _one_openmp_thread() -> None:
    if not getattr(_openmp_set, "done", False):
        faiss.omp_set_num_threads(1)
        _openmp_set.done = True


_one_openmp_thread()  # the importing thread's builds too, as before

IVF_THRESHOLD = 20_000
# Every inverted file probes NPROBE of its lists, over 8·√n lists until there are
# MOST_LISTS (at 250k passages), then 4·√n once that is more (past a million passages,
# where 32 of 4,000 lists find 98.8% of exact search's top 10 in 1.9 ms;
# benchmarks/dense_million.py). Smaller lists, fewer vectors read: at 100k passages 32 of
# 2,529 lists find 98.9% of exact search's top 10 in 0.41 ms right after the question's
# embedding, where 39 (3%) of 4·√n lists found 98.7% in 0.49 ms. From 20k to 500k
# passages recall is as good or better at every size but 200k (0.990 against 0.991);
# benchmarks/ivf_lists.py, benchmarks/README.md "Stop 19".
NPROBE = 32
MOST_LISTS = 4_000
# k-means learns the lists from at most this many vectors per list: FAISS's default (256)
# is every vector of a million-passage library, ~4x the training time for centroids that
# differ little.
TRAINING_PER_LIST = 64
MIN_TRAINING_PER_LIST = 16
# Retrain the inverted file when the index has grown this much since its centroids were
# learnt, so that new kinds of articles get lists of their own.
IVF_RETRAIN_GROWTH = 4


def _ivf_lists(size: int) -> int:
    return int(max(min(8 * math.sqrt(size), MOST_LISTS), 4 * math.sqrt(size)))


def _map_ids(index: faiss.IndexIVF) -> None:
    """Let the inverted file find a vector by its id (`DenseIndex.vectors`): a hash map,
    as ids are passage ids, not positions (~40 MB at a million passages)."""
    if index.direct_map.type != faiss.DirectMap.Hashtable:
        index.set_direct_map_type(faiss.DirectMap.Hashtable)


def _training_sample(vectors: np.ndarray, most: int) -> np.ndarray:
    """At most `most` rows, spread evenly over the library (articles are stored in the
    order they came, so a prefix would learn only the oldest topics)."""
    if len(vectors) > most:
        vectors = vectors[np.linspace(0, len(vectors) - 1, most).astype(np.int64)]
    return np.ascontiguousarray(vectors, dtype=np.float32)


class DenseIndex:
    """A FAISS index guarded by a lock: FAISS is not safe to search while another thread
    adds or removes."""

    def __init__(self, index: faiss.Index, trained_size: int = 0) -> None:
        self._index = index
        self._lock = threading.Lock()
        self.trained_size = trained_size
        self._assigner: faiss.IndexFlat | None = None

    @classmethod
    def from_vectors(cls, ids: np.ndarray, vectors: np.ndarray, dim: int, *,
                     lists: int | None = None) -> DenseIndex:
        """`lists`: the inverted file's (benchmarks/ivf_lists.py compares rules); None: the
        rule for the size."""
        size = len(ids)
        if size < IVF_THRESHOLD:
            dense = cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))
        else:
            lists = _ivf_lists(size) if lists is None else lists
            index = faiss.IndexIVFScalarQuantizer(
                faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16,
                                           faiss.METRIC_INNER_PRODUCT),
                dim, lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
            index.nprobe = min(NPROBE, lists)
            # Codes of the vectors themselves, not of their distance to their centroid:
            # float16 is as precise either way (100k passages: recall@10 0.9724 both),
            # and residuals made training assign its sample through the float16
            # centroids, without BLAS (100k: 13.7 -> 19.5 s).
            index.by_residual = False
            # k-means on float32 vectors, whatever the quantizer keeps of the centroids
            # (`learner` is held here while training: FAISS keeps only a pointer to it).
            learner = faiss.IndexFlatIP(dim)
            index.clustering_index = learner
            # FAISS warns on stderr below 39 training vectors a list; 8·√n lists have
            # ~18 at 20k passages, where recall was measured (dense search above).
            index.cp.min_points_per_centroid = MIN_TRAINING_PER_LIST
            index.train(_training_sample(vectors, lists * TRAINING_PER_LIST))
            index.clustering_index = None
            _map_ids(index)
            dense = cls(index, trained_size=size)
        dense.add(ids, vectors)
        return dense

    @classmethod
    def read(cls, path: Path) -> DenseIndex:
        index = faiss.read_index(str(path))
        if isinstance(index, faiss.IndexIVF):
            _map_ids(index)  # files written before the map was kept
            return cls(index, trained_size=index.ntotal)
        return cls(index)

    @property
    def kind(self) -> str:
        if isinstance(self._index, faiss.IndexIVFScalarQuantizer):
            return f"IVF{self._index.nlist},SQfp16(IP)"
        if isinstance(self._index, faiss.IndexIVF):
            return f"IVF{self._index.nlist},Flat(IP)"
        return "IDMap2,Flat(IP)"

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def needs_restructure(self) -> bool:
        """Flat grown past the threshold, or IVF grown well past what it was trained on."""
        if isinstance(self._index, faiss.IndexIVF):
            return self.size > IVF_RETRAIN_GROWTH * self.trained_size or self.size < IVF_THRESHOLD
        return self.size >= IVF_THRESHOLD

    def write(self, path: Path) -> None:
        """Atomically: a crash leaves the previous file whole."""
        handle, temp_name = tempfile.mkstemp(prefix=".dense-", suffix=".tmp", dir=path.parent)
        os.close(handle)
        try:
            with self._lock:
                faiss.write_index(self._index, temp_name)
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    def ids(self) -> np.ndarray:
        """Every passage id held, in no particular order."""
        with self._lock:
            index = self._index
            if isinstance(index, faiss.IndexIVF):
                lists = index.invlists
                return np.concatenate([np.zeros(0, np.int64)] + [
                    faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)).copy()
                    for n in range(index.nlist) if lists.list_size(n)])
            return faiss.vector_to_array(index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        with self._lock:
            if isinstance(self._index, faiss.IndexIVF):
                lists = self._list_of(vectors)
                self._index.add_core(len(ids), faiss.swig_ptr(vectors), faiss.swig_ptr(ids),
                                     faiss.swig_ptr(lists))
            else:
                self._index.add_with_ids(vectors, ids)

    def _list_of(self, vectors: np.ndarray) -> np.ndarray:
        """The list each vector joins: its nearest centroid, found through float32
        centroids (a copy, when the quantizer keeps them as float16). The float16
        quantizer, fastest for one question, has no BLAS for many vectors at once: adding
        took ~4x as long (a million passages: 361 -> 179 s a build with training)."""
        if self._assigner is None:
            quantizer = faiss.downcast_index(self._index.quantizer)
            if isinstance(quantizer, faiss.IndexFlat):  # float32 already (IndexIVFFlat files)
                self._assigner = quantizer
            else:
                self._assigner = faiss.IndexFlatIP(self.dim)
                self._assigner.add(quantizer.reconstruct_n(0, quantizer.ntotal))
        _, nearest = self._assigner.search(vectors, 1)
        return np.ascontiguousarray(nearest[:, 0])

    def remove(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """id -> vector as held (float16 codes decoded), for those of `ids` held."""
        with self._lock:
            try:
                found = self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
                return dict(zip(ids, found, strict=True))
            except RuntimeError:  # one is not held (removed, or not caught up yet)
                return {passage_id: vector for passage_id in ids
                        if (vector := self._held(passage_id)) is not None}

    def _held(self, passage_id: int) -> np.ndarray | None:
        try:
            return self._index.reconstruct(passage_id)
        except RuntimeError:
            return None

    @staticmethod
    def selector(allowed_ids: np.ndarray) -> faiss.IDSelector:
        """Built once per scope and reused: building it costs more than a search."""
        return faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))

    def search(
        self, query: np.ndarray, k: int, selector: faiss.IDSelector | None = None
    ) -> list[tuple[int, float]]:
        """(passage id, cosine) best first. With a selector, only its passages compete."""
        _one_openmp_thread()
        if selector is None:  # the index's own nprobe
            params = None
        elif isinstance(self._index, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self._index.nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        with self._lock:
            k = min(k, self._index.ntotal)
            if k == 0:
                return []
            scores, ids = self._index.search(query.reshape(1, -1), k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]
