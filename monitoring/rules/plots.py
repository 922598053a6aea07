"""What an alarm's plot shows (``Alarm.details``), and reading the rows behind it.

Plots are drawn only for alarms being opened or refreshed. Their rows are read then, for those
objects only, one query per kind of evidence; job evidence is aggregated per set of task labels
in the database, so an attempt with millions of jobs returns a few rows, not its jobs. The
contract of ``details`` is in docs/alarms.md.
"""

import operator
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q
from django.db.models.functions import Left

from campaigns.models import Job, ProgressSample, TaskLabelCount, Workflow
from campaigns.states import Status

from .metrics import COUNTS, INIT_JOB, Row, fraction

MAX_POINTS = 200  # per plot series: details stay small however long the history
ERROR_CHARS = 300  # of the pipetaskInit error quoted in the note
NO_LABEL = "(no label)"


@dataclass
class Evidence:
    """The rows behind the plots of alarms being opened or refreshed, by workflow or group."""

    tasks: dict[int, list[Row]] = field(default_factory=dict)
    samples: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    labels: dict[int, list[Row]] = field(default_factory=dict)  # jobs per set of task labels
    init_errors: dict[int, str] = field(default_factory=dict)
    attempts: dict[int, list[Row]] = field(default_factory=dict)


# --- Reading the evidence: one query per kind, only for the objects asked about ---------------


def _task_counts(ids: Collection[int]) -> dict[int, list[Row]]:
    rows = TaskLabelCount.objects.filter(workflow_id__in=ids).order_by("task_label")
    found: dict[int, list[Row]] = {}
    for row in rows.values("workflow_id", "task_label", *COUNTS):
        found.setdefault(row["workflow_id"], []).append(row)
    return found


def _samples(ids: Collection[int]) -> dict[int, list[tuple[str, int]]]:
    samples = ProgressSample.objects.filter(scope="workflow", object_id__in=ids).order_by("at")
    found: dict[int, list[tuple[str, int]]] = {}
    for pk, at, done in samples.values_list("object_id", "at", "quanta_succeeded"):
        found.setdefault(pk, []).append((at.isoformat(), done))
    return found


def _label_summaries(ids: Collection[int]) -> dict[int, list[Row]]:
    """Blocked jobs and peak memory per (workflow, set of task labels), summed in the database.

    Grouped by the whole ``task_labels`` list: a JSON array cannot be unnested portably, and
    the distinct lists of an attempt are as many as the pipeline's job clusters, not its jobs.
    ``per_label`` then spreads each list's numbers over its labels.
    """
    jobs = Job.objects.filter(
        Q(status=Status.BLOCKED) | Q(max_rss_mb__isnull=False), workflow_id__in=ids
    )
    rows = (
        jobs.values("workflow_id", "task_labels")
        .annotate(blocked=Count("pk", filter=Q(status=Status.BLOCKED)), peak=Max("max_rss_mb"))
        .order_by()  # the model's ordering would split the groups
    )
    found: dict[int, list[Row]] = {}
    for row in rows:
        found.setdefault(row["workflow_id"], []).append(row)
    return found


def _init_errors(ids: Collection[int]) -> dict[int, str]:
    """Per workflow, the start of the error of its first failed pipetaskInit job that has one."""
    jobs = Job.objects.filter(
        workflow_id__in=ids, status=Status.FAILED, name__contains=INIT_JOB
    ).exclude(error="")
    found: dict[int, str] = {}
    # Cut in the database: a traceback can be long, and only its start is quoted.
    for pk, error in jobs.order_by("pk").values_list("workflow_id", Left("error", ERROR_CHARS)):
        found.setdefault(pk, error)
    return found


def _attempts(ids: Collection[int]) -> dict[int, list[Row]]:
    tries = Workflow.objects.filter(group_id__in=ids).order_by("attempt")
    found: dict[int, list[Row]] = {}
    for row in tries.values("group_id", "attempt", "quanta_failed", "quanta_succeeded"):
        found.setdefault(row["group_id"], []).append(row)
    return found


READERS: dict[str, Callable[[Collection[int]], dict]] = {
    "tasks": _task_counts,
    "samples": _samples,
    "labels": _label_summaries,
    "init_errors": _init_errors,
    "attempts": _attempts,
}


def gather_evidence(wanted: Mapping[str, Collection[int]]) -> Evidence:
    """Read what the plots need for these objects (by kind of evidence: their ids).

    One query per kind asked for, however many objects: the kinds are ``Evidence``'s fields.
    """
    evidence = Evidence()
    for kind, ids in wanted.items():
        if ids:
            setattr(evidence, kind, READERS[kind](ids))
    return evidence


# --- Drawing: one function per metric, (row, evidence, note) -> details ----------------------


def _plot(kind: str, title: str, axes: tuple[str, str], series: list[dict], note: str) -> dict:
    x_label, y_label = axes
    return {
        "plot": kind,
        "title": title,
        "x_label": x_label,
        "y_label": y_label,
        "series": series,
        "note": note,
    }


def _series(label: str, points: Iterable[tuple[Any, Any]]) -> dict:
    kept = list(points)[-MAX_POINTS:]
    return {"label": label, "x": [x for x, _ in kept], "y": [y for _, y in kept]}


def per_label(
    rows: Iterable[Row], value: Callable[[Row], float], combine: Callable[[float, float], float]
) -> list[tuple[str, float]]:
    """One value per task label over the rows that run it (a row may list several labels)."""
    by_label: dict[str, float] = {}
    for row in rows:
        for task in row["task_labels"] or [NO_LABEL]:
            by_label[task] = combine(by_label.get(task, 0), value(row))
    return sorted(by_label.items())


def plot_failure_fraction(row: Row, ev: Evidence, note: str) -> dict:
    """Bar: failed fraction per task label of the attempt."""
    points = [
        (t["task_label"], fraction(t["quanta_failed"], t["quanta_succeeded"]).value or 0)
        for t in ev.tasks.get(row["pk"], [])
    ]
    series = [_series("failed fraction", points)]
    return _plot("bar", "Failed fraction per task label", ("task label", "fraction"), series, note)


def plot_progress(row: Row, ev: Evidence, note: str) -> dict:
    """Line: quanta succeeded at each progress sample."""
    series = [_series("quanta succeeded", ev.samples.get(row["pk"], []))]
    axes = ("time (UTC)", "quanta succeeded")
    return _plot("line", "Quanta succeeded over time", axes, series, note)


def plot_held(row: Row, ev: Evidence, note: str) -> dict:
    """Bar: held quanta per task label, and blocked jobs per label when there are any."""
    tasks = ev.tasks.get(row["pk"], [])
    series = [_series("held quanta", [(t["task_label"], t["quanta_held"]) for t in tasks])]
    blocked = [r for r in ev.labels.get(row["pk"], []) if r["blocked"]]
    if blocked:
        counts = per_label(blocked, lambda r: r["blocked"], operator.add)
        series.append(_series("blocked jobs", counts))
    return _plot("bar", "Held work per task label", ("task label", "count"), series, note)


def plot_missing(row: Row, ev: Evidence, note: str) -> dict:
    """Bar: quanta that never ran, per task label."""
    points = [
        (t["task_label"], max(t["quanta_expected"] - t["quanta_succeeded"] - t["quanta_failed"], 0))
        for t in ev.tasks.get(row["pk"], [])
    ]
    series = [_series("missing outputs", points)]
    return _plot(
        "bar", "Quanta that never ran, per task label", ("task label", "quanta"), series, note
    )


def plot_init(row: Row, ev: Evidence, note: str) -> dict:
    """Bar: the attempt's quanta by state; the note quotes the pipetaskInit error."""
    states = ("expected", "succeeded", "failed", "held")
    series = [_series("quanta", [(s, row[f"quanta_{s}"]) for s in states])]
    if error := ev.init_errors.get(row["pk"]):
        note = f"{note} pipetaskInit error: {error}"
    return _plot("bar", "Quanta of the attempt", ("state", "quanta"), series, note)


def plot_memory(row: Row, ev: Evidence, note: str) -> dict:
    """Bar: peak memory per task label, over the jobs that report it."""
    measured = [r for r in ev.labels.get(row["pk"], []) if r["peak"] is not None]
    series = [_series("peak memory", per_label(measured, lambda r: r["peak"], max))]
    return _plot("bar", "Peak memory per task label", ("task label", "MB"), series, note)


def plot_attempts(row: Row, ev: Evidence, note: str) -> dict:
    """Bar: failed quanta of each of the group's attempts."""
    tries = ev.attempts.get(row["pk"], [])
    series = [_series("failed quanta", [(w["attempt"], w["quanta_failed"]) for w in tries])]
    return _plot("bar", "Failed quanta per attempt", ("attempt", "quanta"), series, note)


def plot_group_fraction(row: Row, ev: Evidence, note: str) -> dict:
    """Bar: failed fraction of each of the group's attempts."""
    tries = ev.attempts.get(row["pk"], [])
    points = [
        (w["attempt"], fraction(w["quanta_failed"], w["quanta_succeeded"]).value or 0)
        for w in tries
    ]
    series = [_series("failed fraction", points)]
    return _plot("bar", "Failed fraction per attempt", ("attempt", "fraction"), series, note)
