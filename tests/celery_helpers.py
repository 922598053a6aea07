"""A real Celery worker (with its beat) as a subprocess of a test, and ways to wait on it.

The worker runs ``celery -A cm_site worker`` from the repository root in its own process
group (so a kill takes its pool children and its embedded beat too), with the environment the
test gives it and its output in a log file whose tail every failure message shows.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
REDIS_HOST = "127.0.0.1:6379"
REDIS_BASE_DB = 5  # this xdist worker's database is REDIS_BASE_DB + its number


@dataclass
class Worker:
    """A running ``celery worker`` or ``celery beat``."""

    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process, its pool children and the beat."""
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def start_worker(
    env: Mapping[str, str], log: Path, *, beat: bool = True, concurrency: int = 2
) -> Worker:
    """Start ``celery worker`` (``--beat``: with its beat) and return at once; output to ``log``."""
    command = [
        "worker",
        f"--hostname=cm-test-{uuid.uuid4().hex[:8]}@%h",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if beat:
        command += ["--beat", f"--schedule={log.with_suffix('.beat-schedule')}"]
    return _spawn(command, env, log)


def start_beat(env: Mapping[str, str], log: Path) -> Worker:
    """Start ``celery beat`` on its own (for workers started with ``beat=False``)."""
    return _spawn(["beat", f"--schedule={log.with_suffix('.beat-schedule')}"], env, log)


def _spawn(command: list[str], env: Mapping[str, str], log: Path) -> Worker:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [CELERY, "-A", "cm_site", *command, "--loglevel=INFO"],
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches every child
        )
    return Worker(process, log)


def wait_for[T](
    check: Callable[[], T], *, what: str, workers: list[Worker], timeout: float = 60
) -> T:
    """``check()``'s first truthy answer, asked every 0.2 s; fails after ``timeout`` seconds
    (or at once if a worker died) with the workers' log tails."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        dead = [w for w in workers if not w.alive()]
        if dead or time.monotonic() > deadline:
            why = f"a worker exited ({dead[0].process.returncode})" if dead else "timed out"
            pytest.fail(f"waiting for {what}: {why} after {timeout:g} s\n{logs(workers)}")
        time.sleep(0.2)


def logs(workers: list[Worker]) -> str:
    return "\n".join(f"--- {w.log.name} (tail) ---\n{w.tail()}" for w in workers)


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """A DATABASE_URL naming the database a test connection uses (its test database)."""
    engine, name = settings_dict["ENGINE"], str(settings_dict["NAME"])
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "", safe="")
        password = settings_dict.get("PASSWORD") or ""
        credentials = f"{user}:{quote(password, safe='')}" if password else user
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{credentials}@{host}:{port}/{quote(name, safe='')}"
    if engine.endswith("sqlite3"):
        if name == ":memory:" or "mode=memory" in name or not Path(name).is_file():
            pytest.skip(
                f"the test database is SQLite in memory ({name}): another process cannot share "
                "it; run with DATABASE_URL=postgres://... (or a SQLite file test database)"
            )
        return f"sqlite:///{Path(name).resolve()}"
    pytest.skip(f"no DATABASE_URL can be built for {engine}")


def redis_broker() -> str:
    """A Redis database of this test process's own (one per xdist worker), flushed."""
    import redis

    number = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    url = f"redis://{REDIS_HOST}/{REDIS_BASE_DB + int(number or 0) % 10}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except redis.exceptions.ConnectionError as error:
        pytest.skip(f"Redis is not reachable at {url} ({error}): start redis-server first")
    return url


def backends_of_others(connection) -> int:
    """Other sessions on this test's PostgreSQL database (a killed worker's, until they end)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]
