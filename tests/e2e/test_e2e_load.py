"""50 members run /ask at the same moment: every one is answered, and the event loop's
worst stall is measured and reported (printed even without -s, and recorded as a junit
property). No timing threshold is asserted; Discord's own 3 s acknowledgement rule is
enforced by the fake, so a bot that blocked its loop would see its answers rejected."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import pytest

from bot.client import SpotlightBot
from tests.e2e.conftest import World
from tests.fakediscord import FakeDiscord

CONCURRENT_ASKS = 50
QUESTIONS = (
    "why was Kim criticized?",
    "who went to the Met Gala?",
    "what did North West say about her mother?",
    "where did Kim Kardashian go on vacation?",
    "What is the boiling point of liquid nitrogen?",
)


@dataclass
class LoopLagProbe:
    """Sleeps `interval` over and over; how late each wake-up is = how long the loop stalled."""

    interval: float = 0.01
    lags: list[float] = field(default_factory=list)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            self.lags.append(loop.time() - started - self.interval)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.lags)
        return {
            "samples": len(ordered),
            "worst_ms": ordered[-1] * 1000,
            "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
            "median_ms": statistics.median(ordered) * 1000,
        }


async def test_fifty_concurrent_asks_all_answered(
        fake_discord: FakeDiscord, world: World, spotlight: SpotlightBot,
        capsys: pytest.CaptureFixture[str], record_property) -> None:
    askers = [fake_discord.add_member(world.guild, f"fan{n}") for n in range(CONCURRENT_ASKS)]
    probe = LoopLagProbe()
    probing = asyncio.create_task(probe.run())
    started = time.perf_counter()
    try:
        sent = await asyncio.gather(*(
            fake_discord.slash_command(world.guild, world.channel, member, "ask",
                                       {"question": QUESTIONS[n % len(QUESTIONS)]})
            for n, member in enumerate(askers)))
        replies = await asyncio.gather(*(
            fake_discord.wait_for_response(interaction, timeout=180) for interaction in sent))
    finally:
        probing.cancel()
    elapsed = time.perf_counter() - started

    assert all(reply.embeds for reply in replies)
    assert all(reply.rejections == [] for reply in replies)  # all acknowledged within 3 s
    assert [r.embeds[0]["title"] for r in replies] == [
        QUESTIONS[n % len(QUESTIONS)] for n in range(CONCURRENT_ASKS)]

    assert all(i.answered_at is not None for i in sent)  # none lost
    lag = probe.summary()
    acks = [i.acknowledged_at - i.delivered_at for i in sent]
    answered = sorted(i.answered_at - i.delivered_at for i in sent)
    report = (f"{CONCURRENT_ASKS} concurrent /ask: all answered in {elapsed:.2f} s; "
              f"event-loop lag worst {lag['worst_ms']:.1f} ms, p99 {lag['p99_ms']:.1f} ms, "
              f"median {lag['median_ms']:.2f} ms over {lag['samples']} samples; "
              f"slowest acknowledgement {max(acks) * 1000:.0f} ms; time to answer p50 "
              f"{statistics.median(answered) * 1000:.0f} ms, worst {answered[-1] * 1000:.0f} ms")
    for key, value in lag.items():
        record_property(f"event_loop_lag_{key}", round(value, 3))
    record_property("concurrent_asks_seconds", round(elapsed, 3))
    with capsys.disabled():
        print(f"\n[load] {report}")
