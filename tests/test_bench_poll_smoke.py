"""The poll and launch benchmarks (bench/poll.py, bench/launch.py) run and print their JSON.

A smoke run at a tiny size, as a newcomer would run them (each a subprocess with databases of
its own, named ``cm_bench_poll_smoke_<pid>_*``, dropped afterwards): 50 workflows polled two
ways, then 3 API clients launching and retrying. No timing is asserted, only the shape of the
answer and that no workflow is made twice. PostgreSQL only: the benchmarks clone databases
and their concurrency means nothing on SQLite.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


@pytest.fixture
def database_server() -> str:
    """The URL of the PostgreSQL server the tests use (the benchmarks make their own databases)."""
    settings = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip(
            f"the benchmarks run on PostgreSQL, and this run's database is {connection.vendor}: "
            "run with DATABASE_URL=postgres://..."
        )
    user = quote(settings.get("USER") or "", safe="")
    password = settings.get("PASSWORD") or ""
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/"


def run_bench(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "CM_LOG_LEVEL": "WARNING"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def prefix(name: str) -> str:
    return f"cm_bench_poll_smoke_{os.getpid()}_{name}"


def test_the_poll_benchmark_measures_bookkeeping_and_its_sql_floor(database_server):
    result = run_bench(
        "poll.py",
        *("--workflows", "50", "--passes", "2", "--modes", "bookkeeping,floor"),
        *("--database-server", database_server, "--prefix", prefix("poll")),
    )

    assert result["benchmark"] == "poll"
    assert {"size", "revision", "machine", "targets"} <= set(result)
    modes = result["modes"]
    for mode in ("bookkeeping", "floor"):
        assert {"workflows", "seconds", "updates_per_s", "queries"} <= set(modes[mode])
        assert [p["pass"] for p in modes[mode]["passes"]] == [1, 2]
    # Both asked about the same workflows: all 50 first, then those still active.
    bookkeeping = [(p["workflows"], p["changed"]) for p in modes["bookkeeping"]["passes"]]
    assert bookkeeping == [(p["workflows"], p["changed"]) for p in modes["floor"]["passes"]]
    assert bookkeeping[0][0] == 50
    phases = modes["bookkeeping"]["passes"][0]["phases"]
    assert {"rollup", "record_polled", "store_jobs"} <= set(phases)
    assert {"automation", "alarms"} <= set(modes["bookkeeping"]["passes"][0])


def test_the_launch_benchmark_makes_no_duplicate_workflow(database_server):
    result = run_bench(
        "launch.py",
        *("--clients", "3", "--requests", "2", "--rounds", "1", "--groups", "30"),
        *("--server", "runserver", "--database-server", database_server),
        *("--prefix", prefix("launch")),
    )

    assert result["benchmark"] == "launch"
    different, same = result["runs"]["different_groups"], result["runs"]["same_group"]
    assert different["status_codes"] == {"202": 6}
    assert different["workflows_made"] == 6
    assert different["replays"] == different["replays"] | {"replayed": 3, "same_workflow": 3}
    assert same["status_codes"] == {"202": 1, "409": 2}
    assert same["workflows_made"] == 1
    for run in (different, same):
        assert run["duplicate_workflows"] == 0, run["duplicates"]
        assert {"median_ms", "p95_ms"} <= set(run["latency"])
    assert result["targets"]["duplicate_workflows"]["met"]
