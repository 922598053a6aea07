"""PanDA through BPS: submit a rendered BPS config to PanDA/iDDS, report on the run, cancel it.

The real Rubin client code does the work: ``lsst.ctrl.bps.drivers.prepare_driver`` builds the
quantum graph and the iDDS workflow; ``lsst.ctrl.bps.panda.PanDAService`` submits, reports and
aborts it through pandaclient's relay to iDDS (a POST to ``{PANDA_URL_SSL}/relay_idds_command``).

**States.** The iDDS request status decides the run's state, deliberately:

==================================  ===========  ============================================
iDDS request status                 RunState     note
==================================  ===========  ============================================
Finished                            SUCCEEDED    every job succeeded
SubFinished                         FAILED       a partial failure: the per-label ``failed``
                                                 counts say what failed, and cm shows the run
                                                 as reviewable (``PanDAService.report`` calls
                                                 this SUCCEEDED: cm must not)
Failed, Expired                     FAILED
Cancelled                           CANCELLED
Suspended, Suspending, ToSuspend    HELD         waits for a person
anything else (New, Transforming,   PENDING or   PENDING until some job has run, RUNNING after
ToCancel, Resuming, …)              RUNNING
==================================  ===========  ============================================

**Counts** per pipeline task label come from the request's task rows, counted as
``PanDAService.report`` counts its job summary (``_job_summary``: one look-up instead of the
two that calling it too would make): ``expected`` all jobs, ``succeeded`` SUCCEEDED (iDDS's
processed files), ``failed`` FAILED + PRUNED (failed, and missing: will never produce output),
``running`` RUNNING, ``held`` HELD, ``pending`` the rest. They count PanDA jobs, which are
quanta with BPS's default single-quantum clustering. The BPS jobs ``pipetaskInit`` and
``finalJob`` are not pipeline tasks: they are reported as ``jobs``, and a failed pipetaskInit
sets ``init_failed``.

**Jobs.** While the request runs, ``jobs`` are pipetaskInit and finalJob, from those counts.
Once it has ended, every PanDA job is reported, from iDDS's output contents joined with the
PanDA job records iDDS keeps (``get_contents_output_ext``, which ``PanDAService.report`` reads
exit codes from): BPS's job name, PanDA id, tries, errors (pilot, payload, ... codes and
diagnostics), wall time (``end_time - start_time``) and peak memory (``max_rss``, kB). It is
asked for only then, because the answer is the whole job table; when iDDS cannot give it, the
run is reported without it.

**Environment.** pandaclient is configured by environment variables (``PANDA_URL``,
``PANDA_URL_SSL``, ``PANDACACHE_URL``, ``PANDA_AUTH=oidc``, ``PANDA_AUTH_VO``,
``PANDA_AUTH_ID_TOKEN``, ``PANDA_VERIFY_HOST``, ``PANDA_CONFIG_ROOT``, …) and reads some of them
only when first imported. ``PandaWms(env)`` takes them from a mapping (cm's settings; the process
environment by default), and for each call sets exactly those (every ``PANDA*``, ``IDDS_*``,
``OIDC_*``, ``X509_*`` variable and ``LSST_RUN_TEMP_SPACE``) in ``os.environ`` and in
pandaclient's module settings, then puts back what was there. Calls with the same settings run
concurrently; calls with other settings wait. Defaults added: ``PANDA_BEHIND_REAL_LB=1`` (no DNS
look-ups at import or per request), ``PANDACACHE_URL`` = ``PANDA_URL_SSL``, ``PANDA_CONFIG_ROOT``
= ``~/.pathena`` (pandaclient's OIDC cache; it would use the working directory), and the
interpreter's ``bin`` on ``PATH`` (BPS runs ``pipetask qgraph``). A token in
``PANDA_AUTH_ID_TOKEN`` means no interactive login is ever attempted.

**Timeouts and faults.** pandaclient waits up to 600 s for any answer (``httpx`` timeout fixed in
``pandaclient.Client._HttpClient``, no setting) and its OIDC login has no timeout at all, so
each call runs in a daemon thread that is given ``timeout`` seconds (default 30; submit 120, not
counting the local quantum-graph build), settable per instance or as ``CM_PANDA_TIMEOUT`` /
``CM_PANDA_SUBMIT_TIMEOUT`` in the mapping. A call that overruns is abandoned (its thread ends
when pandaclient gives up) and reported as ``WmsUnavailable``, as is every other fault: an HTTP
error, an unreadable or malformed answer, an iDDS error, a refused token, and pandaclient's
``sys.exit(255)`` when a login fails (``SystemExit`` is caught in the thread).

**Submitting** is idempotent: the request id is recorded in the BPS submit directory
(``cm_panda_submission.json``), and submitting the same config again returns it. A submit
directory left by a failed attempt is renamed (``submit.failed-N``) and the config prepared
again: BPS refuses an existing submit directory and an existing staged file. A submission whose
answer timed out may still have reached PanDA; submitting again then makes a second request.
Preparation failures (bad config, empty quantum graph) are ``PandaPrepareError``, not
``WmsUnavailable``: trying again later will not help.
"""

import json
import logging
import os
import re
from collections.abc import Mapping
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from campaigns.wms.base import (
    JobReport,
    RunReport,
    RunState,
    Submission,
    TaskCounts,
    WmsRefused,
    WmsUnavailable,
)
from campaigns.wms.panda_client import (
    CLIENT,
    bounded,
    panda_environment,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
DEFAULT_SUBMIT_TIMEOUT = 120.0
SUBMISSION_RECORD = "cm_panda_submission.json"
SPECIAL_JOBS = ("pipetaskInit", "finalJob")


def _stack_tag() -> str:
    """The weekly stack matching the installed BPS (30.2026.4300 -> w_2026_43), for the jobs."""
    try:
        version = metadata.version("lsst-ctrl-bps-panda")
    except metadata.PackageNotFoundError:
        return "w_latest"
    found = re.fullmatch(r"\d+\.(\d{4})\.(\d\d)\d*", version)
    return f"w_{found[1]}_{found[2]}" if found else "w_latest"


# What the PanDA plugin needs in a BPS config, which its wheel does not ship (it lacks
# config/bps_panda*.yaml). cm merges this under each PanDA step's BPS template, so a step
# overrides any of it. Site values are USDF's.
PANDA_DEFAULTS: dict[str, Any] = {
    "wmsServiceClass": "lsst.ctrl.bps.panda.PanDAService",
    # Where the jobs run: PanDA site, cloud and queues (finalJob merges outputs, on its own queue).
    "computeSite": "SLAC",
    "computeCloud": "US",
    "queue": "SLAC_Rubin",
    "finalJob": {"queue": "SLAC_Rubin_Merge"},
    # Command-line values PanDA fills in per job.
    "placeholderParams": ["qgraphNodeId", "qgraphId"],
    # Where the quantum graph and job scripts are staged for the jobs: the site's run temp space
    # when LSST_RUN_TEMP_SPACE is set (one directory per preparation: staging never overwrites),
    # else the submit directory (a file system the jobs must see).
    "payloadFolder": "payload",
    "fileDistributionEndPoint": (
        "${LSST_RUN_TEMP_SPACE}/{operator}/panda_cache_box/{payloadFolder}/{uniqProcName}/"
        "{timestamp}/"
    ),
    "fileDistributionEndPointDefault": "file://{submitPath}/panda_cache_box/",
    # A job's command, outermost first: runnerCommand runs jobContainer, which runs
    # payloadCommand, where the plugin puts the encoded pipetask command for "_cmd_line_".
    "runnerCommand": (
        "logDir={jobLogDir}; mkdir -p ${logDir}; {jobContainer} retStat=$?; exit $retStat"
    ),
    "jobContainer": '/bin/bash -c "{payloadCommand}" >&2;',
    "payloadCommand": (
        "cd {jobInitDir}; {setupLSSTEnv} "
        "python3 -m lsst.ctrl.bps.panda.edgenode.cmd_line_decoder _cmd_line_; "
        "ret=\\$?; {jobCleanup} exit \\$ret;"
    ),
    "jobInitDir": "`pwd`",
    "jobLogDir": "{jobInitDir}",
    "jobCleanup": "rm -fr EXEC_REPO-*;",
    "setupLSSTEnv": (
        "unset PYTHONPATH; "
        "source /cvmfs/sw.lsst.eu/linux-x86_64/lsst_distrib/{LSST_VERSION}/loadLSST.bash; "
        "setup lsst_distrib; {custom_lsst_setup}"
    ),
    "custom_lsst_setup": "",
    "LSST_VERSION": _stack_tag(),
}

_FINAL_STATES = {
    "Finished": RunState.SUCCEEDED,
    "SubFinished": RunState.FAILED,
    "Failed": RunState.FAILED,
    "Expired": RunState.FAILED,
    "Cancelled": RunState.CANCELLED,
}
_HELD_STATES = {"Suspended", "Suspending", "ToSuspend"}


class PandaPrepareError(WmsRefused):
    """BPS could not prepare the workflow (config, butler, quantum graph): nothing was submitted."""


class PandaWms:
    """PanDA, reached through ctrl_bps_panda and pandaclient (see the module docstring)."""

    name = "panda"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
        submit_timeout: float | None = None,
    ):
        source = os.environ if env is None else env
        self.env = panda_environment(source)
        self.timeout = timeout or float(source.get("CM_PANDA_TIMEOUT", DEFAULT_TIMEOUT))
        self.submit_timeout = submit_timeout or float(
            source.get("CM_PANDA_SUBMIT_TIMEOUT", DEFAULT_SUBMIT_TIMEOUT)
        )

    def submit(self, config: Path) -> Submission:
        """Prepare the BPS config (quantum graph included) and submit it; returns at once."""
        with CLIENT.using(self.env, self.timeout):
            submit_dir = _submit_dir(Path(config))
            done = _recorded(submit_dir)
            if done:
                return done
            _set_aside(submit_dir)
            wms_config, workflow = _prepare(Path(config))
            service = _service(wms_config)
            bounded(
                "submit", self.submit_timeout, lambda: service.submit(workflow, config=wms_config)
            )
            if not isinstance(workflow.run_id, int):
                raise WmsUnavailable(f"PanDA answered the submission with {workflow.run_id!r}")
        submission = Submission(str(workflow.run_id), wms_config[".bps_defined.submitPath"])
        _record(submission)
        return submission

    def report(self, submission: Submission) -> RunReport:
        """The iDDS request's state and per-label counts; ``WmsUnavailable`` if not to be had."""
        request_id = _request_id(submission)
        with CLIENT.using(self.env, self.timeout):
            status, summary, tasks = bounded("report", self.timeout, lambda: _look(request_id))
            jobs = self._jobs(request_id, tasks) if status in _FINAL_STATES else []
        return _run_report(request_id, status, summary, jobs)

    def _jobs(self, request_id: int, tasks: list[dict[str, Any]]) -> list[JobReport]:
        """Every PanDA job of an ended request, or [] when they cannot be had.

        Asked only once the request has ended (its last look): the answer is the whole job
        table. Under a deadline of its own, and never an error: the run's state must not wait
        for these details (an older iDDS, a job table too big to send in time).
        """
        try:
            return bounded("jobs", self.timeout, lambda: _panda_jobs(request_id, tasks))
        except WmsUnavailable as error:
            log.warning("PanDA request %s: its jobs are not reported: %s", request_id, error)
            return []

    def cancel(self, submission: Submission) -> None:
        """Abort the iDDS request (PanDA kills its jobs)."""
        request_id = _request_id(submission)
        with CLIENT.using(self.env, self.timeout):
            done, message = bounded("cancel", self.timeout, lambda: _service({}).cancel(request_id))
        if not done:
            raise WmsUnavailable(f"PanDA did not cancel request {request_id}: {message}")


# -- talking to PanDA ------------------------------------------------------------------------


def _service(config: Any) -> Any:
    from lsst.ctrl.bps import BpsConfig
    from lsst.ctrl.bps.panda import PanDAService

    return PanDAService(config if isinstance(config, BpsConfig) else BpsConfig(config))


def _look(request_id: int) -> tuple[str, dict[str, dict[Any, int]], list[dict[str, Any]]]:
    """The request's iDDS status, its job summary and its tasks, from one look-up.

    ``PanDAService.report`` would make the same ``get_requests`` call a second time to build
    the same summary: at ten thousand workflows a pass that is ten thousand more requests
    to PanDA, each costing the client a new HTTPS connection. ``_job_summary`` counts as it
    does (tests/test_wms_panda.py compares the two on every state)."""
    from lsst.ctrl.bps.panda.utils import get_idds_client

    service = _service({})
    # With detail: one row per task (transform), each with the request's status.
    answer = get_idds_client(service.config).get_requests(request_id=request_id, with_detail=True)
    rows = _idds_result(answer)
    if not rows:
        raise RuntimeError(f"PanDA knows no request {request_id}")
    status = rows[0]["status"]["attributes"]["_name_"]
    if not isinstance(status, str):
        raise TypeError(f"unreadable request status {status!r}")
    return status, _job_summary(rows), rows


def _job_summary(rows: list[dict[str, Any]]) -> dict[str, dict[Any, int]]:
    """``{task name: {WmsStates: jobs}}`` from iDDS's task rows, as ``PanDAService.report``
    builds its ``job_summary``: per task status, which of its file counts are which state;
    a label's tasks (chunks) summed."""
    from lsst.ctrl.bps.panda.utils import aggregate_by_basename, extract_taskname
    from lsst.ctrl.bps.wms_service import WmsStates

    states = {
        "Finished": [WmsStates.SUCCEEDED],
        "SubFinished": [WmsStates.SUCCEEDED, WmsStates.FAILED, WmsStates.PRUNED],
        "Transforming": [
            WmsStates.RUNNING,
            WmsStates.SUCCEEDED,
            WmsStates.FAILED,
            WmsStates.UNREADY,
            WmsStates.PRUNED,
        ],
        "Failed": [WmsStates.FAILED, WmsStates.PRUNED],
    }
    files = {
        WmsStates.SUCCEEDED: "output_processed_files",
        WmsStates.RUNNING: "output_processing_files",
        WmsStates.FAILED: "output_failed_files",
        WmsStates.UNREADY: "input_new_files",
        WmsStates.PRUNED: "output_missing_files",
    }
    try:
        tasks = sorted(rows, key=lambda row: row["transform_workload_id"])
    except (KeyError, TypeError):
        tasks = sorted(rows, key=lambda row: row["transform_id"])
    summary: dict[str, dict[Any, int]] = {}
    for task in tasks:
        if task.get("transform_id") is None:
            continue  # a request row with no task yet (an outer join in iDDS)
        mapped = states.get(task["transform_status"]["attributes"]["_name_"], [])
        counts = {}
        for state in WmsStates:
            jobs = (task.get(files[state]) or 0) if state in mapped and state in files else 0
            if state in mapped and state == WmsStates.RUNNING:
                jobs += task.get("output_new_files", 0) - task.get("input_new_files", 0)
            counts[state] = jobs
        total = task.get("output_total_files", 0)
        unready = WmsStates.UNREADY
        counts[unready] = total - sum(n for state, n in counts.items() if state != unready)
        summary[extract_taskname(task.get("transform_name", ""))] = counts
    return aggregate_by_basename(summary, {}, "")[0]  # a label's chunks summed


def _idds_result(answer: Any) -> Any:
    from lsst.ctrl.bps.panda.utils import get_idds_result

    ok, result, error = get_idds_result(answer)
    if not ok:
        raise RuntimeError(error)
    return result


def _panda_jobs(request_id: int, tasks: list[dict[str, Any]]) -> list[JobReport]:
    """The request's PanDA jobs: iDDS's output contents joined with the PanDA job records it
    keeps (``contents_ext``; ``PanDAService.report`` reads exit codes there), per task."""
    from lsst.ctrl.bps.panda.utils import get_idds_client

    labels = {t.get("transform_id"): _task_label(t.get("transform_name") or "") for t in tasks}
    answer = get_idds_client({}).get_contents_output_ext(request_id=request_id)
    return [
        _panda_job(labels.get(row.get("transform_id"), ""), row)
        for rows in _idds_result(answer).values()
        for row in rows
    ]


def _task_label(transform_name: str) -> str:
    """The pipeline task label of an iDDS task name, as ``PanDAService.report`` derives it."""
    from lsst.ctrl.bps.panda.utils import extract_taskname

    return _label(re.sub(r"_\d+$", "", extract_taskname(transform_name)))


def _request_id(submission: Submission) -> int:
    try:
        return int(submission.wms_id)
    except ValueError:
        raise WmsUnavailable(f"{submission.wms_id!r} is not an iDDS request id") from None


# -- reading the answer ----------------------------------------------------------------------


def _run_report(
    request_id: int, status: str, summary: dict[str, dict[Any, int]], panda_jobs: list[JobReport]
) -> RunReport:
    counts = [_counts(_label(label), states) for label, states in summary.items()]
    tasks = [c for c in counts if c.label not in SPECIAL_JOBS]
    special = [c for c in counts if c.label in SPECIAL_JOBS]
    failures = [f"{c.label} {c.failed} of {c.expected} failed" for c in counts if c.failed]
    detailed = {job.name for job in panda_jobs}
    return RunReport(
        state=_state(status, counts),
        tasks=tasks,
        # The special jobs are named by their labels either way, so each keeps one Job row.
        jobs=panda_jobs + [_job(request_id, c) for c in special if c.label not in detailed],
        init_failed=any(c.label == "pipetaskInit" and c.failed for c in special),
        message="; ".join([f"iDDS request {request_id} is {status}", *failures]),
    )


def _label(reported: str) -> str:
    """The task label in a label ``PanDAService.report`` gives.

    It cuts the label out of the iDDS task name ``{workflow}_{NN}_{label}_{chunk}`` after the
    last ``_<digits>_``; when the workflow name ends in ``_<digits>``, as every cm RUN's
    ``.../attempt_N`` does, that cut lands one field early and gives ``NN_label``.
    """
    return re.sub(r"^\d{2,}_(?=.)", "", reported)


def _state(status: str, counts: list[TaskCounts]) -> RunState:
    if status in _FINAL_STATES:
        return _FINAL_STATES[status]
    if status in _HELD_STATES:
        return RunState.HELD
    started = any(c.running or c.succeeded or c.failed for c in counts)
    return RunState.RUNNING if started else RunState.PENDING


def _counts(label: str, states: Mapping[Any, int]) -> TaskCounts:
    """One label's counts from BPS's ``{WmsStates: jobs}``."""
    by_name = {getattr(state, "name", str(state)): int(jobs) for state, jobs in states.items()}
    counts = TaskCounts(
        label,
        expected=sum(by_name.values()),
        succeeded=by_name.get("SUCCEEDED", 0),
        failed=by_name.get("FAILED", 0) + by_name.get("PRUNED", 0),
        running=by_name.get("RUNNING", 0),
        held=by_name.get("HELD", 0),
    )
    done = counts.succeeded + counts.failed + counts.running + counts.held
    counts.pending = max(0, counts.expected - done)
    return counts


def _job(request_id: int, counts: TaskCounts) -> JobReport:
    if counts.failed:
        state = RunState.FAILED
    elif counts.expected and counts.succeeded == counts.expected:
        state = RunState.SUCCEEDED
    elif counts.running:
        state = RunState.RUNNING
    else:
        state = RunState.HELD if counts.held else RunState.PENDING
    return JobReport(counts.label, str(request_id), [], state)


# PanDA's job status, else iDDS's content status, in cm's terms (the rest: pending).
_PANDA_JOB_STATES = {
    "finished": RunState.SUCCEEDED,
    "failed": RunState.FAILED,
    "cancelled": RunState.CANCELLED,
    "closed": RunState.CANCELLED,
    **dict.fromkeys(
        ["starting", "running", "holding", "merging", "transferring"], RunState.RUNNING
    ),
}
_CONTENT_STATES = {
    "Available": RunState.SUCCEEDED,
    "Missing": RunState.CANCELLED,  # never ran: an upstream job failed
    **dict.fromkeys(["Failed", "FinalFailed", "Lost", "Deleted"], RunState.FAILED),
}
_PANDA_ERRORS = ("pilot", "exe", "sup", "ddm", "brokerage", "job_dispatcher", "task_buffer")
_IDDS_DATE = "%a, %d %b %Y %H:%M:%S UTC"  # idds.common.utils.DATE_FORMAT, how iDDS sends dates


def _panda_job(label: str, row: dict[str, Any]) -> JobReport:
    """One PanDA job from its iDDS row (``max_rss`` is in kB, as the pilot reports it)."""
    # A content is named after its BPS job, then "+placeholder:value" per placeholder; except
    # finalJob's ("pure_pseudoinput"): the special jobs, one each, go by their labels.
    name = str(row.get("name") or row["content_id"]).split("+")[0][:200]
    name = label if label in SPECIAL_JOBS else name
    state = _PANDA_JOB_STATES.get(str(row.get("job_status") or "").lower())
    max_rss = row.get("max_rss")
    return JobReport(
        name=name,
        wms_job_id=str(row.get("panda_id") or ""),
        task_labels=[] if label in SPECIAL_JOBS else [label],
        state=state or _CONTENT_STATES.get(_name(row.get("status")), RunState.PENDING),
        attempts=int(row.get("attempt_nr") or 0),
        error=_panda_error(row),
        wall_seconds=_wall_seconds(row.get("start_time"), row.get("end_time")),
        max_rss_mb=max_rss / 1024 if isinstance(max_rss, int | float) else None,
    )


def _name(value: Any) -> str:
    """An iDDS status: a name, or an enum as iDDS's JSON encoder writes one."""
    return value["attributes"]["_name_"] if isinstance(value, dict) else str(value)


def _panda_error(row: dict[str, Any]) -> str:
    said = [
        f"{kind} error {row[f'{kind}_error_code']}: {row.get(f'{kind}_error_diag') or ''}"
        for kind in _PANDA_ERRORS
        if row.get(f"{kind}_error_code") not in (None, 0, "0")
    ]
    if row.get("trans_exit_code") not in (None, 0, "0"):
        said.append(f"exit code {row['trans_exit_code']}")
    return "; ".join(said)


def _wall_seconds(start: Any, end: Any) -> float | None:
    """The last try's run time, from the start and end times PanDA recorded."""
    if not start or not end:
        return None
    try:
        return (_date(end) - _date(start)).total_seconds()
    except (TypeError, ValueError):  # not a date iDDS writes
        return None


def _date(value: str) -> datetime:
    try:
        return datetime.strptime(value, _IDDS_DATE)
    except ValueError:
        return datetime.fromisoformat(value).replace(tzinfo=None)  # both are UTC


# -- preparing and recording a submission ----------------------------------------------------


def _submit_dir(config: Path) -> Path | None:
    """The config's BPS submit directory, when it does not depend on the preparation."""
    from lsst.ctrl.bps import BPS_DEFAULTS, BPS_SEARCH_ORDER, BpsConfig

    try:
        path = BpsConfig(str(config), search_order=BPS_SEARCH_ORDER, defaults=BPS_DEFAULTS)[
            "submitPath"
        ]
    except Exception as error:  # an unreadable config: let prepare say why
        log.debug("no submit path in %s: %s", config, error)
        return None
    return None if "{" in path else Path(path)


def _recorded(submit_dir: Path | None) -> Submission | None:
    record = submit_dir / SUBMISSION_RECORD if submit_dir else None
    if record is None or not record.exists():
        return None
    return Submission(**json.loads(record.read_text()))


def _record(submission: Submission) -> None:
    record = Path(submission.submit_dir) / SUBMISSION_RECORD
    temporary = record.with_suffix(".tmp")
    temporary.write_text(
        json.dumps({"wms_id": submission.wms_id, "submit_dir": str(record.parent)})
    )
    temporary.replace(record)


def _set_aside(submit_dir: Path | None) -> None:
    """Rename what a failed attempt left, so BPS can prepare afresh (and the evidence stays)."""
    if submit_dir is None or not submit_dir.exists():
        return
    number = 1
    while (aside := submit_dir.with_name(f"{submit_dir.name}.failed-{number}")).exists():
        number += 1
    submit_dir.rename(aside)
    log.warning("an earlier submission left %s unfinished: moved to %s", submit_dir, aside)


def _prepare(config: Path) -> tuple[Any, Any]:
    from lsst.ctrl.bps.drivers import prepare_driver

    try:
        return prepare_driver(str(config), runWmsSubmissionChecks=False)
    except Exception as error:
        raise PandaPrepareError(f"BPS could not prepare {config}: {error}") from error


# -- the process-wide client settings --------------------------------------------------------
