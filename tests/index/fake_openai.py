"""A fake OpenAI-compatible chat-completions server on 127.0.0.1, scripted per test.

It runs an aiohttp app on its own event loop in a background thread, so the blocking
LLMAnswerer (sync tests) and the bot's worker threads (async end-to-end tests) can both
call it without sharing a loop with it:

    with FakeOpenAI() as fake:
        fake.reply = Reply(content="The chef won the golden spoon award [1].")
        ...  # LLMConfig(base_url=fake.base_url, model="fake")
        fake.requests[0].json["messages"]
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

UNSCRIPTED = "the fake OpenAI server was not told what to answer"
# "[n] Title (date)\ntext", up to the next passage or the end of the passages.
_PASSAGE = re.compile(r"^\[(\d+)\] (.*?)(?: \([^()\n]*\))?\n(.*?)(?=\n\n\[\d+\] |\n</passages>)",
                      re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Reply:
    """What the next requests get: a chat completion saying `content` (None: no content
    field at all), or `body` verbatim, with `status`; `delay` seconds before the headers,
    `trickle` seconds between the body's bytes."""

    content: str | None = UNSCRIPTED
    status: int = 200
    body: bytes | None = None
    delay: float = 0.0
    trickle: float = 0.0


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class FakeOpenAI:
    """`reply` answers every request, unless `responder` is set: then it is asked, with
    the request's JSON, for each request's reply (to cite a passage by its title when the
    test cannot know the order retrieval puts it in)."""

    reply: Reply = field(default_factory=Reply)
    responder: Callable[[Any], Reply] | None = None
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- the server ------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        return app

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        self.requests.append(Recorded(request.path, dict(request.headers), parsed))
        reply = self.responder(parsed) if self.responder else self.reply
        if reply.delay:
            await asyncio.sleep(reply.delay)
        body = reply.body if reply.body is not None else completion(reply.content)
        if not reply.trickle:
            return web.Response(body=body, status=reply.status,
                                content_type="application/json")
        response = web.StreamResponse(status=reply.status,
                                      headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for byte in body:
            await response.write(bytes([byte]))
            await asyncio.sleep(reply.trickle)
        await response.write_eof()
        return response

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> FakeOpenAI:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True,
                                        name="fake-openai")
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake OpenAI server did not start")
        return self

    def _serve(self, started: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        # A short shutdown: a test's slow reply must not hold the teardown.
        self._runner = web.AppRunner(self._app(), shutdown_timeout=0.2)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        started.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        # Handlers still sleeping through a slow reply end here, not as pending-task noise.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    def __exit__(self, *exc_info: object) -> None:
        """Stops the server; calling it again does nothing."""
        loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)


def numbered_passages(request: Any) -> dict[int, tuple[str, str]]:
    """{n: (title, passage text)} as the user message of a request numbered them."""
    user = request["messages"][-1]["content"]
    return {int(n): (title, text) for n, title, text in _PASSAGE.findall(user)}


def completion(content: str | None, model: str = "fake") -> bytes:
    message: dict[str, Any] = {"role": "assistant"}
    if content is not None:
        message["content"] = content
    return json.dumps({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }).encode()
