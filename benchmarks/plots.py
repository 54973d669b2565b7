"""PNG charts of what speed.py and backends.py measured, for benchmarks/README.md.

    .venv/bin/python benchmarks/plots.py        # reads benchmarks/results/*.json

Writes into benchmarks/charts/:
- ask_latency.png: Library.ask p50/p99 against passages, per backend (log scale), with
  each backend's query-embedding floor, and the 1M tier's embed + search per index type;
- ingest.png: Library.build and raw encode throughput per embedding backend;
- backends_quality.png: retrieval figures per backend against torch's (the int8 decision);
- million_recall.png: recall@10 against search latency per 1M index type and nprobe;
- concurrency.png: time-to-answer p50/p95/p99 and the event loop's worst lag against
  concurrent /ask, batching off and on, when benchmarks/results/load.json exists (a list
  of {"concurrency", "batching", "p50", "p95", "p99", "max_lag_ms", "lost", ...} in ms;
  written by load.py).
A chart whose data is missing is skipped with a note; nothing here measures anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
CHARTS = BENCH_DIR / "charts"
COLOURS = {"torch": "tab:blue", "onnx-fp32": "tab:orange", "onnx-int8": "tab:green"}


def colour(label: str) -> str:
    return next((c for prefix, c in COLOURS.items() if label.startswith(prefix)), "tab:gray")


def read(name: str) -> dict | list | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def save(figure, name: str, note: str = "") -> Path:
    CHARTS.mkdir(parents=True, exist_ok=True)
    if note:
        figure.text(0.01, 0.01, note, fontsize=7, color="dimgray")
    path = CHARTS / name
    figure.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def part_load(speed: dict, part: str) -> tuple[object, object]:
    """The load a part of speed.json was measured under (parts are updated run by run:
    `speed.py --update-json`)."""
    before, after = (speed.get("loads") or {}).get(
        part, [speed.get("load_before"), speed.get("load_after")])
    return before, after


def ask_latency(speed: dict) -> Path | None:
    asks = speed.get("ask") or []
    if not asks:
        return None
    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    for label in dict.fromkeys(a["backend"] for a in asks):
        rows = sorted((a for a in asks if a["backend"] == label), key=lambda a: a["passages"])
        xs = [a["passages"] for a in rows]
        axes.plot(xs, [a["p50"] for a in rows], "o-", color=colour(label),
                  label=f"Library.ask p50, {label}")
        axes.plot(xs, [a["p99"] for a in rows], "o--", color=colour(label), alpha=0.5,
                  label=f"Library.ask p99, {label}")
        for a in rows:
            axes.annotate(a["index"].split(",")[0], (a["passages"], a["p50"]), fontsize=7,
                          textcoords="offset points", xytext=(4, -10))
        floor = speed["floor"][label]["p50"]
        axes.axhline(floor, color=colour(label), linestyle=":", linewidth=1,
                     label=f"query embedding floor p50, {label}")
    million = [r for r in speed.get("million") or [] if r.get("serving")]
    million_load = part_load(speed, "million")[0]
    for r in million:
        axes.plot([1_000_000], [r["embed_search_p50"]], "D", markersize=6,
                  label=f"1M, embed + FAISS search p50, {r['index']} nprobe {r['nprobe']} "
                        f"(load {million_load})")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("passages in the index")
    axes.set_ylabel("ms per question")
    axes.set_title("Answer latency against index size")
    axes.legend(fontsize=7, loc="upper left")
    axes.grid(alpha=0.3)
    before, after = part_load(speed, "ask")
    note = (f"{speed.get('machine', '')}; load {before} → {after}. "
            "100k+ tiers: recycled (synthetic) vectors; "
            "1M: FAISS only (no keyword side, no answer composition).")
    return save(figure, "ask_latency.png", note)


def ingest(speed: dict) -> Path | None:
    runs = speed.get("ingest") or {}
    if not runs:
        return None
    labels = list(runs)
    build = [r["passages"] / r["build_s"] for r in runs.values()]
    raw = [r["passages"] / r["encode_one_call_s"] for r in runs.values()]
    figure, axes = plt.subplots(figsize=(6.5, 4))
    positions = range(len(labels))
    axes.bar([p - 0.2 for p in positions], build, width=0.4, label="Library.build",
             color=[colour(label) for label in labels])
    axes.bar([p + 0.2 for p in positions], raw, width=0.4, label="raw encode, same texts",
             color=[colour(label) for label in labels], alpha=0.45)
    for p, value in zip(positions, build, strict=True):
        axes.text(p - 0.2, value, f"{value:.0f}", ha="center", va="bottom", fontsize=8)
    axes.set_xticks(list(positions), labels, fontsize=8, rotation=12)
    axes.set_ylabel("passages per second (with their sentences)")
    first = next(iter(runs.values()))
    axes.set_title(f"Ingest throughput, {first['articles']} BBC files, {first['passages']:,} "
                   "passages")
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    before, after = part_load(speed, "ingest")
    return save(figure, "ingest.png", f"load {before} → {after}")


def backends_quality(backends: dict) -> Path | None:
    keys = [k for k in ("dense_recall@1", "dense_mrr@10", "hybrid_recall@1", "hybrid_mrr@10",
                        "scifact_dense_ndcg@10") if k in backends.get("torch", {})]
    labels = [label for label in backends if keys and keys[0] in backends[label]]
    if not keys or len(labels) < 2:
        return None
    figure, axes = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / len(labels)
    for at, label in enumerate(labels):
        deltas = [backends[label].get(k, float("nan")) - backends["torch"][k] for k in keys]
        axes.bar([i + at * width for i in range(len(keys))], deltas, width=width,
                 color=colour(label), alpha=1.0 - 0.08 * at, label=label)
    axes.axhline(-0.01, color="red", linestyle="--", linewidth=1, label="-1% absolute (bar)")
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))], keys, fontsize=8)
    axes.set_ylabel("difference from torch (absolute)")
    axes.set_title("Retrieval quality per embedding backend, against torch")
    axes.legend(fontsize=7, ncol=2)
    axes.grid(axis="y", alpha=0.3)
    return save(figure, "backends_quality.png")


def million_recall(speed: dict) -> Path | None:
    rows = speed.get("million") or []
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(6.5, 4))
    for name in dict.fromkeys(r["index"] for r in rows):
        mine = [r for r in rows if r["index"] == name]
        axes.plot([r["search_p50_here"] for r in mine], [r["recall@10"] for r in mine], "o-",
                  label=f"{name} ({mine[0]['size_mb']:.0f} MB)")
        for r in mine:
            axes.annotate(f"nprobe {r['nprobe']}", (r["search_p50_here"], r["recall@10"]),
                          fontsize=7, textcoords="offset points", xytext=(4, -8))
    axes.axhline(0.95, color="red", linestyle="--", linewidth=1, label="recall target 0.95")
    axes.set_xlabel("FAISS search p50, one question (ms)")
    axes.set_ylabel("recall@10 against exact search")
    axes.set_title("1M passages (synthetic vectors): recall against latency")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return save(figure, "million_recall.png")


def concurrency(load: list) -> Path | None:
    """Time to answer against concurrent /ask (load.py), one colour per batching mode (rows
    without "batching" are one series), with the event loop's worst lag beside it."""
    if not load:
        return None
    figure, (axes, lag_axes) = plt.subplots(1, 2, figsize=(10, 4),
                                             gridspec_kw={"width_ratios": [2, 1]})
    modes = dict.fromkeys(r.get("batching") for r in load)
    colours = {True: "tab:orange", False: "tab:blue", None: "tab:blue"}
    for mode in modes:
        rows = sorted((r for r in load if r.get("batching") == mode),
                      key=lambda r: r["concurrency"])
        name = {True: "batching on", False: "batching off", None: ""}[mode]
        xs = [r["concurrency"] for r in rows]
        for key, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^:")):
            if all(key in r for r in rows):
                axes.plot(xs, [r[key] for r in rows], style, color=colours[mode],
                          label=f"{key} {name}".strip())
        if all("max_lag_ms" in r for r in rows):
            lag_axes.plot(xs, [r["max_lag_ms"] for r in rows], "o-", color=colours[mode],
                          label=name or "worst lag")
    for on, target, label, ylabel, title, columns in (
            (axes, 1000, "p95 target 1 s", "ms from interaction to answer",
             "Time to answer against concurrency (fake Discord)", 2),
            (lag_axes, 100, "target 100 ms", "ms", "Event loop's worst lag", 1)):
        on.axhline(target, color="red", linestyle="--", linewidth=1, label=label)
        on.set(xlabel="concurrent /ask", ylabel=ylabel, title=title)
        on.legend(fontsize=7, ncol=columns)
        on.grid(alpha=0.3)
    loads = sorted({part[0].split()[0] for r in load for part in r.get("load", [])}
                   | {part[1].split()[0] for r in load for part in r.get("load", [])},
                   key=float)
    note = (f"load average (1 min) during the runs {loads[0]}-{loads[-1]}, 2 cores shared"
            if loads else "")
    return save(figure, "concurrency.png", note)


def main() -> None:
    speed = read("speed.json") or {}
    backends = read("backends.json") or {}
    load = read("load.json") or []
    made = {
        "ask_latency.png": ask_latency(speed) if speed else None,
        "ingest.png": ingest(speed) if speed else None,
        "million_recall.png": million_recall(speed) if speed else None,
        "backends_quality.png": backends_quality(backends) if backends else None,
        "concurrency.png": concurrency(load) if isinstance(load, list) else None,
    }
    for name, path in made.items():
        print(f"{name}: {path.relative_to(BENCH_DIR.parent) if path else 'skipped (no data)'}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
