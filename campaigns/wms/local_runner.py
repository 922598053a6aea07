"""Run one ``bps submit`` in the background and record how it ended (the local WMS's runner).

``python -m campaigns.wms.local_runner CONTROL_DIR CONFIG`` detaches (double fork, new
session), then, holding an exclusive lock on ``CONTROL_DIR/runner.lock`` for its whole life:

- exits at once if another runner holds the lock or a run was already started here, so
  however many times a launch is retried, one control directory makes at most one run;
- writes ``started.json`` (its pid and session), runs ``bps submit CONFIG`` with output to
  ``bps.log``, and writes ``result.json`` (exit code, time, whether a cancel was requested);
- on SIGTERM, interrupts bps (SIGINT, so parsl shuts its workers down) and still records the end;
- at the end kills whatever the run left behind in its session (parsl's interchange/workers).

A live run is one whose lock is held: ``flock`` dies with the process, so a crash can never
leave a run that looks alive. Only the standard library is imported here: the runner must
start fast, and must record the end however bps ends.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

LOCK = "runner.lock"
STARTED = "started.json"
RESULT = "result.json"
CANCEL = "cancel_requested.json"
BPS_LOG = "bps.log"
RUNNER_LOG = "runner.log"

# bps's command line, as its console script runs it (no dependency on a bin directory).
BPS_MAIN = "import sys; from lsst.ctrl.bps.cli.bps import main; sys.exit(main())"


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` so a reader sees the whole file or none of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(temporary, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def is_locked(control: Path) -> bool:
    """Whether a runner holds ``control``'s lock, i.e. a run is alive there."""
    try:
        fd = os.open(control / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the shared lock if we got it
    return False


def session_members(sid: int) -> list[int]:
    """Pids of the live (not zombie) processes in session ``sid`` (Linux ``/proc``)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # Fields after "(comm)": state, ppid, pgrp, session, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def kill_session(sid: int, sig: int = signal.SIGKILL) -> int:
    """Send ``sig`` to every process of session ``sid`` but this one; how many were signalled."""
    count = 0
    for pid in session_members(sid):
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, sig)
            count += 1
        except ProcessLookupError:
            pass
    return count


def _log(control: Path, message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(control / RUNNER_LOG, "a") as log:
        log.write(f"{stamp} runner {os.getpid()}: {message}\n")


def _detach() -> None:
    """Leave the caller: it waits for our first process only, and we lead a new session."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()


def _run_bps(control: Path, config: Path) -> int:
    with open(control / BPS_LOG, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", BPS_MAIN, "submit", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def interrupt(signum, frame):
        _log(control, f"signal {signum}: interrupting bps (pid {child.pid})")
        child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    return child.wait()


def run(control: Path, config: Path) -> int:
    """The runner's life after detaching; returns its exit code."""
    fd = os.open(control / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _log(control, "another runner holds the lock: nothing to do")
        return 0
    if (control / STARTED).exists():
        _log(control, "a run was already started here: nothing to do")
        return 0
    started = {"pid": os.getpid(), "sid": os.getsid(0), "config": str(config), "at": time.time()}
    write_json(control / STARTED, started)
    _log(control, f"starting bps submit {config}")
    code = _run_bps(control, config)
    cancelled = (control / CANCEL).exists()
    write_json(control / RESULT, {"exit_code": code, "cancelled": cancelled, "at": time.time()})
    _log(control, f"bps submit ended with exit code {code}")
    leftovers = kill_session(os.getsid(0))
    if leftovers:
        _log(control, f"killed {leftovers} leftover process(es) of the run")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} CONTROL_DIR BPS_CONFIG", file=sys.stderr)
        return 2
    control, config = Path(argv[1]).resolve(), Path(argv[2]).resolve()
    _detach()
    try:
        return run(control, config)
    except Exception as error:  # recorded for the person reading the control directory
        _log(control, f"failed: {type(error).__name__}: {error}")
        raise


if __name__ == "__main__":
    sys.exit(main(sys.argv))
