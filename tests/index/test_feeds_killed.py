"""kill -9 during a poll: what was committed stays, and the next poller takes the killed
one's feeds at once (its lease names a process that is gone) without adding anything twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from index.embedder import FakeEmbedder
from index.feeds import FeedConfig, Feeds
from index.library import Library
from tests.conftest import PROJECT_DIR
from tests.feedserver import FeedServer, item
from tests.index.test_feeds_poller import KIM_PAGE, TAYLOR_TEXT

POLLER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from index.embedder import FakeEmbedder
    from index.feeds import FeedConfig, Feeds
    from index.library import Library
    library = Library.open(Path(sys.argv[1]), FakeEmbedder(), create=True)
    feeds = Feeds(library, FeedConfig(allow_private_urls=True, workers=1, fetch_timeout=60))
    feeds.poll_due()
""")


def test_kill_9_mid_poll_loses_nothing_committed_and_repolls(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    with FeedServer() as site:
        site.feed("/first.xml", [item("Taylor adds Tokyo dates", None, TAYLOR_TEXT, guid="t")])
        site.feed("/second.xml", [item("Kim in Japan", "/kim", "Kim went to Japan.", guid="k")])
        site.page("/kim", "Kim in Japan", KIM_PAGE, trickle=0.05)  # the poll hangs here
        library = Library.open(folder, FakeEmbedder(), create=True)
        config = FeedConfig(allow_private_urls=True, workers=1)
        feeds = Feeds(library, config)
        for path in ("/first.xml", "/second.xml"):
            feeds.subscribe(site.url(path), guild_id=None, origin="cli")
        child = subprocess.Popen([sys.executable, "-c", POLLER, str(folder)], cwd=PROJECT_DIR,
                                 env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
        try:
            deadline = time.monotonic() + 60
            while site.hits["/kim"] == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert site.hits["/kim"] == 1, "the child never reached the page"
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        assert library.count_articles() == 1  # the first feed's article was committed
        site.routes["/kim"].trickle = 0
        results = feeds.poll_due()  # the killed poller's lease is taken over at once
        assert [(r.feed.url, len(r.added)) for r in results] == [(site.url("/second.xml"), 1)]
        assert library.count_articles() == 2
        assert library.search("Saint Chicago Psalm", k=1)[0].title == "Kim in Japan"
        feeds.close()
        library.close()
