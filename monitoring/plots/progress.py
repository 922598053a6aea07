"""Progress and failure rate over time, from ``ProgressSample`` rows.

Samples are written only when counts change, so a step has hundreds; a campaign running for
months may have tens of thousands. Past ``MAX_SAMPLES`` the database keeps every k-th sample
counted back from the newest (one window-function query), so the plot always ends on the
current counts and never loads more rows than an image can show.
"""

from math import ceil

from django.db.models import Model, Value, Window
from django.db.models.functions import RowNumber

from campaigns.models import ProgressSample
from monitoring.plots.common import element_info, plot_data, scope_of

MAX_SAMPLES = 2000


def progress_plot(element: Model) -> dict:
    """Quanta expected, succeeded and failed over time (step lines)."""
    rows, note = samples(element, ("quanta_expected", "quanta_succeeded", "quanta_failed"))
    times = [row[0].isoformat() for row in rows]
    series = [
        {"label": label, "x": times, "y": [row[i] for row in rows]}
        for i, label in enumerate(("expected", "succeeded", "failed"), start=1)
    ]
    info = element_info(element)
    return plot_data(
        "progress",
        info,
        plot="step",
        title=f"Progress of {info['path']}",
        x_label="time (UTC)",
        y_label="quanta",
        series=series,
        note=note,
    )


def failure_rate_plot(element: Model) -> dict:
    """failed / (succeeded + failed) over time; no value (null) while nothing has finished."""
    rows, note = samples(element, ("quanta_succeeded", "quanta_failed"))
    rates = [round(failed / (ok + failed), 4) if ok + failed else None for _, ok, failed in rows]
    info = element_info(element)
    return plot_data(
        "failure-rate",
        info,
        plot="step",
        title=f"Failure rate of {info['path']}",
        x_label="time (UTC)",
        y_label="failed / (succeeded + failed)",
        series=[{"label": "failure rate", "x": [row[0].isoformat() for row in rows], "y": rates}],
        note=note,
    )


def samples(element: Model, fields: tuple[str, ...]) -> tuple[list[tuple], str]:
    """``(at, *fields)`` rows, oldest first, at most ``MAX_SAMPLES``; and a note on what they
    are. Two queries whatever the number of samples (none when there are none to fetch)."""
    scope = scope_of(element)
    rows = ProgressSample.objects.filter(scope=scope, object_id=element.pk).order_by("at", "pk")
    total = rows.count()
    if not total:
        return [], f"No progress recorded for this {scope} yet."
    every = ceil(total / MAX_SAMPLES)
    if every > 1:
        newest_first = Window(RowNumber(), order_by=["-at", "-pk"])
        rows = rows.annotate(phase=(newest_first - Value(1)) % every).filter(phase=0)
    values = list(rows.values_list("at", *fields))
    note = f"{len(values)} of {total} samples drawn: one in {every}, up to the latest."
    return values, note if every > 1 else ""
