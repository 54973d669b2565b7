"""Two bot processes (run_bot.py's main, hashing embedder) sharing one PostgreSQL database
through the fake Discord, each running one of two shards, as a deployment past one machine
runs them.

One scenario, measured as it goes: every /ask reaches and is answered by the process that
owns its guild's shard (the socket that received it belongs to that process); an article a
moderator adds through one process is answerable through the other at once; no guild's
private article appears in another guild's answer; a setting and a member's cooldown made
through one process hold in the other; and a process killed with -9 in the middle of a
large upload loses no article it committed and leaves none half-written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.conftest import PROJECT_DIR
from tests.fakediscord import FakeDiscord, FakeGuild, FakeMember, InteractionReply

pytestmark = pytest.mark.postgres

SHARDS = 2
A_TITLE = "Zendaya Opens a Secret Greenhouse in Reykjavik"
A_TEXT = ("Zendaya quietly opened a glass greenhouse in Reykjavik where she grows orchids. "
          "Neighbours said the greenhouse glows green all winter.")
A_QUESTION = "what did Zendaya open in Reykjavik?"
B_TITLE = "Timothée Chalamet Buys a Hidden Vineyard in Patagonia"
B_TEXT = ("Timothée Chalamet bought a hidden vineyard in Patagonia and plans a malbec. "
          "Locals said the vineyard sits behind a waterfall.")
B_QUESTION = "what did Timothée Chalamet buy in Patagonia?"
UPLOAD_ARTICLES = 150  # one passage each: three commits of 64 passages, slowed down
SLOW_INGEST_SECONDS = 1.0


@dataclass
class Guild:
    guild: FakeGuild
    member: FakeMember
    moderator: FakeMember


@dataclass
class Deployment:
    fake: FakeDiscord
    url: str
    folder: Path
    processes: dict[int, subprocess.Popen] = field(default_factory=dict)
    answers: list[tuple[int, str]] = field(default_factory=list)  # (guild id, what was shown)
    routed: list[tuple[int, int]] = field(default_factory=list)  # (owner pid, receiver pid)

    def start(self, shard: int, seeds_dir: Path) -> None:
        folder = self.folder / f"shard-{shard}"
        folder.mkdir()
        env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR), "HF_HUB_OFFLINE": "1",
               "DISCORD_TOKEN": self.fake.token, "SPOTLIGHT_DATA_DIR": str(folder),
               "SPOTLIGHT_CORPUS_DIR": str(seeds_dir), "SPOTLIGHT_DATABASE_URL": self.url,
               "SPOTLIGHT_SHARD_IDS": str(shard), "SPOTLIGHT_SHARD_COUNT": str(SHARDS),
               "SPOTLIGHT_COOLDOWN_SECONDS": "0", "SPOTLIGHT_LOG_LEVEL": "INFO",
               "SPOTLIGHT_CONNECT_RETRIES": "0", "SPOTLIGHT_FEEDS": "",
               "SPOTLIGHT_TEST_DISCORD_API": self.fake.api_base,
               "SPOTLIGHT_TEST_DISCORD_WS": self.fake.gateway_url,
               "SPOTLIGHT_TEST_SLOW_INGEST": str(SLOW_INGEST_SECONDS)}
        log = (self.folder / f"shard-{shard}.log").open("w")
        self.processes[shard] = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.bot_process"], cwd=PROJECT_DIR, env=env,
            stdout=log, stderr=subprocess.STDOUT)

    def logs(self) -> str:
        return "\n".join(f"--- shard {shard} ---\n" + path.read_text()[-3000:]
                         for shard in self.processes
                         for path in [self.folder / f"shard-{shard}.log"])

    async def ready(self, shard: int) -> None:
        """Identified on its shard, and on_ready done (it logs how many servers it has)."""
        log = self.folder / f"shard-{shard}.log"
        try:
            await self.fake.wait_for(
                lambda: shard in self.fake.gateway.live_shards()
                and "Logged in as" in log.read_text(), timeout=120,
                what=f"the process for shard {shard}")
        except TimeoutError as error:
            raise AssertionError(self.logs()) from error

    def pid_on_socket(self, shard: int) -> int:
        """The process whose socket the fake's session for `shard` is talking to."""
        session = self.fake.gateway.shards[shard]
        assert session.connection is not None and session.connection.transport is not None
        port = session.connection.transport.get_extra_info("peername")[1]
        for process in self.processes.values():
            if process.poll() is None and any(
                    connection.laddr and connection.laddr.port == port
                    for connection in psutil.Process(process.pid).net_connections("tcp")):
                return process.pid
        raise AssertionError(f"no bot process has the socket of shard {shard}")

    async def ask(self, guild: Guild, question: str, *, member: FakeMember | None = None
                  ) -> InteractionReply:
        asked = await self.fake.slash_command(guild.guild, guild.guild.channel_named("general"),
                                              member or guild.member, "ask",
                                              {"question": question})
        reply = await self.fake.wait_for_response(asked, timeout=30)
        receivers = [shard for shard, session in self.fake.gateway.shards.items()
                     if any(event.frame["t"] == "INTERACTION_CREATE"
                            and event.frame["d"]["id"] == str(asked.id)
                            for event in session.events)]
        assert len(receivers) == 1, receivers
        owner = self.fake.gateway.session_for(guild.guild.id)
        assert owner is not None
        self.routed.append((self.pid_on_socket(owner.shard_id),
                            self.pid_on_socket(receivers[0])))
        self.answers.append((guild.guild.id, json.dumps(reply.messages, ensure_ascii=False)))
        return reply

    async def add_article(self, guild: Guild, name: str, data: bytes) -> InteractionReply:
        upload = self.fake.upload_attachment(name, data, "text/plain; charset=utf-8")
        added = await self.fake.slash_command(guild.guild, guild.guild.channel_named("general"),
                                              guild.moderator, "library add", {"file": upload})
        return await self.fake.wait_for_response(added, timeout=30)

    async def move(self, guild: Guild, shard: int) -> None:
        """Discord now sends this guild's events to another shard (as after resharding)."""
        self.fake.gateway.move_guild(guild.guild.id, shard)
        await self.fake.announce_guild(guild.guild)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def sql(url: str, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(query, params).fetchall()


def titles(reply: InteractionReply) -> str:
    return json.dumps(reply.embeds, ensure_ascii=False)


@pytest.fixture
def deployment(fake_discord: FakeDiscord, postgres_url: str,
               tmp_path: Path) -> Iterator[Deployment]:
    running = Deployment(fake_discord, postgres_url, tmp_path)
    yield running
    running.stop()


def make_guild(fake: FakeDiscord, name: str, shard: int) -> Guild:
    guild = fake.add_guild(name, shard=(shard, SHARDS))
    return Guild(guild, fake.add_member(guild, f"fan-{shard}"),
                 fake.add_member(guild, f"mod-{shard}", moderator=True))


async def test_two_processes_share_one_database(deployment: Deployment, seeds_dir: Path,
                                                postgres_url: str) -> None:
    fake = deployment.fake
    a, b = make_guild(fake, "Alpha Fans", 0), make_guild(fake, "Beta Fans", 1)
    for shard in range(SHARDS):  # one after the other: the second finds the corpus synced
        deployment.start(shard, seeds_dir)
        await deployment.ready(shard)
    pids = {shard: deployment.pid_on_socket(shard) for shard in range(SHARDS)}
    assert pids == {shard: process.pid for shard, process in deployment.processes.items()}

    # Each process answers its own guilds, from the one library (the seeds, synced once).
    for guild in (a, b, a, b):
        reply = await deployment.ask(guild, "why was Kim criticized?")
        assert "Kim Kardashian" in titles(reply), reply
    assert sql(postgres_url, "SELECT count(*) FROM articles WHERE scope = 'global'") == [(2,)]

    # Private articles, each added through its guild's process.
    for guild, title, text in ((a, A_TITLE, A_TEXT), (b, B_TITLE, B_TEXT)):
        added = await deployment.add_article(guild, "story.txt", f"{title}\n\n{text}".encode())
        assert added.content.startswith(f"Added “{title}”"), added.content
    assert A_TITLE in titles(await deployment.ask(a, A_QUESTION))
    assert B_TITLE in titles(await deployment.ask(b, B_QUESTION))
    # Guild A's article, added through process 0, is answerable through process 1 at once.
    await deployment.move(a, 1)
    assert A_TITLE in titles(await deployment.ask(a, A_QUESTION))
    # Neither guild is shown the other's article, whichever process asks.
    await deployment.ask(b, A_QUESTION)
    await deployment.ask(a, B_QUESTION)
    await deployment.move(a, 0)
    await deployment.ask(b, A_QUESTION)

    # A setting and a member's turn taken through process 0 hold in process 1.
    cooldown = await fake.slash_command(a.guild, a.guild.channel_named("general"), a.moderator,
                                        "settings cooldown", {"seconds": 60})
    assert "60 s" in (await fake.wait_for_response(cooldown)).content
    assert A_TITLE in titles(await deployment.ask(a, A_QUESTION))
    await deployment.move(a, 1)
    refused = await deployment.ask(a, A_QUESTION)
    assert refused.content.startswith("Slow down — try again in "), refused
    assert refused.ephemeral and int(refused.content.split()[-2]) > 50

    # Process 1 is killed with -9 in the middle of a 150-article upload to guild B.
    upload = "\n".join(json.dumps({"title": f"Upload story {n}", "text": (
        f"Story number {n} of the upload: a celebrity arrived at premiere {n} with "
        f"marker{n} on the red carpet.")}) for n in range(UPLOAD_ARTICLES)).encode()
    scope = str(b.guild.id)
    uploaded = ("SELECT count(*) FROM articles WHERE scope = %s AND title LIKE 'Upload story %%'")
    attachment = fake.upload_attachment("stories.jsonl", upload, "application/x-ndjson")
    await fake.slash_command(b.guild, b.guild.channel_named("general"), b.moderator,
                             "library add", {"file": attachment})
    seen = await fake.wait_for(lambda: sql(postgres_url, uploaded, scope)[0][0], timeout=60,
                               what="the first committed batch of the upload")
    deployment.processes[1].send_signal(signal.SIGKILL)
    deployment.processes[1].wait(30)
    committed = sql(postgres_url, uploaded, scope)[0][0]
    assert seen <= committed < UPLOAD_ARTICLES, "not killed mid-write"
    # Each story is one passage: an article without its passage would be half-written.
    half_written = sql(postgres_url, "SELECT count(*) FROM articles a WHERE scope = %s AND "
                       "NOT EXISTS (SELECT 1 FROM passages p WHERE p.article_id = a.id)", scope)
    assert half_written == [(0,)]
    assert sql(postgres_url, "SELECT count(*) FROM passages p JOIN articles a ON "
               "a.id = p.article_id WHERE a.scope = %s AND a.title LIKE 'Upload story %%'",
               scope) == [(committed,)]
    # What it committed is still there, and process 0 answers from it for guild B.
    await deployment.move(b, 0)
    story = sql(postgres_url, "SELECT title FROM articles WHERE scope = %s AND title LIKE "
                "'Upload story %%' ORDER BY title LIMIT 1", scope)[0][0]
    number = story.rsplit(" ", 1)[1]
    found = await deployment.ask(b, f"who arrived at premiere {number} with marker{number}?")
    assert story in titles(found)
    assert B_TITLE in titles(await deployment.ask(b, B_QUESTION))
    assert sql(postgres_url, uploaded, scope)[0][0] == committed  # nothing lost since

    wrong_process = sum(owner != receiver for owner, receiver in deployment.routed)
    leaks = sum((guild_id == a.guild.id and B_TITLE in shown)
                or (guild_id == b.guild.id and A_TITLE in shown)
                for guild_id, shown in deployment.answers)
    print(f"\n{len(deployment.routed)} /ask answered, {wrong_process} by the wrong process; "
          f"{leaks} cross-server leaks; upload killed with {committed} of {UPLOAD_ARTICLES} "
          f"articles committed ({seen} seen before the kill, {max(0, seen - committed)} "
          f"lost, {half_written[0][0]} half-written)")
    assert wrong_process == 0 and leaks == 0
