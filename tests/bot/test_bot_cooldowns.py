"""Per-member cooldowns: shared by /ask and mentions, changeable per server at run time."""

from __future__ import annotations

import pytest
from discord import app_commands

from bot.cooldowns import MemberCooldowns
from bot.errors import describe_error
from bot.services import Services
from bot.settings import Settings
from bot.state import SqliteBotState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_use_per_period_per_key():
    clock = Clock()
    cooldowns = MemberCooldowns(clock)
    assert cooldowns.try_use(("g", "alice"), 10) is None
    clock.now += 4
    assert cooldowns.try_use(("g", "alice"), 10) == pytest.approx(6)
    assert cooldowns.try_use(("g", "bob"), 10) is None  # another member is not affected
    clock.now += 6
    assert cooldowns.try_use(("g", "alice"), 10) is None


def test_a_refused_use_does_not_extend_the_wait():
    clock = Clock()
    cooldowns = MemberCooldowns(clock)
    cooldowns.try_use("k", 10)
    clock.now += 9
    assert cooldowns.try_use("k", 10) == pytest.approx(1)
    clock.now += 1
    assert cooldowns.try_use("k", 10) is None


def test_zero_disables_and_lowering_frees_at_once():
    clock = Clock()
    cooldowns = MemberCooldowns(clock)
    assert cooldowns.try_use("k", 0) is None and cooldowns.try_use("k", 0) is None
    cooldowns.try_use("j", 60)
    clock.now += 5
    assert cooldowns.try_use("j", 60) is not None
    assert cooldowns.try_use("j", 5) is None


def test_expired_entries_are_swept():
    clock = Clock()
    cooldowns = MemberCooldowns(clock)
    for user in range(2000):
        cooldowns.try_use(user, 1)
        clock.now += 0.01
    assert len(cooldowns) < 2000


def make_services(**settings) -> Services:
    return Services(settings=Settings(**settings), library=None,
                    state=SqliteBotState.open(":memory:"), cooldowns=MemberCooldowns(Clock()))


def test_server_choice_overrides_the_default():
    services = make_services(cooldown_seconds=10)
    assert services.cooldown_for(None) == 10 and services.cooldown_for(1) == 10
    services.state.set_cooldown(1, 0)
    assert services.cooldown_for(1) == 0
    assert services.cooldown_for(2) == 10


async def test_check_cooldown_raises_with_the_wait_and_a_clear_message():
    services = make_services(cooldown_seconds=30)
    await services.check_cooldown(1, 42, "ask")
    await services.check_cooldown(1, 42, "sources")  # another command keeps its own turn
    with pytest.raises(app_commands.CommandOnCooldown) as caught:
        await services.check_cooldown(1, 42, "ask")
    assert caught.value.retry_after == pytest.approx(30)
    assert describe_error(caught.value).message == "Slow down — try again in 30 s."
