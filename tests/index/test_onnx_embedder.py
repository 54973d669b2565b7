"""The ONNX Runtime backend: same vectors as sentence-transformers, cached export, and the
manifest refusing to mix vectors from backends that differ.

The export is made once per machine into pytest's cache folder (about 20 s on two cores the
first time); the model is loaded once for this module. No timing is asserted here: speed is
benchmarks/speed.py's business.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from corpus import chunk_article, load_path, split_sentences
from index import embedder as embedder_module
from index import onnx_embedder as onnx_module
from index.embedder import (
    BACKEND_ENV,
    backend_of,
    bundled_model_path,
    equivalent_backends,
    make_embedder,
    resolve_backend,
)
from index.errors import IndexMismatchError
from index.manifest import Manifest

PROJECT_DIR = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT_DIR / "samples" / "articles"
QUESTIONS = ["why was Kim criticized?", "who went to the Met Gala with North?",
             "what did ariana grande do after manchester", "x", ""]


@pytest.fixture(scope="module")
def onnx_cache(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kept between runs (pytest's cache), so only a machine's first run pays the export."""
    cache = getattr(pytestconfig, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("spotlight-onnx-models"))
    return tmp_path_factory.mktemp("onnx-models")


@pytest.fixture(scope="module")
def onnx_embedder(onnx_cache: Path) -> onnx_module.OnnxEmbedder:
    return onnx_module.OnnxEmbedder(cache_dir=onnx_cache)


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    """What the library embeds: passages (long, up to truncation) and some of their
    sentences (every third: enough variety, a quicker test)."""
    texts: list[str] = []
    for article in load_path(SAMPLES).articles:
        for passage in chunk_article(article):
            texts.append(f"{article.title}\n{passage.text}")
            texts.extend(split_sentences(passage.text)[::3])
    return texts + QUESTIONS


def test_fp32_vectors_match_sentence_transformers(onnx_embedder, real_embedder, sample_texts):
    ours = onnx_embedder.encode(sample_texts)
    theirs = real_embedder.encode(sample_texts)
    assert ours.shape == theirs.shape == (len(sample_texts), 384)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.999, sample_texts[int(cosines.argmin())]
    # Same neighbours, not only close vectors: each question's best text is torch's.
    assert (np.argmax(ours[-5:] @ ours[:-5].T, axis=1)
            == np.argmax(theirs[-5:] @ theirs[:-5].T, axis=1)).all()


def test_sorting_by_length_keeps_each_text_in_its_row(onnx_embedder, sample_texts):
    texts = sample_texts[::9]
    together = onnx_embedder.encode(texts)
    alone = np.vstack([onnx_embedder.encode([text]) for text in texts])
    assert np.sum(together * alone, axis=1).min() >= 0.99999


def test_short_texts_are_not_padded_to_long_ones(onnx_embedder, sample_texts, monkeypatch):
    """A call of passages and sentences runs them apart (index/token_batches.py): one batch
    of 64 had padded the sentences to the passages' length."""
    session = onnx_embedder._session.session
    runs: list[np.ndarray] = []
    inner = session.run
    monkeypatch.setattr(session, "run", lambda names, feed: runs.append(
        feed["attention_mask"].sum(axis=1)) or inner(names, feed))
    texts = sorted(sample_texts, key=len)
    mixed = texts[-3:] + texts[:40]
    vectors = onnx_embedder.encode(mixed)
    assert sum(len(lengths) for lengths in runs) == 43
    assert min(runs[0]) > 150 and max(runs[-1]) < 50  # passages, then sentences
    for lengths in runs:  # never a sentence padded to a passage's length
        assert not (lengths.max() > 150 and lengths.min() < 50), [list(r) for r in runs]
    # Each row is its own text's vector: as embedded alone, with no padding at all.
    alone = np.vstack([onnx_embedder.encode([text]) for text in mixed])
    assert np.sum(vectors * alone, axis=1).min() > 0.9999


def test_repeated_texts_are_embedded_once_and_returned_in_every_row(onnx_embedder,
                                                                    monkeypatch):
    session = onnx_embedder._session
    seen: list[list[str]] = []
    inner = session._encode
    monkeypatch.setattr(session, "_encode", lambda texts: seen.append(texts) or inner(texts))
    vectors = onnx_embedder.encode(["kim", "north west", "kim", "", "kim"])
    assert seen == [["kim", "north west", ""]]
    assert vectors.shape == (5, 384)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[0], vectors[4])
    assert not np.array_equal(vectors[0], vectors[1])


@pytest.fixture(scope="module")
def passages_with_spans() -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Sample passages as the library hands them to be pooled: `title\npassage` and each
    sentence's span in that text (some long passages reach past the model's window)."""
    texts, spans = [], []
    for article in load_path(SAMPLES).articles[:6]:
        for passage in chunk_article(article):
            text = f"{article.title}\n{passage.text}"
            shift, at, found = len(article.title) + 1, 0, []
            for sentence in split_sentences(passage.text):
                start = passage.text.index(sentence, at)
                at = start + len(sentence)
                found.append((shift + start, shift + at))
            texts.append(text)
            spans.append(found)
    return texts, spans


def test_pooled_spans_match_sentence_transformers(onnx_embedder, real_embedder,
                                                  passages_with_spans):
    texts, spans = passages_with_spans
    ours = onnx_embedder.encode_with_spans(texts, spans)
    theirs = real_embedder.encode_with_spans(texts, spans)
    assert ours.fallbacks == theirs.fallbacks
    assert np.sum(ours.texts * onnx_embedder.encode(texts), axis=1).min() >= 0.99999
    ours_rows, theirs_rows = np.vstack(ours.spans), np.vstack(theirs.spans)
    assert ours_rows.shape == (sum(map(len, spans)), 384)
    assert np.sum(ours_rows * theirs_rows, axis=1).min() >= 0.999


def test_pooled_spans_fall_back_past_the_window(onnx_embedder):
    filler = "The tour resumed in Manchester after the attack on the arena. " * 40
    text = f"Title\nShe sang. {filler}Ariana thanked her fans."
    spans = [(6, 15), (len(text) - 24, len(text))]
    made = onnx_embedder.encode_with_spans([text, "x"], [spans, []])
    assert made.fallbacks == 1 and made.spans[1].shape == (0, 384)
    alone = onnx_embedder.encode(["Ariana thanked her fans.", "She sang."])
    assert float(made.spans[0][1] @ alone[0]) >= 0.99999
    assert float(made.spans[0][0] @ alone[1]) < 0.99


def test_empty_inputs(onnx_embedder):
    assert onnx_embedder.encode([]).shape == (0, 384)
    vector = onnx_embedder.encode([""])
    assert vector.shape == (1, 384) and np.isfinite(vector).all()


def test_tokenizer_matches_the_model_folders(onnx_embedder, sample_texts):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    long_text = " ".join(sample_texts)  # far past max_seq_length: truncated alike
    for text in [*sample_texts[:20], long_text]:
        ids = reference(text, truncation=True, max_length=256)["input_ids"]
        assert onnx_embedder._session.tokenizer.encode(text).ids == ids
    assert onnx_embedder.token_lengths([long_text])[0] == 256


def test_fp32_is_interchangeable_with_torch(onnx_embedder, real_embedder):
    assert onnx_embedder.backend == "onnx-fp32" and backend_of(real_embedder) == "torch"
    assert onnx_embedder.fingerprint == real_embedder.fingerprint
    assert onnx_embedder.name == real_embedder.name and onnx_embedder.dim == real_embedder.dim
    assert equivalent_backends("torch", "onnx-fp32")
    assert not equivalent_backends("onnx-fp32", "onnx-int8")


def test_export_is_cached_per_weights_and_redone_when_they_change(
        onnx_embedder, onnx_cache, tmp_path, monkeypatch):
    meta = json.loads(onnx_embedder.onnx_path.with_suffix(".json").read_text())
    assert meta["source_sha256"] == onnx_embedder.fingerprint
    assert onnx_embedder.fingerprint[:16] in onnx_embedder.onnx_path.parent.name
    assert meta["probe_min_cosine_vs_torch"] >= onnx_module.MIN_FP32_COSINE

    exports: list[Path] = []
    fusions: list[Path] = []

    def copy_export(model_path: Path, destination: Path) -> None:  # the real one takes ~20 s
        exports.append(destination)
        shutil.copyfile(onnx_embedder.onnx_path, destination)

    def copy_fusion(source: Path, destination: Path) -> None:
        fusions.append(source)
        shutil.copyfile(source, destination)

    monkeypatch.setattr(onnx_module, "export_fp32", copy_export)
    monkeypatch.setattr(onnx_module, "fuse_for_ort", copy_fusion)
    probes = onnx_embedder.encode(list(onnx_module.PROBE_TEXTS))
    monkeypatch.setattr(onnx_module, "_torch_reference", lambda model_path, weights: probes)
    model = bundled_model_path()
    other_weights = "0" * 64
    first = onnx_module.exported_model(model, other_weights, tmp_path)
    again = onnx_module.exported_model(model, other_weights, tmp_path)
    assert first == again and len(exports) == 1
    assert fusions == [first.with_name("unfused.onnx")]
    assert other_weights[:16] in first.parent.name

    def made_from_other_weights(variant: str) -> None:
        meta_path = first.with_name(f"{variant}.json")
        stale = json.loads(meta_path.read_text())
        stale["source_sha256"] = "1" * 64
        meta_path.write_text(json.dumps(stale))

    made_from_other_weights("fp32")  # fused again from the export it came from
    onnx_module.exported_model(model, other_weights, tmp_path)
    assert (len(exports), len(fusions)) == (1, 2)
    made_from_other_weights("unfused")  # exported again; the fused file is its own
    made_from_other_weights("fp32")
    onnx_module.exported_model(model, other_weights, tmp_path)
    assert (len(exports), len(fusions)) == (2, 3)
    for variant in ("unfused", "fp32"):
        meta = json.loads(first.with_name(f"{variant}.json").read_text())
        assert meta["source_sha256"] == other_weights
        assert meta["export_version"] == onnx_module.EXPORT_VERSION


def test_the_torch_reference_is_made_once_per_weights(monkeypatch):
    """A first start makes `unfused`, then `fp32` (then an int8 variant), each checked
    against torch: the model is loaded once for all of them."""
    loaded: list[Path] = []

    class CountingTorch:
        def __init__(self, model_path: Path) -> None:
            loaded.append(model_path)

        def encode(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 3), np.float32)

    monkeypatch.setattr(embedder_module, "SentenceTransformerEmbedder", CountingTorch)
    onnx_module._torch_reference.cache_clear()
    try:
        first = onnx_module._torch_reference(Path("model"), "a" * 64)
        again = onnx_module._torch_reference(Path("model"), "a" * 64)
        onnx_module._torch_reference(Path("model"), "b" * 64)  # other weights: made anew
    finally:
        onnx_module._torch_reference.cache_clear()
    assert loaded == [Path("model"), Path("model")]
    assert again is first and not first.flags.writeable


def test_served_graph_is_fused_and_recipes_read_the_unfused_one(onnx_embedder):
    import onnx

    served = onnx.load(str(onnx_embedder.onnx_path))
    ops = Counter(node.op_type for node in served.graph.node)
    # One Attention and two skip layer norms a layer: what makes fp32 ~10-25% faster.
    assert (ops["Attention"], ops["SkipLayerNormalization"], ops["BiasGelu"]) == (6, 12, 6)
    with pytest.raises(RuntimeError, match="MatMuls' roles"):
        onnx_module.weight_matmuls(served)

    unfused = onnx.load(str(onnx_embedder.onnx_path.with_name("unfused.onnx")))
    assert "Attention" not in {node.op_type for node in unfused.graph.node}
    roles = onnx_module.weight_matmuls(unfused)
    assert len(roles) == 36
    assert [role for _, layer, role in roles if layer == 0] == list(onnx_module.MATMUL_ROLES)


def test_int8_is_quantised_then_fused_and_stays_near_fp32(onnx_embedder, onnx_cache,
                                                          sample_texts):
    import onnx

    int8 = onnx_module.OnnxEmbedder(variant="int8", cache_dir=onnx_cache)
    ops = Counter(node.op_type for node in onnx.load(str(int8.onnx_path)).graph.node)
    assert (ops["MatMulInteger"], ops["MultiHeadAttention"], ops["MatMul"]) == (36, 6, 0)
    assert int8.fingerprint == f"{onnx_embedder.fingerprint}+onnx-int8.channel"
    cosines = np.sum(int8.encode(sample_texts) * onnx_embedder.encode(sample_texts), axis=1)
    assert cosines.mean() >= 0.98, cosines.mean()


def test_a_failing_fusion_serves_the_unfused_graph(onnx_embedder, tmp_path, monkeypatch,
                                                  caplog):
    from onnxscript.rewriter import ort_fusions

    def broken(model):
        raise TypeError("optimize_for_ort() changed")

    monkeypatch.setattr(ort_fusions, "optimize_for_ort", broken)
    unfused = onnx_embedder.onnx_path.with_name("unfused.onnx")
    served = tmp_path / "fp32.onnx"
    with caplog.at_level("WARNING", logger=onnx_module.__name__):
        onnx_module.fuse_for_ort(unfused, served)
    assert served.read_bytes() == unfused.read_bytes()
    assert "unfused (slower)" in caplog.text and "optimize_for_ort() changed" in caplog.text


# -- backend names and the factory --------------------------------------------------------
def test_resolve_backend(monkeypatch):
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert resolve_backend("onnx") == "onnx-fp32"
    assert resolve_backend(" Torch ") == "torch"
    monkeypatch.setenv(BACKEND_ENV, "onnx-int8")
    assert resolve_backend() == "onnx-int8"
    assert resolve_backend("torch") == "torch"  # an argument beats the variable
    with pytest.raises(ValueError, match="Unknown embedding backend 'tensorflow'"):
        resolve_backend("tensorflow")


def test_factory_falls_back_to_torch_only_when_nothing_was_asked(monkeypatch, onnx_cache):
    def broken(*args, **kwargs):
        raise RuntimeError("no exporter here")

    class Torch:  # stands in for SentenceTransformerEmbedder: no second model load
        backend = "torch"

        def __init__(self, *args, **kwargs) -> None:
            pass

    monkeypatch.setattr(onnx_module, "OnnxEmbedder", broken)
    monkeypatch.setattr(embedder_module, "SentenceTransformerEmbedder", Torch)
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert isinstance(make_embedder(cache_dir=onnx_cache), Torch)
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    with pytest.raises(RuntimeError, match="no exporter"):
        make_embedder(cache_dir=onnx_cache)


def test_factory_builds_the_onnx_backend(monkeypatch, onnx_cache, onnx_embedder):
    monkeypatch.setenv(BACKEND_ENV, "onnx-fp32")
    embedder = make_embedder(cache_dir=onnx_cache)
    assert embedder.backend == "onnx-fp32"
    assert embedder.onnx_path == onnx_embedder.onnx_path  # the cached export, reused


# -- the manifest -------------------------------------------------------------------------
SHA = "ab" * 32


def manifest(model_sha256: str = SHA, **fields) -> Manifest:
    return Manifest(format_version=2, model_name="m", model_sha256=model_sha256, dim=384,
                    faiss_type="IDMap2,Flat(IP)", articles=0, passages=0, created_at="t",
                    updated_at="t", dense_generation=0, **fields)


def test_manifest_records_the_backend_and_reads_old_ones_as_torch(tmp_path):
    built = manifest(embedding_backend="onnx-fp32")
    built.write(tmp_path)
    assert Manifest.read(tmp_path).embedding_backend == "onnx-fp32"
    data = json.loads((tmp_path / "manifest.json").read_text())
    del data["embedding_backend"]  # written before backends were recorded
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    assert Manifest.read(tmp_path).embedding_backend == "torch"
    assert manifest(f"{SHA}+onnx-int8.channel").embedding_backend == "onnx-int8"
    assert manifest("fake-hashing-64").embedding_backend == ""


def test_manifest_serves_equivalent_backends(tmp_path):
    manifest(embedding_backend="torch").check_compatible(tmp_path, "m", SHA, 384,
                                                         backend="onnx-fp32")
    manifest(embedding_backend="onnx-fp32").check_compatible(tmp_path, "m", SHA, 384)
    int8 = f"{SHA}+onnx-int8.channel"
    manifest(int8).check_compatible(tmp_path, "m", int8, 384, backend="onnx-int8")


@pytest.mark.parametrize(("built", "ours", "backend", "words"), [
    (SHA, f"{SHA}+onnx-int8.channel", "onnx-int8",
     ["torch embedding backend", "onnx-int8 (channel)", "SPOTLIGHT_EMBEDDING_BACKEND=torch"]),
    (f"{SHA}+onnx-int8.channel", SHA, "onnx-fp32",
     ["onnx-int8 (channel) embedding backend", "embeds with onnx-fp32", "never mixed"]),
    (f"{SHA}+onnx-int8.channel", f"{SHA}+onnx-int8.tensor", None,
     ["onnx-int8 (channel)", "onnx-int8 (tensor)"]),
])
def test_manifest_refuses_to_mix_backends(tmp_path, built, ours, backend, words):
    with pytest.raises(IndexMismatchError) as caught:
        manifest(built).check_compatible(tmp_path, "m", ours, 384, backend=backend)
    message = str(caught.value)
    for word in [*words, "--rebuild"]:
        assert word in message


def test_manifest_still_names_another_model(tmp_path):
    with pytest.raises(IndexMismatchError, match="was built with m"):
        manifest().check_compatible(tmp_path, "m", "cd" * 32, 384, backend="onnx-fp32")
