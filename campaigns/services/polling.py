"""checkWorkflowStatus: ask the WMS about every active workflow and record what it says.

Each pass is a ``PollRun`` row. WMS look-ups run with bounded concurrency; their
results are written in bulk (counts, jobs, failed quanta, status changes), then
rolled up, and every count that changed is sampled for the progress plots
(``campaigns.services.progress``). A look-up that fails in any way (timeout, error,
auth failure) never changes a status: the workflow is looked at again later, with exponential
back-off, and after ``ALARM_AFTER`` failures in a row an alarm is raised (one, kept up to date),
which clears when the WMS answers again.
"""

import contextlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

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
from campaigns.services.status import record_creation, transition
from campaigns.states import Status
from campaigns.wms import get as get_wms
from campaigns.wms.base import RunReport, RunState, Submission

POLLED = [Status.RUNNING, Status.BLOCKED]
UNREACHABLE = "wms-unreachable"
ALARM_AFTER = 5
BACKOFF_START = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)


def poll(*, concurrency: int = 8, limit: int | None = None, now: datetime | None = None) -> PollRun:
    """One pass over the workflows due for a look."""
    now = now or timezone.now()
    run = PollRun.objects.create(started_at=now)
    due = (
        Workflow.objects.filter(status__in=POLLED)
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .select_related("group__step__campaign")
        .order_by("last_checked_at", "pk")
    )
    workflows = list(due[:limit] if limit else due)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        answers = list(pool.map(_ask, workflows))
    reports = {w.pk: a for w, a in zip(workflows, answers, strict=True) if isinstance(a, RunReport)}
    failures = {w.pk: a for w, a in zip(workflows, answers, strict=True) if isinstance(a, str)}
    changed = _record(workflows, reports, now)
    _back_off([w for w in workflows if w.pk in failures], failures, now)
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
    with transaction.atomic():
        _store_counts(done, reports)
        _store_jobs(done, reports)
        _store_failed_quanta(done, reports)
        Workflow.objects.filter(pk__in=[w.pk for w in done]).update(
            last_checked_at=now, poll_failures=0, next_check_at=None
        )
        alarms.clear_alarms([w for w in done if w.poll_failures], UNREACHABLE)
        by_target: dict[Status, list[Workflow]] = defaultdict(list)
        for workflow in done:
            target = target_status(reports[workflow.pk])
            if target != workflow.status:
                by_target[target].append(workflow)
        for target, batch in by_target.items():
            transition(batch, target, reason=_why(target, reports[batch[0].pk]))
        changed = [w for batch in by_target.values() for w in batch]
        rollup.rollup(Group.objects.filter(pk__in={w.group_id for w in done}))
        progress.record_polled(done, now)  # the rolled-up counts, committed with them
    _register_runs(changed)
    _keep_files(changed, reports)
    _retry_automatically(changed)
    return len(changed)


def _keep_files(changed: list[Workflow], reports: dict[int, RunReport]) -> None:
    """Finished attempts' logs and reports go to the PanDA archive."""
    for workflow in changed:
        if workflow.status not in (Status.RUNNING, Status.BLOCKED):
            wms_archive.archive_files(workflow, reports[workflow.pk].files)


def _retry_automatically(changed: list[Workflow]) -> None:
    """Relaunch attempts whose failures a retry rule covers; cm is the actor in the history."""
    from campaigns.services import launch

    for workflow, rule in classify.retries_due(changed):
        group = Group.objects.get(pk=workflow.group_id)
        if group.status not in launch.RETRYABLE:
            continue
        retry = launch.request_launch(
            group, user=None, reason=f"automatic retry: error rule {rule.name} ({rule.flavor})"
        )
        Workflow.objects.filter(pk=retry.pk).update(auto_retry_rule=rule.name)


def _why(target: Status, report: RunReport) -> str:
    if target == Status.FAILED and report.init_failed:
        return "pipetaskInit failed"
    if target == Status.REVIEWABLE:
        return f"{sum(t.failed for t in report.tasks)} quanta failed"
    return report.message or f"the WMS reports {report.state.value}"


def _store_counts(done: list[Workflow], reports: dict[int, RunReport]) -> None:
    rows = [
        TaskLabelCount(
            workflow=w,
            task_label=t.label,
            quanta_expected=t.expected,
            quanta_succeeded=t.succeeded,
            quanta_failed=t.failed,
            quanta_running=t.running,
            quanta_pending=t.pending,
            quanta_held=t.held,
        )
        for w in done
        for t in reports[w.pk].tasks
    ]
    fields = list(QuantumCounts.COUNT_FIELDS)
    TaskLabelCount.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["workflow", "task_label"], update_fields=fields
    )
    for w in done:
        tasks = reports[w.pk].tasks
        w.quanta_expected = sum(t.expected for t in tasks)
        w.quanta_succeeded = sum(t.succeeded for t in tasks)
        w.quanta_failed = sum(t.failed for t in tasks)
        w.quanta_running = sum(t.running for t in tasks)
        w.quanta_pending = sum(t.pending for t in tasks)
        w.quanta_held = sum(t.held for t in tasks)
    Workflow.objects.bulk_update(done, fields)


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


def _store_jobs(done: list[Workflow], reports: dict[int, RunReport]) -> None:
    """New jobs are created; known ones get their latest attempts, error and status."""
    known = {(j.workflow_id, j.name): j for j in Job.objects.filter(workflow__in=done)}
    new, seen, targets = [], [], {}
    for workflow in done:
        for report in reports[workflow.pk].jobs:
            job = known.get((workflow.pk, report.name))
            if job is None:
                job = Job(workflow=workflow, name=report.name, status=JOB_STATUS[report.state])
                new.append(job)
            else:
                seen.append(job)
                targets[job.pk] = JOB_STATUS[report.state]
            job.wms_job_id, job.task_labels = report.wms_job_id, report.task_labels
            job.attempts, job.error = report.attempts, report.error
            job.wall_seconds, job.max_rss_mb = report.wall_seconds, report.max_rss_mb
    Job.objects.bulk_create(new, batch_size=1000)
    record_creation(new, reason="reported by the WMS")
    Job.objects.bulk_update(seen, JOB_FIELDS, batch_size=1000)
    rollup.move_where_legal(seen, targets, "the WMS reports it")


def _store_failed_quanta(done: list[Workflow], reports: dict[int, RunReport]) -> None:
    # Replaced on every look: the list is the WMS's latest word, not an accumulation.
    FailedQuantum.objects.filter(workflow__in=done).delete()
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
    """Finished attempts' RUNs join their group's chain (the butler side; after the commit)."""
    for workflow in changed:
        if (
            workflow.status in (Status.SUCCEEDED, Status.REVIEWABLE)
            and not workflow.run_registered_at
        ):
            # No RUN (nothing ran): nothing to chain, and the drift check shows it.
            with contextlib.suppress(CampaignError):
                collections.record_run(workflow)


def _back_off(failed: list[Workflow], why: dict[int, str], now) -> None:
    for workflow in failed:
        workflow.poll_failures += 1
        delay = min(BACKOFF_START * 2 ** (workflow.poll_failures - 1), BACKOFF_MAX)
        workflow.next_check_at = now + delay
        workflow.last_checked_at = now
    Workflow.objects.bulk_update(failed, ["poll_failures", "next_check_at", "last_checked_at"])
    for workflow in failed:
        if workflow.poll_failures >= ALARM_AFTER:
            alarms.raise_alarm(
                workflow,
                UNREACHABLE,
                "error",
                f"the WMS could not be asked {workflow.poll_failures} times in a row; "
                f"last: {why[workflow.pk]}",
            )
