"""Plots for the shifter pages, each with a JSON twin of exactly the data it draws.

One function per plot returns that data as a plain dict, so pages, the API and a static export
share it; ``render`` draws any of them::

    data = plots.progress_plot(step)   # or plots.element_plot_data("progress", "step", pk)
    png = plots.render(data, "png")    # "svg", "pdf" or "json"

Pass elements loaded with their parents (``load_element`` does) or ``.path`` costs queries.
docs/pages.md lists the kinds, scopes, URLs and the data's shape.
"""

from monitoring.plots.alarms import alarm_plot
from monitoring.plots.common import PlotNotFound, element_info, load_element
from monitoring.plots.histograms import task_memory_plot, task_runtime_plot
from monitoring.plots.progress import failure_rate_plot, progress_plot
from monitoring.plots.render import FORMATS, render

_HIERARCHY = ("campaign", "step", "group", "workflow")
#: kind (as in URLs) -> (function of an element, the scopes it is drawn for)
PLOT_KINDS = {
    "progress": (progress_plot, _HIERARCHY),
    "failure-rate": (failure_rate_plot, _HIERARCHY),
    "task-runtime": (task_runtime_plot, ("workflow", "step", "campaign")),
    "task-memory": (task_memory_plot, ("workflow", "step", "campaign")),
}


def element_plot_data(kind: str, scope: str, pk: int) -> dict:
    """The data of plot ``kind`` of an element; ``PlotNotFound`` for anything unknown."""
    if kind not in PLOT_KINDS:
        raise PlotNotFound(f"no plot kind {kind!r}")
    function, scopes = PLOT_KINDS[kind]
    if scope not in scopes:
        raise PlotNotFound(f"no {kind} plot for a {scope}")
    return function(load_element(scope, pk))


__all__ = [
    "FORMATS",
    "PLOT_KINDS",
    "PlotNotFound",
    "alarm_plot",
    "element_info",
    "element_plot_data",
    "failure_rate_plot",
    "load_element",
    "progress_plot",
    "render",
    "task_memory_plot",
    "task_runtime_plot",
]
