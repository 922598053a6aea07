"""Run a periodic job in one process at a time, whatever the number of workers and beats.

PostgreSQL: a session advisory lock. SQLite (one machine): an exclusive file lock.
"""

import contextlib
import fcntl
import zlib
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection


@contextlib.contextmanager
def single_run(name: str) -> Iterator[bool]:
    """Yields True if this process holds the lock for ``name``; False if another does."""
    if connection.vendor == "postgresql":
        # A session's advisory locks nest (its second try succeeds too), so the names this
        # connection holds are kept on it: a nested try is refused, as with the file lock.
        mine = getattr(connection, "cm_single_run", None)  # this thread's connection's
        if mine is None:
            connection.cm_single_run = mine = set()
        if name in mine:
            yield False
            return
        key = zlib.crc32(f"cm:{name}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            held = cursor.fetchone()[0]
        if held:
            mine.add(name)
        try:
            yield held
        finally:
            if held:
                mine.discard(name)
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    path = Path(settings.VAR_DIR) / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
