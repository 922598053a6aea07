"""What the rules measure: the snapshot of judged objects, and one function per metric.

A pass reads everything the metrics need once, for all judged objects (one query per kind of
data, aggregated in the database), then measures each object from that snapshot in Python.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet

from campaigns.models import Group, Job, ProgressSample, Workflow
from campaigns.states import STATE_INFO, Status

COUNTS = ("quanta_expected", "quanta_succeeded", "quanta_failed", "quanta_held")
FINAL = [status for status, info in STATE_INFO.items() if info.final]
ACTIVE = {Status.RUNNING, Status.BLOCKED, Status.PAUSED}
FINISHED = {Status.SUCCEEDED, Status.REVIEWABLE, Status.FAILED}
INIT_JOB = "pipetaskInit"
Row = Mapping[str, Any]  # a values() row


@dataclass
class Snapshot:
    """The judged objects and what their metrics need, each read with one query."""

    now: datetime
    groups: list[dict[str, Any]]
    workflows: list[dict[str, Any]]
    jobs: dict[int, Row]  # per workflow: blocked, init_failed, max_rss
    progress: dict[int, datetime]  # per running workflow: its latest progress sample

    def rows(self, level: str) -> list[dict[str, Any]]:
        """The judged objects of a level ("workflow" or "group")."""
        return self.workflows if level == "workflow" else self.groups


@dataclass(frozen=True)
class Measurement:
    """A metric's value for one object; ``None`` when it cannot be computed (undefined)."""

    value: float | None
    statistics: int | None = None  # how many things the value is computed from
    text: str = ""  # the numbers behind it, for the message


def take_snapshot(now: datetime, group_ids: Collection[int] | None = None) -> Snapshot:
    """Groups not in a final state that have a workflow, and their current submitted attempts.

    A superseded attempt, a not yet submitted one and anything of a settled group is not
    judged, so its alarms clear.
    """
    groups = Group.objects.exclude(status__in=FINAL)
    newer = Workflow.objects.filter(group=OuterRef("group"), attempt__gt=OuterRef("attempt"))
    current = Workflow.objects.filter(status__in=ACTIVE | FINISHED).exclude(Exists(newer))
    current = current.exclude(group__status__in=FINAL)
    if group_ids is not None:
        groups, current = groups.filter(pk__in=group_ids), current.filter(group_id__in=group_ids)
    # values() before annotate(): grouped by these columns only, not by every column.
    group_rows = groups.values("pk", "status", *COUNTS, campaign_id=F("step__campaign"))
    group_rows = group_rows.annotate(attempts=Count("workflows")).filter(attempts__gt=0)
    workflow_rows = current.values(
        "pk", "group_id", "status", "status_since", *COUNTS, campaign_id=F("group__step__campaign")
    )
    return Snapshot(
        now=now,
        groups=list(group_rows.order_by()),
        workflows=list(workflow_rows.order_by()),
        jobs=job_summaries(current),
        progress=latest_progress(current.filter(status=Status.RUNNING)),
    )


def job_summaries(workflows: QuerySet[Workflow]) -> dict[int, Row]:
    """Per workflow, what the job metrics need: one grouped query, one row per workflow.

    An attempt may have millions of jobs: they are counted in the database, never read.
    A workflow without jobs has no row (its metrics read 0 or "not reported").
    """
    rows = (
        Job.objects.filter(workflow__in=workflows)
        .values("workflow_id")
        .annotate(
            blocked=Count("pk", filter=Q(status=Status.BLOCKED)),
            init_failed=Count("pk", filter=Q(status=Status.FAILED, name__contains=INIT_JOB)),
            max_rss=Max("max_rss_mb"),
        )
        .order_by()  # the model's ordering would split the groups
    )
    return {row["workflow_id"]: row for row in rows}


def latest_progress(workflows: QuerySet[Workflow]) -> dict[int, datetime]:
    """Per workflow, the time of its latest progress sample (one grouped query)."""
    rows = (
        ProgressSample.objects.filter(
            scope=ProgressSample.Scope.WORKFLOW, object_id__in=workflows.values("pk")
        )
        .values("object_id")
        .annotate(last=Max("at"))
        .order_by()
    )
    return {row["object_id"]: row["last"] for row in rows}


def fraction(failed: int, succeeded: int) -> Measurement:
    """The failed share of the finished quanta; undefined (``None``) when none finished."""
    done = failed + succeeded
    value = round(failed / done, 4) if done else None
    return Measurement(value, done, f"{failed} of {done} finished quanta failed")


# --- One function per metric: (row, snapshot) -> Measurement, or None when it does not apply.


def failure_fraction(row: Row, snap: Snapshot) -> Measurement | None:
    """Failed / finished quanta of the attempt (or the group's rolled-up counts)."""
    return fraction(row["quanta_failed"], row["quanta_succeeded"])


def minutes_without_progress(row: Row, snap: Snapshot) -> Measurement | None:
    """Minutes a running attempt has gone without a progress sample."""
    if row["status"] != Status.RUNNING:
        return None
    # Measured from the later of the last progress sample and entering `running`, so a
    # workflow just released or resumed is not flagged for the time it was held or paused.
    since = max(filter(None, (snap.progress.get(row["pk"]), row["status_since"])))
    minutes = max((snap.now - since).total_seconds() / 60, 0.0)
    return Measurement(round(minutes, 1), text=f"last progress {since:%Y-%m-%d %H:%M} UTC")


def held_quanta(row: Row, snap: Snapshot) -> Measurement | None:
    """Held quanta or blocked jobs of an active attempt, whichever is more."""
    if row["status"] not in ACTIVE:
        return None
    # Some WMSs count held quanta, others only report jobs held: whichever says more.
    blocked = snap.jobs.get(row["pk"], {}).get("blocked", 0)
    held = max(row["quanta_held"], blocked)
    return Measurement(held, text=f"{row['quanta_held']} quanta held, {blocked} jobs blocked")


def missing_outputs(row: Row, snap: Snapshot) -> Measurement | None:
    """Quanta of a finished attempt that neither succeeded nor failed."""
    if row["status"] not in FINISHED:
        return None
    missing = max(row["quanta_expected"] - row["quanta_succeeded"] - row["quanta_failed"], 0)
    return Measurement(missing, text=f"{missing} of {row['quanta_expected']} quanta never ran")


def pipetask_init_failed(row: Row, snap: Snapshot) -> Measurement | None:
    """1 if a pipetaskInit job of the attempt failed, else 0."""
    failed = bool(snap.jobs.get(row["pk"], {}).get("init_failed"))
    return Measurement(1 if failed else 0, text="pipetaskInit failed" if failed else "")


def max_rss_mb(row: Row, snap: Snapshot) -> Measurement | None:
    """Peak memory over the attempt's jobs, where the WMS reports it."""
    rss = snap.jobs.get(row["pk"], {}).get("max_rss")
    # No memory reported (e.g. the local WMS): nothing to judge, neither clean nor undefined.
    return None if rss is None else Measurement(round(rss, 1), text=f"peak {rss:.0f} MB")


def attempts(row: Row, snap: Snapshot) -> Measurement | None:
    """How many attempts (workflows) the group has had."""
    return Measurement(row["attempts"], text=f"{row['attempts']} attempts")
