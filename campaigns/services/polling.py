"""checkWorkflowStatus: ask the WMS about every active workflow and record what it says.

Each pass is a ``PollRun`` row. WMS look-ups run with bounded concurrency; their
results are written in bulk (counts, jobs, failed quanta, status changes), then
rolled up, and every count that changed is sampled for the progress plots
(``campaigns.services.progress``). A look-up that fails in any way (timeout, error,
auth failure) never changes a status: the workflow is looked at again later, with exponential
back-off, and after ``ALARM_AFTER`` failures in a row an alarm is raised (one, kept up to date),
which clears when the WMS answers again.
"""

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone

from campaigns.bulk import bulk_update, insert
from campaigns.errors import CampaignError
from campaigns.models import (
    FailedQuantum,
    Group,
    Job,
    PollRun,
    QuantumCounts,
    TaskLabelCount,
    Workflow,
)
from campaigns.services import alarms, classify, collections, progress, rollup, wms_archive
from campaigns.services.status import transition, write_history
from campaigns.states import Status
from campaigns.wms import get as get_wms
from campaigns.wms.base import RunReport, RunState, Submission

POLLED = [Status.RUNNING, Status.BLOCKED]
UNREACHABLE = "wms-unreachable"
ALARM_AFTER = 5
BACKOFF_START = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)


# What a pass reads of each workflow; the few it says something about (finished, failing to
# answer) get their parents for paths and placement (``_with_parents``). Loading ten thousand
# workflows with four parents each, and their JSON, cost more than the pass's writes.
_READ = [
    "group_id",
    "attempt",
    "status",
    "wms",
    "wms_id",
    "submit_dir",
    "output_run",
    "poll_failures",
    "archived_files",
    "run_registered_at",
    *QuantumCounts.COUNT_FIELDS,
]


def poll(*, concurrency: int = 8, limit: int | None = None, now: datetime | None = None) -> PollRun:
    """One pass over the workflows due for a look."""
    now = now or timezone.now()
    run = PollRun.objects.create(started_at=now)
    due = (
        Workflow.objects.filter(status__in=POLLED)
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .only(*_READ)
        .order_by("last_checked_at", "pk")
    )
    workflows = list(due[:limit] if limit else due)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        answers = list(pool.map(_ask, workflows))
    reports = {w.pk: a for w, a in zip(workflows, answers, strict=True) if isinstance(a, RunReport)}
    failures = {w.pk: a for w, a in zip(workflows, answers, strict=True) if isinstance(a, str)}
    changed = _record(workflows, reports, now)
    _back_off(_with_parents([w for w in workflows if w.pk in failures]), failures, now)
    run.checked, run.changed, run.failed = len(workflows), changed, len(failures)
    run.finished_at = timezone.now()
    run.save(update_fields=["checked", "changed", "failed", "finished_at"])
    return run


def _ask(workflow: Workflow) -> RunReport | str:
    """The WMS's report, or why it could not be had. Never raises (nor exits)."""
    submission = Submission(wms_id=workflow.wms_id, submit_dir=workflow.submit_dir)
    try:
        return get_wms(workflow.wms).report(submission)
    except CampaignError as error:
        return str(error) or type(error).__name__
    except (Exception, SystemExit) as error:  # a WMS client bug must not kill the pass
        return f"{type(error).__name__}: {error}"


def target_status(report: RunReport) -> Status:
    """cm's status for a workflow the WMS reports on."""
    if report.state in (RunState.PENDING, RunState.RUNNING):
        return Status.RUNNING
    if report.state == RunState.HELD:
        return Status.BLOCKED
    if report.state == RunState.SUCCEEDED:
        return Status.SUCCEEDED
    if report.init_failed or report.state == RunState.CANCELLED:
        return Status.FAILED
    failed = sum(t.failed for t in report.tasks)
    return Status.REVIEWABLE if failed else Status.FAILED


def _record(workflows: list[Workflow], reports: dict[int, RunReport], now) -> int:
    done = [w for w in workflows if w.pk in reports]
    if not done:
        return 0
    recovered = _with_parents([w for w in done if w.poll_failures])
    for workflow in done:
        workflow.last_checked_at, workflow.poll_failures, workflow.next_check_at = now, 0, None
    with transaction.atomic():
        _store_counts(done, reports)  # with the look's time, in one update per pass
        _store_jobs(done, reports, now)
        _store_failed_quanta(done, reports)
        alarms.clear_alarms(recovered, UNREACHABLE)
        by_target: dict[Status, list[Workflow]] = defaultdict(list)
        for workflow in done:
            target = target_status(reports[workflow.pk])
            if target != workflow.status:
                by_target[target].append(workflow)
        for target, batch in by_target.items():
            transition(batch, target, reason=_why(target, reports[batch[0].pk]))
        changed = [w for batch in by_target.values() for w in batch]
        rolled = rollup.rollup({w.group_id for w in done})
        progress.record_polled(done, rolled, now)  # committed with them
    _with_parents(changed)
    _register_runs(changed)
    _keep_files(changed, reports)
    _retry_automatically(changed)
    return len(changed)


def _with_parents(workflows: list[Workflow]) -> list[Workflow]:
    """Load the group, step, campaign and production of these workflows (four queries)."""
    prefetch_related_objects(workflows, "group__step__campaign__production")
    return workflows


def _keep_files(changed: list[Workflow], reports: dict[int, RunReport]) -> None:
    """Finished attempts' logs and reports go to the PanDA archive."""
    wms_archive.archive_files({w: reports[w.pk].files for w in changed if w.status not in POLLED})


def _retry_automatically(changed: list[Workflow]) -> None:
    """Relaunch attempts whose failures a retry rule covers; cm is the actor in the history.
    One batch per rule, whatever the number of groups."""
    from campaigns.services import launch

    by_rule: dict = defaultdict(list)
    for workflow, rule in classify.retries_due(changed):
        by_rule[rule].append(workflow.group_id)
    for rule, group_ids in by_rule.items():
        groups = list(
            Group.objects.filter(pk__in=group_ids, status__in=launch.RETRYABLE).only(
                "status", "name"
            )
        )
        launch.request_launches(
            groups,
            user=None,
            reason=f"automatic retry: error rule {rule.name} ({rule.flavor})",
            auto_retry_rule=rule.name,
        )


def _why(target: Status, report: RunReport) -> str:
    if target == Status.FAILED and report.init_failed:
        return "pipetaskInit failed"
    if target == Status.REVIEWABLE:
        return f"{sum(t.failed for t in report.tasks)} quanta failed"
    return report.message or f"the WMS reports {report.state.value}"


def _store_counts(done: list[Workflow], reports: dict[int, RunReport]) -> None:
    """Each task label's counts (an upsert that rewrites only what changed) and their sums on
    the workflow."""
    fields = list(QuantumCounts.COUNT_FIELDS)
    insert(
        TaskLabelCount,
        ["workflow_id", "task_label", *fields],
        [
            (w.pk, t.label, t.expected, t.succeeded, t.failed, t.running, t.pending, t.held)
            for w in done
            for t in reports[w.pk].tasks
        ],
        unique=["workflow", "task_label"],
    )
    for w in done:
        tasks = reports[w.pk].tasks
        w.quanta_expected = sum(t.expected for t in tasks)
        w.quanta_succeeded = sum(t.succeeded for t in tasks)
        w.quanta_failed = sum(t.failed for t in tasks)
        w.quanta_running = sum(t.running for t in tasks)
        w.quanta_pending = sum(t.pending for t in tasks)
        w.quanta_held = sum(t.held for t in tasks)
    bulk_update(done, [*fields, "last_checked_at", "poll_failures", "next_check_at"])


# A WMS job's state in cm's vocabulary (jobs move through the same table as every level).
JOB_STATUS = {
    RunState.PENDING: Status.READY,
    RunState.RUNNING: Status.RUNNING,
    RunState.HELD: Status.BLOCKED,
    RunState.SUCCEEDED: Status.SUCCEEDED,
    RunState.FAILED: Status.FAILED,
    RunState.CANCELLED: Status.FAILED,
}


# What each look at a job refreshes (its status moves through the status table instead).
JOB_FIELDS = ["wms_job_id", "task_labels", "attempts", "error", "wall_seconds", "max_rss_mb"]


def _store_jobs(done: list[Workflow], reports: dict[int, RunReport], now: datetime) -> None:
    """New jobs are created; known ones get their latest attempts, error and status, written
    only where they changed. Jobs are compared as plain values: a pass sees tens of
    thousands of them, and most have not changed since the last look."""
    known = {
        (workflow_id, name): (pk, status, tuple(facts))
        for workflow_id, name, pk, status, *facts in Job.objects.filter(
            workflow__any=[w.pk for w in done]
        ).values_list("workflow_id", "name", "pk", "status", *JOB_FIELDS)
    }
    new, changed, moved, targets = [], [], [], {}
    for workflow in done:
        for report in reports[workflow.pk].jobs:
            facts = (
                report.wms_job_id,
                report.task_labels,
                report.attempts,
                report.error,
                report.wall_seconds,
                report.max_rss_mb,
            )
            status = JOB_STATUS[report.state]
            seen = known.get((workflow.pk, report.name))
            if seen is None:
                new.append((workflow.pk, report.name, status, *facts))
                continue
            pk, was, before = seen
            if facts != before:
                changed.append(Job(pk=pk, **dict(zip(JOB_FIELDS, facts, strict=True))))
            if status != was:
                moved.append(Job(pk=pk, status=was))
                targets[pk] = status
    columns = ["workflow_id", "name", "status", *JOB_FIELDS]
    ids = insert(Job, columns, new, returning=True, same={"status_since": now})
    write_history(
        Job,
        [(pk, "", row[2], now) for pk, row in zip(ids, new, strict=True)],
        reason="reported by the WMS",
    )
    bulk_update(changed, JOB_FIELDS)
    rollup.move_where_legal(moved, targets, "the WMS reports it")


def _store_failed_quanta(done: list[Workflow], reports: dict[int, RunReport]) -> None:
    # Replaced on every look: the list is the WMS's latest word, not an accumulation.
    FailedQuantum.objects.filter(workflow__any=[w.pk for w in done]).delete()
    quanta = [
        FailedQuantum(
            workflow=w,
            task_label=q.task_label,
            data_id=q.data_id,
            error_type=q.error_type[:200],
            message=q.message,
        )
        for w in done
        for q in reports[w.pk].failed_quanta
    ]
    classify.label(quanta)
    FailedQuantum.objects.bulk_create(quanta)


def _register_runs(changed: list[Workflow]) -> None:
    """Finished attempts' RUNs join their group's chain (the butler side; after the commit).
    An attempt with no RUN (nothing ran) is left alone: the drift check shows it."""
    collections.record_runs(
        w
        for w in changed
        if w.status in (Status.SUCCEEDED, Status.REVIEWABLE) and not w.run_registered_at
    )


def _back_off(failed: list[Workflow], why: dict[int, str], now) -> None:
    for workflow in failed:
        workflow.poll_failures += 1
        delay = min(BACKOFF_START * 2 ** (workflow.poll_failures - 1), BACKOFF_MAX)
        workflow.next_check_at = now + delay
        workflow.last_checked_at = now
    bulk_update(failed, ["poll_failures", "next_check_at", "last_checked_at"])
    for workflow in failed:
        if workflow.poll_failures >= ALARM_AFTER:
            alarms.raise_alarm(
                workflow,
                UNREACHABLE,
                "error",
                f"the WMS could not be asked {workflow.poll_failures} times in a row; "
                f"last: {why[workflow.pk]}",
            )
