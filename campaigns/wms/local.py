"""The local WMS: BPS runs the quanta on this machine through ctrl_bps_parsl.

``bps submit`` through parsl blocks until the workflow ends and the plugin keeps no status,
so a run is a detached runner process (``campaigns.wms.local_runner``) and everything known
about it is in two directories:

- ``submitPath`` (from the config; BPS refuses one that exists): BPS's files, the parsl
  workflow (``parsl_workflow.pickle``: jobs, labels, quanta), one stdout/stderr per job under
  ``logs/``, and the provenance graph the final job writes (``provenance.qg``, see below);
- ``<submitPath>.local`` next to it: the runner's lock, ``started.json``, ``result.json``
  (bps's exit code), ``bps.log`` (bps's output), ``runner.log`` and ``report.json`` (the final
  report, written once the run ended, read back by later looks).

``Submission.wms_id`` and ``submit_dir`` are both ``submitPath``. Submitting the same config
again returns the same Submission and starts nothing: one control directory makes at most one
run (the runner decides, under a lock, so a launch that crashed half-way can just be retried).

**Reports.** While the runner lives: PENDING until BPS has built the quantum graph, then
RUNNING, with counts from the jobs' logs (a job's quanta are pending until its log appears,
running until it ends, then succeeded or failed by pipetask's last line). Once it ended, counts,
failed quanta and the jobs' resource use (their quanta's wall time and peak memory) come from
the provenance quantum graph, which ``butler aggregate-graph`` (BPS's final job) writes only
when asked: the config must have
``extraAggregateOptions: "--mock-storage-classes -o {submitPath}/provenance.qg"``. Without it
(or when the final job did not run) the jobs' logs are used, and resource use is unknown. As
for PanDA, ``failed`` counts quanta that failed and those blocked by an upstream failure (they
will never produce output); ``failed_quanta`` lists only those that raised. SUCCEEDED needs
bps's exit code 0 (the final job ingested the outputs) and every quantum succeeded. Task labels
of mocked pipelines (``--mock``: ``_mock_isr``) are reported as the pipeline's (``isr``).

**Config keys this relies on** (besides the payload and the parsl site): ``pipetaskOutput: ""``
(no ``-o``: the run makes its RUN and no CHAINED collection), ``finalJob: {requestCpus: 1}``
(``aggregate-graph -j 16`` takes ~20 s longer on 2 cores) and the ``extraAggregateOptions``
above. Leave ``site.local.run_dir`` unset (parsl's ``runinfo`` then goes in the control
directory) or make it a literal path: BPS variables are not expanded there (``{submitPath}``
becomes ``""``, i.e. ``/runinfo``).
"""

import dataclasses
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import yaml

from campaigns.wms import local_runner as runner
from campaigns.wms.base import (
    FailedQuantumReport,
    JobReport,
    RunReport,
    RunState,
    Submission,
    TaskCounts,
    WmsRefused,
    WmsUnavailable,
)

REPO_ROOT = Path(__file__).resolve().parents[2]  # on the jobs' PYTHONPATH: campaigns.demo.tasks
PROVENANCE = "provenance.qg"
REPORT = "report.json"
WORKFLOW = "parsl_workflow.pickle"
LAUNCH_TIMEOUT = 30.0  # seconds to wait for the launch lock, then for the runner to start
CANCEL_GRACE = 20.0  # seconds parsl gets to stop its workers before they are killed
_MOCK_PREFIX = "_mock_"  # lsst.pipe.base.tests.mocks renames mocked tasks "_mock_<label>"
_ATTEMPT_MARK = "--> executable follows <--"  # parsl's bash_app writes it at each try
_EXECUTED = re.compile(r"Executed (\d+) quanta successfully, (\d+) failed and (\d+) remain")
_EXCEPTION = re.compile(
    r"^((?:[A-Za-z_][\w.]*)?(?:Error|Exception|Failure|Interrupt)): (.*)$", re.M
)


class LocalSubmitError(WmsRefused):
    """The config cannot be submitted here (no usable submitPath, a foreign submit directory)."""


def control_dir(submit_dir: Path) -> Path:
    """The runner's directory for the run whose BPS submit directory is ``submit_dir``."""
    return submit_dir.with_name(submit_dir.name + ".local")


class LocalWms:
    """Runs BPS workflows on this machine (ctrl_bps_parsl, site ``local``)."""

    name = "local"

    def submit(self, config: Path) -> Submission:
        """Start ``bps submit config`` in the background; same config, same Submission."""
        config = Path(config).resolve()
        submit_dir = _submit_path(config)
        control = control_dir(submit_dir)
        control.mkdir(parents=True, exist_ok=True)
        with _launch_lock(control):
            if not (control / runner.STARTED).exists():
                if submit_dir.exists():
                    raise LocalSubmitError(
                        f"{submit_dir} exists but no run of cm's started there; "
                        "BPS refuses an existing submit directory"
                    )
                _start_runner(control, config)
        return Submission(wms_id=str(submit_dir), submit_dir=str(submit_dir))

    def report(self, submission: Submission) -> RunReport:
        """Where the run stands; WmsUnavailable if no run of ours is recorded there."""
        submit_dir = Path(submission.wms_id or submission.submit_dir)
        control = control_dir(submit_dir)
        try:
            if runner.read_json(control / runner.STARTED) is None:
                raise WmsUnavailable(f"no local run was started for {submit_dir}")
            cached = runner.read_json(control / REPORT)
            if cached is not None:
                return _report_from_json(cached)
            result = runner.read_json(control / runner.RESULT)
            if result is None and runner.is_locked(control):
                return _live_report(submit_dir, control)
            # Ended: re-read, the runner may have written its result just before unlocking.
            result = runner.read_json(control / runner.RESULT)
            report = _final_report(submit_dir, control, result)
            runner.write_json(control / REPORT, _report_to_json(report))  # it will not change
        except (OSError, ValueError) as error:
            raise WmsUnavailable(f"cannot read the local run at {submit_dir}: {error}") from error
        return report

    def cancel(self, submission: Submission) -> None:
        """Stop a live run: interrupt bps (parsl stops its workers), then kill what is left."""
        control = control_dir(Path(submission.wms_id or submission.submit_dir))
        started = runner.read_json(control / runner.STARTED)
        if started is None or not runner.is_locked(control):
            return
        runner.write_json(control / runner.CANCEL, {"at": time.time()})
        with suppress(ProcessLookupError):  # ended meanwhile
            os.kill(started["pid"], signal.SIGTERM)
        deadline = time.monotonic() + CANCEL_GRACE
        while runner.is_locked(control) and time.monotonic() < deadline:
            time.sleep(0.2)
        runner.kill_session(started["sid"])


# --- submitting ------------------------------------------------------------------------------


def _submit_path(config: Path) -> Path:
    try:
        value = yaml.safe_load(config.read_text()).get("submitPath")
    except (OSError, yaml.YAMLError, AttributeError) as error:
        raise LocalSubmitError(f"cannot read the BPS config {config}: {error}") from error
    if not isinstance(value, str) or "{" in value or "$" in value or not Path(value).is_absolute():
        raise LocalSubmitError(
            f"{config}: submitPath must be a plain absolute path (no BPS or environment "
            f"variables), not {value!r}"
        )
    return Path(value)


@contextmanager
def _launch_lock(control: Path) -> Iterator[None]:
    fd = os.open(control / "launch.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WmsUnavailable(f"another launch of {control} is stuck") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)


def _start_runner(control: Path, config: Path) -> None:
    """Start the runner and wait until a runner (ours, or a crashed launch's) has started."""
    command = [sys.executable, "-m", "campaigns.wms.local_runner", str(control), str(config)]
    with open(control / runner.RUNNER_LOG, "ab") as log:
        env = _run_environment()
        first = subprocess.Popen(
            command, cwd=control, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        code = first.wait(timeout=LAUNCH_TIMEOUT)  # it forks and exits at once
    except subprocess.TimeoutExpired:
        code = None
    if code != 0:
        raise WmsUnavailable(f"the local runner failed to start; see {control / 'runner.log'}")
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    while not (control / runner.STARTED).exists():
        if time.monotonic() > deadline:
            raise WmsUnavailable(f"the local runner did not start; see {control / 'runner.log'}")
        time.sleep(0.05)


def _run_environment() -> dict[str, str]:
    """This process's environment, fit for BPS and its jobs.

    The jobs import the pipeline's tasks from this repository (PYTHONPATH), run ``pipetask``
    and ``butler`` (PATH, and the ``*_DIR`` variables some BPS configs use), and must not
    configure Django.
    """
    stack = _stack_dir()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join(filter(None, [str(stack / "bin"), env.get("PATH")]))
    env["CTRL_MPEXEC_DIR"] = env["DAF_BUTLER_DIR"] = str(stack)
    return env


def _stack_dir() -> Path:
    """The installation whose ``bin`` has ``pipetask`` and ``butler`` (this virtualenv)."""
    found = shutil.which("pipetask")
    for candidate in (Path(sys.prefix), Path(found).parent.parent if found else None):
        if candidate and all((candidate / "bin" / s).exists() for s in ("pipetask", "butler")):
            return candidate
    raise WmsUnavailable(f"pipetask and butler not found in {sys.prefix}/bin nor on PATH")


# --- reporting -------------------------------------------------------------------------------


@dataclasses.dataclass
class _Job:
    """One BPS job as parsl runs it, and what its log says."""

    name: str
    quanta: dict[str, int]  # task label -> quanta in the job
    log: Path
    outcome: str = "pending"  # pending, running, succeeded, failed, blocked (never ran)
    attempts: int = 0
    error: str = ""
    quantum_ids: tuple[str, ...] = ()
    wall_seconds: float | None = None
    max_rss_mb: float | None = None


_JOB_STATES = {
    "pending": RunState.PENDING,
    "running": RunState.RUNNING,
    "succeeded": RunState.SUCCEEDED,
    "failed": RunState.FAILED,
    "blocked": RunState.CANCELLED,
}
_COUNTED_AS = {"blocked": "failed"}  # will never produce output, as PanDA's PRUNED


def _live_report(submit_dir: Path, control: Path) -> RunReport:
    jobs = _jobs(submit_dir, None)
    files = [control / runner.BPS_LOG]
    if jobs is None:
        return RunReport(RunState.PENDING, message="building the quantum graph", files=files)
    tasks = _counts_from_jobs(jobs)
    return RunReport(RunState.RUNNING, tasks=tasks, jobs=_job_reports(jobs), files=files)


def _final_report(submit_dir: Path, control: Path, result: dict | None) -> RunReport:
    code = -1 if result is None else result["exit_code"]
    jobs = _jobs(submit_dir, code) or []
    quanta = _from_provenance(submit_dir / PROVENANCE)
    tasks, failed, used = quanta if quanta else (_counts_from_jobs(jobs), [], {})
    _add_usage(jobs, used)
    init = next((job for job in jobs if job.name == "pipetaskInit"), None)
    cancelled = (control / runner.CANCEL).exists()
    init_failed = not cancelled and init is not None and init.outcome == "failed"
    complete = bool(tasks) and all(t.succeeded == t.expected for t in tasks)
    if code == 0 and complete:  # even if a cancel came too late to stop it
        state, message = RunState.SUCCEEDED, ""
    elif cancelled:
        state, message = RunState.CANCELLED, "cancelled"
    elif result is None:
        state, message = RunState.FAILED, "the run's process ended without a result (killed?)"
    elif init_failed:
        state, message = RunState.FAILED, f"pipetaskInit failed: {init.error}"
    else:
        state, message = RunState.FAILED, _why_failed(control, code, tasks)
    report = RunReport(state, tasks, _job_reports(jobs), failed, init_failed, message)
    logs = [job.log for job in jobs if job.outcome == "failed" and job.log.exists()]
    found = [p for p in (control / runner.BPS_LOG, submit_dir / PROVENANCE, *logs) if p.exists()]
    report.files = [*found, control / REPORT]
    return report


def _why_failed(control: Path, code: int, tasks: list[TaskCounts]) -> str:
    failed = sum(t.failed for t in tasks)
    if failed:
        return f"{failed} of {sum(t.expected for t in tasks)} quanta failed or were blocked"
    return f"bps submit exited with code {code}: {_last_error(_read(control / runner.BPS_LOG))}"


def _last_error(log: str) -> str:
    """The last exception in a log, else its last "Error: ..." (pipetask's), else its end."""
    if errors := _EXCEPTION.findall(log):
        return f"{errors[-1][0]}: {errors[-1][1]}"
    if said := re.findall(r"(Error: .*)$", log, re.M):
        return said[-1]
    lines = log.strip().splitlines()
    return lines[-1] if lines else "no output"


def _jobs(submit_dir: Path, code: int | None) -> list[_Job] | None:
    """BPS's jobs with their logs' outcomes (``code``: bps's exit code, None while it runs).

    None while BPS has not written its workflow yet.
    """
    path = submit_dir / WORKFLOW
    if not path.exists():
        return None
    import pickle  # ctrl_bps_parsl's own record of the workflow, written by our runner's bps

    try:
        with open(path, "rb") as stream:
            workflow = pickle.load(stream)
    except (EOFError, pickle.UnpicklingError):  # being written
        return None if code is None else []
    parsl_jobs = [*workflow.jobs.values(), *([workflow.final] if workflow.final else [])]
    jobs = [
        _Job(j.name, dict(j.generic.quanta_counts), Path(j.stderr), quantum_ids=_quantum_ids(j))
        for j in parsl_jobs
    ]
    init_done = any(job.log.exists() for job in jobs if job.name != "pipetaskInit")
    for job in jobs:
        _read_outcome(job, code, init_done)
    return jobs


def _read_outcome(job: _Job, code: int | None, init_done: bool) -> None:
    """Fill ``job``'s outcome from its stderr and the run's end.

    A pipeline job ends with pipetask's "Executed ..." line; pipetaskInit succeeded once any
    other job started; finalJob (the last thing bps does) succeeded if bps exited with 0.
    """
    if not job.log.exists():
        job.outcome = "pending" if code is None else "blocked"
        job.error = "" if code is None else "never ran (an upstream job failed, or the run stopped)"
        return
    text = _read(job.log)
    # parsl marks each try of the jobs it runs; pipetaskInit and finalJob run once, unmarked.
    job.attempts = max(1, text.count(_ATTEMPT_MARK))
    last = text.rsplit(_ATTEMPT_MARK, 1)[-1]
    executed = _EXECUTED.findall(last)
    if job.name == "pipetaskInit" and init_done:
        job.outcome = "succeeded"
    elif job.name == "finalJob" and code is not None:
        job.outcome = "succeeded" if code == 0 else "failed"
    elif executed and job.name not in ("pipetaskInit", "finalJob"):
        job.outcome = "failed" if int(executed[-1][1]) + int(executed[-1][2]) else "succeeded"
    else:
        job.outcome = "running" if code is None else "failed"
    if job.outcome == "failed":
        errors = _EXCEPTION.findall(last)
        useful = [e for e in errors if "One or more tasks failed" not in e[1]] or errors
        job.error = f"{useful[-1][0]}: {useful[-1][1]}" if useful else "no result in the job log"


def _quantum_ids(parsl_job: Any) -> tuple[str, ...]:
    """The quanta a BPS job runs: its ``qgraphNodeId`` command value (comma-separated)."""
    ids = (parsl_job.generic.cmdvals or {}).get("qgraphNodeId") or ""
    return tuple(filter(None, str(ids).split(",")))


def _add_usage(jobs: list[_Job], used: "_Used") -> None:
    """Jobs' resource use from their quanta's (the provenance graph's last tries).

    Wall time is the quanta's own (prep, init, run), without the job's process start-up;
    peak memory is the largest of the quanta's (RSS of the process, at each quantum's end).
    """
    for job in jobs:
        mine = [used[quantum] for quantum in job.quantum_ids if quantum in used]
        if mine:
            job.wall_seconds = sum(seconds for seconds, _ in mine)
            job.max_rss_mb = max(memory for _, memory in mine) / 2**20


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _job_reports(jobs: list[_Job]) -> list[JobReport]:
    return [
        JobReport(
            name=job.name,
            wms_job_id=job.name,
            task_labels=[_label(label) for label in job.quanta],
            state=_JOB_STATES[job.outcome],
            attempts=job.attempts,
            error=job.error,
            wall_seconds=job.wall_seconds,
            max_rss_mb=job.max_rss_mb,
        )
        for job in jobs
    ]


def _counts_from_jobs(jobs: list[_Job]) -> list[TaskCounts]:
    """Per-label counts from the jobs' outcomes (exact with single-quantum jobs)."""
    counts: dict[str, TaskCounts] = {}
    for job in jobs:
        for label, n in job.quanta.items():
            task = counts.setdefault(_label(label), TaskCounts(_label(label)))
            task.expected += n
            field = _COUNTED_AS.get(job.outcome, job.outcome)
            setattr(task, field, getattr(task, field) + n)
    return list(counts.values())


_Used = dict[str, tuple[float, float]]  # quantum id -> (seconds, peak RSS in bytes)
_Quanta = tuple[list[TaskCounts], list[FailedQuantumReport], _Used]


def _from_provenance(path: Path) -> _Quanta | None:
    """Counts, failed quanta and resource use from the final job's provenance graph, if any."""
    if not path.exists():
        return None
    from lsst.pipe.base import QuantumAttemptStatus
    from lsst.pipe.base.quantum_graph import ProvenanceQuantumGraph

    tasks, failed, used = [], [], {}
    with ProvenanceQuantumGraph.from_args(str(path), datasets=()) as (graph, _):
        nodes = graph.quantum_only_xgraph.nodes
        for label, quanta in graph.quanta_by_task.items():
            task = TaskCounts(_label(label), expected=len(quanta))
            for data_id, quantum_id in quanta.items():
                if usage := nodes[quantum_id].get("resource_usage"):
                    used[str(quantum_id)] = (usage.total_time, usage.memory)
                status = nodes[quantum_id]["status"]
                if status.has_metadata:  # SUCCESSFUL, or ABORTED_SUCCESS: outputs written
                    task.succeeded += 1
                    continue
                task.failed += 1  # failed, or blocked by an upstream failure
                if status is not QuantumAttemptStatus.BLOCKED:
                    failed.append(_failed_quantum(task.label, data_id, nodes[quantum_id]))
            tasks.append(task)
    return tasks, failed, used


def _failed_quantum(label: str, data_id: Any, node: dict) -> FailedQuantumReport:
    exception = node.get("exception")
    if exception is not None:
        error_type, message = exception.type_name, exception.message
    else:
        error_type = node["status"].name
        message = "the quantum ended without an exception recorded (killed, or no log written)"
    return FailedQuantumReport(label, dict(data_id.required), error_type, message)


def _label(label: str) -> str:
    return label.removeprefix(_MOCK_PREFIX)


# --- the cached final report -----------------------------------------------------------------


def _report_to_json(report: RunReport) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(report), default=str))


def _report_from_json(data: dict) -> RunReport:
    return RunReport(
        state=RunState(data["state"]),
        tasks=[TaskCounts(**task) for task in data["tasks"]],
        jobs=[JobReport(**{**job, "state": RunState(job["state"])}) for job in data["jobs"]],
        failed_quanta=[FailedQuantumReport(**quantum) for quantum in data["failed_quanta"]],
        init_failed=data["init_failed"],
        message=data["message"],
        files=[Path(path) for path in data["files"]],
    )
