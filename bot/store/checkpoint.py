"""SQLite's WAL checkpoints, done by a thread of their own rather than by the committing event loop.

A commit appends to the write-ahead log; by default, once the log holds 1,000 pages, the committing
connection copies them into the database file and syncs both, inside that commit: a stall of the event
loop every so many commits. Here a thread with its own connection copies the log along (PASSIVE:
it never blocks a writer, and sqlite3 lets go of the GIL while it works), woken by commits. The loop's
connection keeps a checkpoint of its own as a backstop, at a larger log (``BACKSTOP_PAGES``): that one
also lets the log start over, which needs a writer to find it fully copied, and has little left to copy.

Commits themselves are unchanged: each is in the log before ``Store.run`` returns, so a process that
crashes loses nothing it answered for; the checkpoint only moves committed pages from log to file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

BACKSTOP_PAGES = 10_000  # ~40 MB of log at most
PAUSE = 0.01  # between passes under a steady stream of commits: each pass syncs twice


class Checkpointer:
    def __init__(self, database: str):
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, args=(database,), name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """Called after a commit (cheap: no lock when a pass is due already)."""
        if not self._wake.is_set():
            self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join()

    def _run(self, database: str) -> None:
        conn = sqlite3.connect(database)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")  # the checkpoint syncs as the writers' setting would
            while True:
                self._wake.wait()
                if self._closing:
                    return
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # the backstop checkpoint still runs: nothing is lost by waiting
                    log.warning("WAL checkpoint failed; will retry", exc_info=True)
                time.sleep(PAUSE)
        finally:
            conn.close()
