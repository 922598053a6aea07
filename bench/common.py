"""What every benchmark shares: the bench database, the run's provenance, the JSON result file."""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"


def database_url(size: str) -> str:
    """The bench database of a size: ``$CM_BENCH_DATABASE_URL`` or ``cm_bench_<size>``."""
    return os.environ.get("CM_BENCH_DATABASE_URL") or f"{PG_SERVER}/cm_bench_{size}"


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def setup_django(url: str | None = None) -> None:
    """Configure Django on ``url`` (or the environment's DATABASE_URL) and set it up once."""
    if url:
        os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cm_site.settings")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def git_revision() -> dict:
    """HEAD and whether the working tree differs from it (read-only git commands)."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return result.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def machine(url: str | None = None) -> dict:
    """Cores, memory, CPU model, Python and (given a database URL) PostgreSQL's version."""
    info = {
        "cores": os.cpu_count(),
        "memory_mb": _meminfo_mb(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python_loop_ms": python_loop_ms(),
    }
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    return info


def python_loop_ms(rounds: int = 7) -> float:
    """How fast this machine runs Python right now (a fixed loop, median of ``rounds``): on a
    shared host the same benchmark runs up to twice slower from one hour to the next, so
    every result carries this reading to be compared by."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        sum(i * i for i in range(300_000))
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _meminfo_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def envelope(name: str, size: str, url: str | None, measurements: dict) -> dict:
    """The JSON every benchmark prints: what, at which size, on which code and machine, when."""
    return {
        "benchmark": name,
        "size": size,
        "revision": git_revision(),
        "machine": machine(url),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        **measurements,
    }


def write_result(result: dict, *, save: bool = True) -> Path | None:
    """Print the result and keep it as ``bench/results/<name>-<size>.json``."""
    text = json.dumps(result, indent=2, default=str)
    print(text, flush=True)
    if not save:
        return None
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{result['benchmark']}-{result['size']}.json"
    path.write_text(text + "\n")
    return path


def summary(samples_ms: list[float]) -> dict:
    """Median, p95 and max of a list of durations in milliseconds."""
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "max_ms": round(ordered[-1], 2),
    }
