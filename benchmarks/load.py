"""Bursts: N members run /ask at the same moment; how long until each sees the answer, and
how long the bot's event loop stalls (issue 10, item 2).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/load.py                 # batching off, then on
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/load.py --batching on --levels 1,10,100
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/load.py --workers 8 --no-json

The bot is the one `make run` starts (bot.app: Settings from the environment, open_library
with make_embedder and the question batcher, make_bot) in a process of its own, pointed
at the fake Discord of tests/fakediscord, which this process serves on 127.0.0.1 and drives
as members would. So the bot's event loop and GIL are its own, as they would be against
Discord; both processes share this machine's cores.

Per concurrency level (default 1, 10, 50, 100, 200), bursts of that many /ask are sent at
once (distinct members, cooldown off), repeated until at least --samples answers were timed.
Time to answer: the INTERACTION_CREATE frame written to the bot's socket -> the follow-up
that replaces "thinking..." received by the fake (InteractionRecord.delivered_at ->
answered_at). Lost: not answered within the timeout, or refused by the fake (e.g. not
acknowledged within Discord's 3 s). Event-loop lag: a task in the bot's process sleeps
10 ms over and over; the worst oversleep during the level's bursts.

The index: samples/articles, plus the celebrity articles of ../shared/data when present
(--samples-only leaves them out), cached in benchmarks/.cache/load (incremental). Questions:
benchmarks/celebrity_questions.jsonl (answerable and not). Writes benchmarks/results/load.json
(a list of rows, ms; plots.py draws charts/concurrency.png from it) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import sys
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
# This checkout first (tests.fakediscord is not an installed package, and a copy of the
# project measures its own code).
sys.path.insert(0, str(PROJECT_DIR))

CACHE_DIR = Path(os.environ.get("SPOTLIGHT_BENCH_CACHE") or BENCH_DIR / ".cache")
LOAD_DIR = CACHE_DIR / "load"
RESULTS = BENCH_DIR / "results" / "load.json"
QUESTIONS_FILE = BENCH_DIR / "celebrity_questions.jsonl"
PROTOCOL = "LOAD "  # lines the bot process prints for this one; anything else is passed on
TICK = 0.01  # the lag probe's sleep


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the bot's side: `load.py --serve`, started by the driver -----------------------------
class LagProbe:
    """Sleeps TICK over and over; the worst oversleep since reset() is the loop's worst
    stall (a callback that ran that long, or a GIL held by other threads)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.samples = 0

    def reset(self) -> None:
        self.worst, self.samples = 0.0, 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(TICK)
            self.worst = max(self.worst, loop.time() - started - TICK)
            self.samples += 1


def say(kind: str, data: object = None) -> None:
    print(f"{PROTOCOL}{kind} {json.dumps(data)}", flush=True)


async def serve_bot() -> None:
    """Run the bot as `make run` does, against the fake at LOAD_API_BASE / LOAD_GATEWAY;
    answer the driver's commands on stdin: reset, stats, quit."""
    import discord.gateway
    import discord.http
    import yarl

    from bot.app import close_library, open_library
    from bot.client import make_bot
    from bot.settings import Settings

    discord.http.Route.BASE = os.environ["LOAD_API_BASE"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["LOAD_GATEWAY"])
    settings = Settings.from_env()
    if os.environ.get("LOAD_ONNX_SPIN"):  # --onnx-spin: the ONNX Runtime default before
        import onnxruntime

        class Spinning(onnxruntime.SessionOptions):
            def add_session_config_entry(self, key: str, value: str) -> None:
                if key != "session.intra_op.allow_spinning":
                    super().add_session_config_entry(key, value)

        onnxruntime.SessionOptions = Spinning  # type: ignore[misc]
    library = await asyncio.to_thread(open_library, settings)
    bot = make_bot(settings, library)
    probe = LagProbe()
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "quit")

    threading.Thread(target=read_stdin, daemon=True).start()
    running = asyncio.create_task(bot.start(settings.token or ""))
    probing = asyncio.create_task(probe.run())
    try:
        ready = asyncio.create_task(bot.wait_until_ready())
        await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            ready.cancel()
            running.result()  # the bot's own error
            raise RuntimeError("the bot stopped before it was ready")
        say("ready", {"articles": library.count_articles(),
                      "embedder": type(library.embedder).__name__,
                      "ask_workers": settings.ask_workers, "embed_batch": settings.embed_batch,
                      "embed_wait_ms": settings.embed_wait_ms})
        while (command := await commands.get()) != "quit":
            if command == "reset":
                probe.reset()
                say("reset")
            elif command == "stats":
                say("stats", {"max_lag_ms": probe.worst * 1000, "lag_samples": probe.samples,
                              "batches": getattr(library.embedder, "batches", None),
                              "cpu_s": time.process_time()})
    finally:
        probing.cancel()
        await bot.close()
        with contextlib.suppress(Exception):
            await running
        await asyncio.to_thread(close_library, library)


# -- the driver's side --------------------------------------------------------------------
def prepare_corpus(samples_only: bool) -> tuple[Path, int]:
    """benchmarks/.cache/load/corpus: samples/articles, and the celebrity legit articles when
    ../shared/data has them. Returns the folder and how many files it holds."""
    corpus = LOAD_DIR / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(PROJECT_DIR / "samples" / "articles", corpus / "samples")
    if not samples_only:
        from benchcommon import celebrity_legit_dir

        legit = celebrity_legit_dir()
        if legit.exists():
            shutil.copytree(legit, corpus / "celebrity")
        else:
            print(f"({legit} not found: samples/articles only)", file=sys.stderr)
    return corpus, sum(1 for path in corpus.rglob("*") if path.is_file())


def shared_model_cache() -> None:
    """Reuse the ONNX export other benchmarks made (benchmarks/.cache/models)."""
    models = LOAD_DIR / "models"
    if not models.exists() and (CACHE_DIR / "models").is_dir():
        models.symlink_to(CACHE_DIR / "models", target_is_directory=True)


def read_questions() -> list[str]:
    with QUESTIONS_FILE.open(encoding="utf-8") as handle:
        return [json.loads(line)["question"] for line in handle if line.strip()]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class BotProcess:
    """`load.py --serve` with the given environment; talks over stdin/stdout lines."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.replies: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._reader: asyncio.Task | None = None

    async def start(self, timeout: float = 600) -> dict:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--serve", env=self.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 20)
        self._reader = asyncio.create_task(self._read())
        return await self.expect("ready", timeout)

    async def _read(self) -> None:
        assert self.process and self.process.stdout
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith(PROTOCOL):
                kind, _, data = line[len(PROTOCOL):].partition(" ")
                self.replies.put_nowait((kind, json.loads(data or "null")))
            else:
                print(f"  [bot] {line}", file=sys.stderr)
        self.replies.put_nowait(("exited", None))

    async def expect(self, kind: str, timeout: float = 60) -> dict:
        got, data = await asyncio.wait_for(self.replies.get(), timeout)
        if got != kind:
            raise RuntimeError(f"the bot process said {got!r}, expected {kind!r}")
        return data  # type: ignore[return-value]

    async def ask(self, command: str, reply: str) -> dict:
        assert self.process and self.process.stdin
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        return await self.expect(reply)

    async def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(Exception):
            assert self.process.stdin
            self.process.stdin.write(b"quit\n")
            await self.process.stdin.drain()
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 60)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader:
            await asyncio.gather(self._reader, return_exceptions=True)


async def burst(fake, guild, channel, members, questions: list[str], offset: int,
                timeout: float) -> tuple[list[float], int]:
    """len(members) /ask at once; (seconds to answer of each answered one, lost)."""
    sent = await asyncio.gather(*(
        fake.slash_command(guild, channel, member, "ask",
                           {"question": questions[(offset + n) % len(questions)]})
        for n, member in enumerate(members)))

    def settled() -> bool:
        return all(i.answered_at is not None or i.rejections for i in sent)

    with contextlib.suppress(TimeoutError):
        await fake.wait_for(settled, timeout=timeout, what="every answer")
    times = [i.answered_at - i.delivered_at for i in sent
             if i.answered_at is not None and not i.rejections]
    return times, len(sent) - len(times)


def bot_environment(args: argparse.Namespace, fake, batching: bool, corpus: Path
                    ) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "DISCORD_TOKEN": fake.token, "SPOTLIGHT_DATA_DIR": str(LOAD_DIR),
           "SPOTLIGHT_INDEX_DIR": str(LOAD_DIR / "index"), "SPOTLIGHT_CORPUS_DIR": str(corpus),
           "SPOTLIGHT_COOLDOWN_SECONDS": "0", "SPOTLIGHT_LOG_LEVEL": "WARNING",
           "LOAD_API_BASE": fake.api_base, "LOAD_GATEWAY": fake.gateway_url}
    for name in ("SPOTLIGHT_DEV_GUILD_ID", "SPOTLIGHT_DATABASE_URL", "SPOTLIGHT_FEEDS",
                 "SPOTLIGHT_FEEDS_FILE", "SPOTLIGHT_LLM_BASE_URL", "SPOTLIGHT_SHARDED",
                 "SPOTLIGHT_SHARD_IDS", "SPOTLIGHT_SHARD_COUNT", "LOAD_ONNX_SPIN"):
        env.pop(name, None)
    if args.workers:
        env["SPOTLIGHT_ASK_WORKERS"] = str(args.workers)
    if args.wait_ms is not None:
        env["SPOTLIGHT_EMBED_WAIT_MS"] = str(args.wait_ms)
    if args.batch:
        env["SPOTLIGHT_EMBED_BATCH"] = str(args.batch)
    if not batching:
        env["SPOTLIGHT_EMBED_BATCH"] = "1"
    if args.onnx_spin:
        env["LOAD_ONNX_SPIN"] = "1"
    return env


async def run_mode(args: argparse.Namespace, batching: bool, corpus: Path,
                   questions: list[str]) -> tuple[dict, dict[int, dict]]:
    """One bot process (batching on or off) through every level: its settings, and per
    level the raw measurements."""
    from tests.fakediscord import FakeDiscord

    fake = FakeDiscord()
    await fake.start()
    guild = fake.add_guild("Load Test", channels=("general",))
    channel = guild.channel_named("general")
    members = [fake.add_member(guild, f"fan{n}") for n in range(max(args.levels))]
    (LOAD_DIR / "bot.sqlite").unlink(missing_ok=True)
    bot = BotProcess(bot_environment(args, fake, batching, corpus))
    measured: dict[int, dict] = {}
    try:
        ready = await bot.start()
        print(f"batching {'on' if batching else 'off'}: {ready}", file=sys.stderr)
        await asyncio.sleep(1.0)  # let start-up settle
        # Warm up (first ONNX runs, SQLite caches, discord.py's HTTP connections): not timed.
        await burst(fake, guild, channel, members[:args.warmup], questions,
                    len(questions) // 2, args.timeout)
        await asyncio.sleep(args.pause)
        offset = 0
        for level in args.levels:
            rounds = max(1, math.ceil(args.samples / level))
            load_before = load_average()
            before = await bot.ask("stats", "stats")
            await bot.ask("reset", "reset")
            driver_cpu = time.process_time()
            times: list[float] = []
            lost = 0
            for _ in range(rounds):
                answered, missing = await burst(fake, guild, channel, members[:level],
                                                questions, offset, args.timeout)
                offset += level
                times += answered
                lost += missing
                await asyncio.sleep(args.pause)
            driver_cpu = time.process_time() - driver_cpu
            after = await bot.ask("stats", "stats")
            measured[level] = {
                "times": times, "lost": lost, "asked": level * rounds,
                "max_lag_ms": after["max_lag_ms"],
                "model_calls": (after["batches"] - before["batches"]
                                if after["batches"] is not None else None),
                "bot_cpu_s": after["cpu_s"] - before["cpu_s"], "fake_cpu_s": driver_cpu,
                "load": [load_before, load_average()],
            }
            print(f"  {level:>3} at once x {rounds}: p50 {percentile(times, 50) * 1000:.0f} ms, "
                  f"p95 {percentile(times, 95) * 1000:.0f}, lag {after['max_lag_ms']:.0f} ms, "
                  f"lost {lost}, bot CPU "
                  f"{(after['cpu_s'] - before['cpu_s']) / (level * rounds) * 1000:.1f} "
                  f"ms/question, load {load_before} -> {load_average()}", file=sys.stderr)
    finally:
        await bot.stop()
        await fake.stop()
    return ready, measured


def summarise(batching: bool, ready: dict, runs: list[dict[int, dict]]) -> list[dict]:
    """One row per level: the runs' answers pooled, the worst lag of any run."""
    rows = []
    for level in runs[0]:
        parts = [run[level] for run in runs]
        times = [t for part in parts for t in part["times"]]
        asked = sum(part["asked"] for part in parts)
        calls = [part["model_calls"] for part in parts]
        rows.append({
            "concurrency": level, "batching": batching,
            "p50": round(percentile(times, 50) * 1000, 1),
            "p95": round(percentile(times, 95) * 1000, 1),
            "p99": round(percentile(times, 99) * 1000, 1),
            "max": round(max(times, default=float("nan")) * 1000, 1),
            "max_lag_ms": round(max(part["max_lag_ms"] for part in parts), 1),
            "lost": sum(part["lost"] for part in parts), "answers": len(times),
            "runs": len(parts),
            # Model calls for questions (batching on), and CPU time per question of the bot
            # process and of this one (the fake Discord): steadier than wall time when the
            # machine is shared.
            "model_calls": sum(calls) if batching and None not in calls else None,
            "bot_cpu_ms": round(sum(p["bot_cpu_s"] for p in parts) / asked * 1000, 1),
            "fake_cpu_ms": round(sum(p["fake_cpu_s"] for p in parts) / asked * 1000, 1),
            "ask_workers": ready["ask_workers"], "embed_batch": ready["embed_batch"],
            "embed_wait_ms": ready["embed_wait_ms"], "articles": ready["articles"],
            "load": [part["load"] for part in parts],
        })
    return rows


def table(rows: list[dict]) -> str:
    from benchcommon import markdown_table

    return markdown_table(
        ["batching", "concurrent /ask", "p50 ms", "p95 ms", "p99 ms", "max ms", "lost",
         "worst loop lag ms", "answers", "question model calls", "bot CPU ms / question",
         "load average (1 min) during"],
        [["on" if r["batching"] else "off", r["concurrency"], f"{r['p50']:.0f}",
          f"{r['p95']:.0f}", f"{r['p99']:.0f}", f"{r['max']:.0f}", r["lost"],
          f"{r['max_lag_ms']:.0f}", r["answers"],
          "—" if r["model_calls"] is None else r["model_calls"], f"{r['bot_cpu_ms']:.1f}",
          " / ".join(f"{b.split()[0]}-{a.split()[0]}" for b, a in r["load"])]
         for r in sorted(rows, key=lambda r: (r["concurrency"], r["batching"]))])


async def drive(args: argparse.Namespace) -> list[dict]:
    LOAD_DIR.mkdir(parents=True, exist_ok=True)
    shared_model_cache()
    corpus, files = prepare_corpus(args.samples_only)
    questions = read_questions()
    print(f"corpus: {files} files; {len(questions)} questions; load {load_average()}",
          file=sys.stderr)
    runs: dict[bool, list[dict[int, dict]]] = {mode: [] for mode in args.batching}
    ready: dict[bool, dict] = {}
    for repeat in range(args.repeat):
        # Alternate the order (off, on, on, off, ...) so a drift in the machine's load
        # does not always favour the same mode.
        order = args.batching if repeat % 2 == 0 else args.batching[::-1]
        for batching in order:
            ready[batching], measured = await run_mode(args, batching, corpus, questions)
            runs[batching].append(measured)
    return [row for mode in args.batching for row in summarise(mode, ready[mode], runs[mode])]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--levels", default="1,10,50,100,200",
                        help="concurrent /ask per burst, comma-separated")
    parser.add_argument("--batching", choices=("on", "off", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=1,
                        help="bot processes per mode, alternating the order; answers pooled")
    parser.add_argument("--samples", type=int, default=200,
                        help="answers timed per level and run at least (bursts repeat)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed asks first")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between bursts")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds a burst may take before its unanswered count as lost")
    parser.add_argument("--workers", type=int, help="SPOTLIGHT_ASK_WORKERS for the bot")
    parser.add_argument("--batch", type=int, help="SPOTLIGHT_EMBED_BATCH when batching is on")
    parser.add_argument("--wait-ms", type=float, help="SPOTLIGHT_EMBED_WAIT_MS")
    parser.add_argument("--onnx-spin", action="store_true",
                        help="let ONNX Runtime's idle threads spin (its default; ours is not)")
    parser.add_argument("--samples-only", action="store_true",
                        help="index samples/articles only, not ../shared/data/celebrity")
    parser.add_argument("--no-json", action="store_true", help="do not write results/load.json")
    args = parser.parse_args(argv)
    args.levels = [int(level) for level in args.levels.split(",")]
    args.batching = {"on": [True], "off": [False], "both": [False, True]}[args.batching]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        asyncio.run(serve_bot())
        return
    rows = asyncio.run(drive(args))
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average now {load_average()}\n")
    print(table(rows))
    if not args.no_json:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"\nwrote {RESULTS.relative_to(PROJECT_DIR)}", file=sys.stderr)


if __name__ == "__main__":
    main()
