"""Per-task-label histograms of job run time and peak memory, where the WMS reports them.

Binned in the database, whatever the scope: one grouped query finds each task label's job
count and range, a second counts jobs per (task label, bin). Neither returns more rows than
task labels x ``BINS``, so a campaign of a million jobs costs what a workflow of ten does, and
no job is ever loaded into Python.

Bins are logarithmic and shared by all task labels: run times span seconds to hours across a
pipeline, so linear bins would squash the short tasks into the first bin. A job's "task label"
is the set it ran (``isr+characterizeImage`` for a clustered job): its run time and memory
belong to the cluster, not to one task. Only the ``MAX_LABELS`` labels with the most reporting
jobs are drawn; the note says how many more there are.
"""

from collections import defaultdict
from itertools import pairwise
from math import log, sqrt

from django.db.models import Count, F, Max, Min, Model, Q, QuerySet, Value
from django.db.models.functions import Floor, Ln

from campaigns.models import Job, Workflow
from monitoring.plots.common import current_attempts, element_info, plot_data, scope_of

BINS = 30
MAX_LABELS = 8
#: kind -> (Job field, axis label, what it is in prose)
METRICS = {
    "task-runtime": ("wall_seconds", "run time (s)", "run time"),
    "task-memory": ("max_rss_mb", "peak memory (MB)", "peak memory"),
}


def task_runtime_plot(element: Model) -> dict:
    """Histograms of ``Job.wall_seconds`` per task label (workflow, step or campaign)."""
    return _histograms("task-runtime", element)


def task_memory_plot(element: Model) -> dict:
    """Histograms of ``Job.max_rss_mb`` per task label (workflow, step or campaign)."""
    return _histograms("task-memory", element)


def jobs_of(element: Model) -> QuerySet[Job]:
    """A workflow's jobs; or the jobs of the current attempts in a step or campaign."""
    if isinstance(element, Workflow):
        return Job.objects.filter(workflow=element)
    return Job.objects.filter(workflow__in=current_attempts(element).values("pk"))


def _histograms(kind: str, element: Model) -> dict:
    field, x_label, what = METRICS[kind]
    jobs = jobs_of(element)
    stats = _label_stats(jobs, field)
    drawn = sorted(stats, key=lambda label: (-stats[label]["reporting"], label))[:MAX_LABELS]
    drawn = [label for label in drawn if stats[label]["reporting"]]
    info = element_info(element)
    fields = {
        "plot": "histogram",
        "title": f"{what.capitalize()} per task label: {info['path']}",
        "subtitle": "" if isinstance(element, Workflow) else "jobs of the current attempts",
        "x_label": x_label,
        "y_label": "jobs",
        "x_type": "number",
        "note": _note(stats, drawn, what, scope_of(element)),
    }
    if drawn:
        low = min(stats[label]["low"] for label in drawn)
        high = max(stats[label]["high"] for label in drawn)
        edges = log_edges(low, high)
        counts = _bin_counts(jobs, field, edges, drawn)
        centres = [sqrt(a * b) for a, b in pairwise(edges)]
        series = [
            {"label": label, "x": centres, "y": counts[label], "jobs": stats[label]["reporting"]}
            for label in drawn
        ]
        fields |= {"x_scale": "log", "bin_edges": edges, "series": series}
    return plot_data(kind, info, **fields)


def label_name(labels) -> str:
    if isinstance(labels, list):
        return "+".join(str(label) for label in labels) or "(no task label)"
    return str(labels)


def _label_stats(jobs: QuerySet[Job], field: str) -> dict[str, dict]:
    """Per task label: jobs, jobs reporting a (positive) value, and the values' range."""
    reported = Q(**{f"{field}__gt": 0})
    rows = (
        jobs.values_list("task_labels")
        .annotate(
            jobs=Count("pk"),
            reporting=Count("pk", filter=reported),
            low=Min(field, filter=reported),
            high=Max(field, filter=reported),
        )
        .order_by()
    )
    stats: dict[str, dict] = {}
    for labels, total, reporting, low, high in rows:
        # Two JSON lists may name the same labels (e.g. in another order): merge them.
        known = stats.setdefault(label_name(labels), {"jobs": 0, "reporting": 0})
        known["jobs"] += total
        known["reporting"] += reporting
        if reporting:
            known["low"] = min(low, known.get("low", low))
            known["high"] = max(high, known.get("high", high))
    return stats


def log_edges(low: float, high: float, bins: int = BINS) -> list[float]:
    """``bins + 1`` edges spaced evenly in log from ``low`` to ``high``; one bin (±5%) when the
    values agree within 1%, where finer bins would only show measurement noise."""
    if high <= low * 1.01:
        return [low * 0.95, high * 1.05]
    ratio = high / low
    return [low * ratio ** (i / bins) for i in range(bins)] + [high]


def _bin_counts(jobs, field: str, edges: list[float], drawn: list[str]) -> dict[str, list[int]]:
    """Jobs per (task label, bin), counted by the database."""
    start, width = log(edges[0]), (log(edges[-1]) - log(edges[0])) / (len(edges) - 1)
    index = Floor((Ln(F(field)) - Value(start)) / Value(width))
    rows = (
        jobs.filter(**{f"{field}__gt": 0})
        .annotate(bin=index)
        .values_list("task_labels", "bin")
        .annotate(n=Count("pk"))
        .order_by()
    )
    last = len(edges) - 2
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * (last + 1))
    for labels, bin_index, n in rows:
        # Clamped: the top value lands on the last edge, and a job may report between queries.
        counts[label_name(labels)][min(max(int(bin_index), 0), last)] += n
    return {label: counts[label] for label in drawn}


def _note(stats: dict[str, dict], drawn: list[str], what: str, scope: str) -> str:
    jobs = sum(s["jobs"] for s in stats.values())
    reporting = sum(s["reporting"] for s in stats.values())
    if not jobs:
        return f"This {scope} has no jobs yet."
    if not reporting:
        return f"No job of this {scope} reports its {what} (the local WMS does not)."
    notes = []
    if reporting < jobs:
        notes.append(f"{reporting} of {jobs} jobs report their {what}.")
    hidden = sum(1 for s in stats.values() if s["reporting"]) - len(drawn)
    if hidden:
        notes.append(f"{hidden} more task labels not drawn.")
    return " ".join(notes)
