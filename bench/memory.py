"""Peak memory (VmHWM) of the web process and of worker passes, at one size.

    python -m bench.memory --size large [--rounds 3] [--database-url URL]

Web: a real server (``manage.py runserver --noreload``, one process, threaded) on a free port,
driven over HTTP with a shifter's session through every page and API list of ``bench.pages``
(plus the step's CSV export) for ``rounds`` rounds; its VmHWM and VmRSS are read from
``/proc/<pid>/status`` after start-up, after the first round and at the end. The HTTP latency
of each URL (median over the rounds, through the real server) is reported too.

Worker: each pass runs in its own process (``python -m bench.memory --worker KIND``) inside a
transaction that is rolled back, so the bench database is left as loaded: ``idle`` (Django and
cm imported, nothing done: the baseline), ``poll`` (``cm poll`` with nothing due: every active
workflow's next check postponed first) and ``alarms`` (``cm alarms evaluate`` over the whole
database). The poll against a WMS that answers is the poll benchmark's (bench/README.md).
Target (issue 7): web RSS at most 250 MB.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from bench.common import REPO, database_url, envelope, setup_django, write_result

MAX_WEB_MB = 250
WORKERS = ("idle", "poll", "alarms")


def status_mb(pid: int | str = "self") -> dict[str, float]:
    """VmHWM (peak resident) and VmRSS (resident now) of a process, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_cookie(username: str) -> str:
    """A logged-in session for ``username``, made as ``Client.force_login`` makes it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url + "states/", timeout=5).read()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise RuntimeError("the server did not answer within a minute")


def web(url: str, rounds: int) -> dict:
    """Start a server, drive it, read its memory; always stops it."""
    from django.conf import settings

    from bench import pages

    shifter, _ = pages.users()
    t = pages.targets()
    urls = pages.pages(t) | pages.api_lists(t)
    urls["step_csv_export"] = f"/steps/{t['step']}/?_export=csv"
    urls["failures_csv_export"] = f"/workflows/{t['failing']}/failures/?_export=csv"
    urls["api_table_groups_csv"] = f"/api/v1/tables/groups/?step={t['step']}&format=csv"
    cookie = f"{settings.SESSION_COOKIE_NAME}={_session_cookie(shifter.username)}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}/"
    env = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "cm_site.settings"}
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runserver",
            "--noreload",
            "--nothreading",
            f"127.0.0.1:{port}",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(base, server)
        memory = {"after_start": status_mb(server.pid)}
        times: dict[str, list[float]] = {name: [] for name in urls}
        codes: dict[str, int] = {}
        for n in range(rounds):
            for name, path in urls.items():
                request = urllib.request.Request(
                    base + path.lstrip("/"), headers={"Cookie": cookie}
                )
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(request, timeout=120) as response:
                        response.read()
                        codes[name] = response.status
                except urllib.error.HTTPError as error:
                    codes[name] = error.code
                times[name].append((time.perf_counter() - started) * 1000)
            if n == 0:
                memory["after_first_round"] = status_mb(server.pid)
            memory.setdefault("rss_after_each_round", []).append(status_mb(server.pid)["VmRSS"])
        memory["at_end"] = status_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    http = {
        name: {
            "status": codes.get(name),
            "median_ms": round(statistics.median(v), 1),
            "max_ms": round(max(v), 1),
        }
        for name, v in times.items()
    }
    peak = memory["at_end"]["VmHWM"]
    return {
        "server": "manage.py runserver --noreload --nothreading",
        "rounds": rounds,
        "requests": rounds * len(urls),
        "memory_mb": memory,
        "peak_rss_mb": peak,
        "http": http,
        "check": {"max_web_mb": MAX_WEB_MB, "met": peak <= MAX_WEB_MB},
    }


def worker(kind: str) -> dict:
    """One worker pass in this process, rolled back; its time and peak memory."""
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from campaigns.models import Workflow
    from campaigns.services.polling import POLLED

    before = status_mb()
    started = time.perf_counter()
    with transaction.atomic():
        if kind == "poll":
            later = timezone.now() + timedelta(days=1)
            Workflow.objects.filter(status__in=POLLED).update(next_check_at=later)
            call_command("cm", "poll", stdout=open(os.devnull, "w"))  # noqa: SIM115
        elif kind == "alarms":
            call_command("cm", "alarms", "evaluate", stdout=open(os.devnull, "w"))  # noqa: SIM115
        transaction.set_rollback(True)
    seconds = time.perf_counter() - started
    return {
        "kind": kind,
        "seconds": round(seconds, 2),
        "before_mb": before,
        "after_mb": status_mb(),
    }


def workers(url: str) -> dict:
    out = {}
    env = os.environ | {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "cm_site.settings"}
    for kind in WORKERS:
        done = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--worker", kind, "--database-url", url],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        out[kind] = {**result, "peak_rss_mb": result["after_mb"]["VmHWM"]}
    return out


def run(url: str, rounds: int) -> dict:
    return {"web": web(url, rounds), "workers": workers(url)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="small")
    parser.add_argument("--database-url")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    url = args.database_url or database_url(args.size)
    setup_django(url)
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return 0
    write_result(envelope("memory", args.size, url, run(url, args.rounds)), save=not args.no_save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
