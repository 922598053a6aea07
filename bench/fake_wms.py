"""What the poll benchmarks talk to: a scripted run history and two fake WMSes that tell it.

``fate(index, pass_no)`` says what the WMS reports on workflow ``index`` at poll pass
``pass_no``: most runs advance their counts; in each pass a few per hundred finish (succeeded,
failed quanta with a retryable or a pipeline error, pipetaskInit failed), two per hundred are
held and the ones held in the pass before are released. No run goes from held to finished in
one pass (the transition table has no blocked -> succeeded move).

- ``InstantWms`` (registered as "bench") answers from reports prepared before a pass: zero
  latency, so a poll through it measures cm's own bookkeeping.
- ``SlowFakePanda`` is tests/fake_panda.py's PanDA server (the real protocol) with a latency
  per call; ``python -m bench.fake_wms serve N --latency-ms 50`` runs one in its own process
  with N requests, and takes ``pass P`` lines on its standard input (answering ``ok``).
"""

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from campaigns.wms.base import (  # noqa: E402  (after the path set-up above)
    FailedQuantumReport,
    JobReport,
    RunReport,
    RunState,
    Submission,
    TaskCounts,
    WmsUnavailable,
)

LABELS = {"isr": 30, "calibrate": 20, "makeWarp": 10}  # quanta per task label, per workflow
FAILED_QUANTA = 3
RUNNING, HELD, SUCCEEDED, FAILED, INIT_FAILED = "running", "held", "succeeded", "failed", "init"
NAME = "bench"


def fate(index: int, pass_no: int) -> str:
    """What happens to workflow ``index`` in pass ``pass_no`` (1, 2, ...)."""
    window = ((pass_no - 1) * 20) % 100
    offset = (index % 100 - window) % 100
    if offset <= 2:
        return SUCCEEDED
    if offset <= 4:
        return FAILED
    if offset == 5:
        return INIT_FAILED
    if offset in (10, 11):
        return HELD
    return RUNNING


def retryable(index: int) -> bool:
    """Whether a failed workflow's quanta failed with an error a retry rule covers."""
    return (index // 100) % 2 == 0


def progress(index: int, pass_no: int, expected: int) -> tuple[int, int]:
    """(succeeded, running) quanta of a running label: a little more every pass."""
    done = min(expected - 1, expected * pass_no // 6 + index % 3)
    return done, min(expected - done, 4)


# -- reports in cm's terms (the zero-latency WMS) ----------------------------------------------


def report(index: int, pass_no: int) -> RunReport:
    """The RunReport a WMS gives on workflow ``index`` at pass ``pass_no``."""
    what = fate(index, pass_no)
    tasks = [_counts(label, expected, what, index, pass_no) for label, expected in LABELS.items()]
    if what in (RUNNING, HELD):
        jobs = [
            _special("pipetaskInit", RunState.SUCCEEDED),
            _special("finalJob", RunState.PENDING),
        ]
        state = RunState.RUNNING if what == RUNNING else RunState.HELD
        return RunReport(state=state, tasks=tasks, jobs=jobs, message=f"run {index} goes on")
    if what == INIT_FAILED:
        jobs = [_special("pipetaskInit", RunState.FAILED), _special("finalJob", RunState.PENDING)]
        return RunReport(state=RunState.FAILED, tasks=tasks, jobs=jobs, init_failed=True)
    jobs = [_special("pipetaskInit", RunState.SUCCEEDED), *_all_jobs(index, what)]
    jobs.append(_special("finalJob", RunState.SUCCEEDED))
    state = RunState.SUCCEEDED if what == SUCCEEDED else RunState.FAILED
    quanta = _failed_quanta(index) if what == FAILED else []
    return RunReport(state=state, tasks=tasks, jobs=jobs, failed_quanta=quanta)


def _counts(label: str, expected: int, what: str, index: int, pass_no: int) -> TaskCounts:
    if what == SUCCEEDED:
        return TaskCounts(label, expected=expected, succeeded=expected)
    if what == INIT_FAILED:
        return TaskCounts(label, expected=expected, pending=expected)
    if what == FAILED:
        failed = FAILED_QUANTA if label == "isr" else 0
        return TaskCounts(label, expected=expected, succeeded=expected - failed, failed=failed)
    done, active = progress(index, pass_no, expected)
    pending = expected - done - active
    if what == HELD:
        return TaskCounts(label, expected=expected, succeeded=done, held=active, pending=pending)
    return TaskCounts(label, expected=expected, succeeded=done, running=active, pending=pending)


def _special(name: str, state: RunState) -> JobReport:
    return JobReport(name, "", [], state)


def _all_jobs(index: int, what: str) -> list[JobReport]:
    """Every job of an ended run (PanDA reports them all once a request has ended)."""
    jobs = []
    for label, expected in LABELS.items():
        for number in range(expected):
            failed = what == FAILED and label == "isr" and number < FAILED_QUANTA
            jobs.append(
                JobReport(
                    name=f"{label}_{number}",
                    wms_job_id=f"{index}{number:03d}",
                    task_labels=[label],
                    state=RunState.FAILED if failed else RunState.SUCCEEDED,
                    attempts=2 if failed else 1,
                    error="exit code 1" if failed else "",
                    wall_seconds=60.0 + number,
                    max_rss_mb=1500.0 + number,
                )
            )
    return jobs


def _failed_quanta(index: int) -> list[FailedQuantumReport]:
    message = "lost heartbeat from the worker" if retryable(index) else "bad value in the image"
    error = "RuntimeError" if retryable(index) else "ValueError"
    return [
        FailedQuantumReport("isr", {"exposure": index, "detector": number}, error, message)
        for number in range(FAILED_QUANTA)
    ]


class InstantWms:
    """A WMS that answers at once from ``reports`` (wms_id -> RunReport), set before a pass."""

    name = NAME
    reports: dict[str, RunReport] = {}

    def submit(self, config: Path) -> Submission:
        raise WmsUnavailable("the benchmark WMS runs nothing")

    def report(self, submission: Submission) -> RunReport:
        try:
            return InstantWms.reports[submission.wms_id]
        except KeyError:
            raise WmsUnavailable(f"no report for {submission.wms_id}") from None

    def cancel(self, submission: Submission) -> None:
        pass


def register() -> None:
    """Workflows whose ``wms`` is "bench" are asked through ``InstantWms``."""
    from campaigns import wms

    wms._IMPLEMENTATIONS[NAME] = "bench.fake_wms:InstantWms"


# -- the fake PanDA server with latency ----------------------------------------------------------

PANDA_LABELS = {"pipetaskInit": 1, **LABELS, "finalJob": 1}
FIRST_REQUEST = 1001  # FakePanda's first request id; requests are numbered in order


def slow_fake_panda(latency: float):
    """A FakePanda whose every answer waits ``latency`` seconds first (as a far server would)."""
    from tests.fake_panda import FakePanda

    class SlowFakePanda(FakePanda):
        def __init__(self) -> None:
            super().__init__()
            base = self._server.RequestHandlerClass

            class Slow(base):  # type: ignore[misc, valid-type]
                def do_POST(self) -> None:
                    time.sleep(latency)
                    super().do_POST()

            self._server.RequestHandlerClass = Slow
            self._server.request_queue_size = 1024  # many clients connect at once

        def relay(self, command, kwargs, args):
            self.log.clear()  # a benchmark makes far too many requests to keep them all
            return super().relay(command, kwargs, args)

    return SlowFakePanda()


def panda_pass(server, count: int, pass_no: int) -> None:
    """Set every request's state as ``fate`` says for this pass."""
    for index in range(count):
        status, tasks = _idds_state(index, pass_no)
        server.set_state(FIRST_REQUEST + index, status, **tasks)


def _idds_state(index: int, pass_no: int) -> tuple[str, dict[str, dict]]:
    what = fate(index, pass_no)
    init = {"status": "Finished", "processed": 1}
    if what == SUCCEEDED:
        tasks = {label: {"status": "Finished", "processed": n} for label, n in PANDA_LABELS.items()}
        return "Finished", tasks
    if what == INIT_FAILED:
        return "Failed", {"pipetaskInit": {"status": "Failed", "failed": 1, "processed": 0}}
    if what == FAILED:
        tasks = {label: {"status": "Finished", "processed": n} for label, n in PANDA_LABELS.items()}
        expected = LABELS["isr"]
        tasks["isr"] = {"status": "SubFinished", "processed": expected - 3, "failed": 3}
        return "SubFinished", tasks
    tasks = {"pipetaskInit": init}
    for label, expected in LABELS.items():
        done, active = progress(index, pass_no, expected)
        if what == HELD:
            tasks[label] = {"status": "Suspended", "processed": done, "processing": 0}
        else:
            tasks[label] = {"status": "Transforming", "processed": done, "processing": active}
    return ("Suspended" if what == HELD else "Transforming"), tasks


def serve(count: int, latency: float) -> None:
    """Run a slow fake PanDA server with ``count`` requests; obey ``pass P`` lines on stdin."""
    server = slow_fake_panda(latency)
    for index in range(count):
        request = server.add_request(f"bench_{index}", PANDA_LABELS)
        assert request == FIRST_REQUEST + index
    server.start()
    print(f"ready {server.url}", flush=True)
    lock = threading.Lock()
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["pass"]:
            with lock, server._lock:
                panda_pass(server, count, int(words[1]))
            print("ok", flush=True)
        elif words[:1] == ["quit"]:
            break
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("requests", type=int)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    serve(args.requests, args.latency_ms / 1000)


if __name__ == "__main__":
    main()
