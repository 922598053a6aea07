"""Draw any plot's data (see ``plot_data``) as PNG, SVG or PDF, or give it back as JSON.

Only ``matplotlib.figure.Figure`` and non-interactive canvases: pyplot keeps global state and
is not thread-safe in a web process. Sizes and fonts are passed per call, never through the
global ``rcParams``, for the same reason.
"""

import json
from datetime import datetime
from io import BytesIO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

#: fmt -> content type
FORMATS = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "json": "application/json",
}
SIZE = (8, 4)  # inches
DPI = 100  # PNG: 800 x 400 pixels
LIMIT_COLOURS = {"warning": "tab:orange", "error": "tab:red"}


def render(data: dict, fmt: str) -> bytes:
    """The plot as a file of format ``fmt`` (one of ``FORMATS``)."""
    if fmt == "json":
        return json.dumps(data).encode()
    if fmt not in FORMATS:
        raise ValueError(f"unknown plot format {fmt!r}")
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # savefig switches to the SVG or PDF canvas for those formats
    axes = figure.add_subplot()
    figure.suptitle(data["title"], fontsize=10)
    if has_points(data):
        _draw(figure, axes, data)
    else:
        _empty_panel(axes, data)
    buffer = BytesIO()
    figure.savefig(buffer, format=fmt)
    return buffer.getvalue()


def has_points(data: dict) -> bool:
    """Anything to draw: a series with points, a limit or a marked value."""
    return any(s["x"] for s in data["series"]) or bool(data["limits"] or data["marks"])


def _draw(figure: Figure, axes, data: dict) -> None:
    DRAW[data["plot"]](axes, data)
    for limit in data["limits"]:
        colour = LIMIT_COLOURS.get(limit.get("level"), "tab:gray")
        label = f"{limit['label']} ({limit['y']:g})"
        axes.axhline(limit["y"], color=colour, linestyle="--", linewidth=1, label=label)
    for mark in data["marks"]:
        # A pointer on the right edge: an alarm's value belongs to no one x of its series.
        axes.plot(
            [1.0],
            [mark["y"]],
            marker="<",
            markersize=9,
            color="black",
            linestyle="none",
            transform=axes.get_yaxis_transform(),
            clip_on=False,
            label=f"{mark['label']} ({mark['y']:g})",
        )
    if data["subtitle"]:
        axes.set_title(data["subtitle"], fontsize=9)
    axes.set_xlabel(data["x_label"], fontsize=9)
    axes.set_ylabel(data["y_label"], fontsize=9)
    axes.tick_params(labelsize=8)
    axes.grid(alpha=0.3)
    if _non_negative(data):
        axes.set_ylim(bottom=0)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    if data["note"]:
        figure.supxlabel(data["note"], fontsize=7, x=0.01, ha="left", color="dimgray")


def _empty_panel(axes, data: dict) -> None:
    axes.set_axis_off()
    message = data["note"] or "Nothing to plot."
    axes.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10)


def _lines(axes, data: dict, **style) -> None:
    for series in data["series"]:
        x = _times(series["x"]) if data["x_type"] == "time" else series["x"]
        y = [float("nan") if v is None else v for v in series["y"]]
        marker = "o" if len(x) == 1 else None  # a lone point draws no line
        axes.plot(x, y, label=series["label"], marker=marker, markersize=3, **style)
    if data["x_type"] == "time" and any(isinstance(v, datetime) for v in _first_x(data)):
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _steps(axes, data: dict) -> None:
    _lines(axes, data, drawstyle="steps-post")


def _bars(axes, data: dict) -> None:
    categories = list(dict.fromkeys(str(x) for s in data["series"] for x in s["x"]))
    width = 0.8 / len(data["series"])
    for i, series in enumerate(data["series"]):
        heights = dict(zip((str(x) for x in series["x"]), series["y"], strict=True))
        offsets = [j + (i - (len(data["series"]) - 1) / 2) * width for j in range(len(categories))]
        values = [heights.get(c) or 0 for c in categories]
        axes.bar(offsets, values, width=width, label=series["label"] or None)
    rotate = len(categories) > 6
    axes.set_xticks(
        range(len(categories)),
        categories,
        rotation=30 if rotate else 0,
        ha="right" if rotate else "center",
    )


def _histogram(axes, data: dict) -> None:
    for series in data["series"]:
        axes.stairs(series["y"], data["bin_edges"], label=f"{series['label']} ({series['jobs']})")
    axes.set_xscale(data["x_scale"])
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 100, not 10²
    edges = data["bin_edges"]
    if data["x_scale"] == "log" and edges[-1] < 10 * edges[0]:
        # Within one decade a log axis labels its minor ticks in scientific notation, which
        # overlap; a few plain labels at bin edges read better.
        ticks = edges[:: max(1, len(edges) // 5)]
        axes.set_xticks(ticks, [f"{tick:.3g}" for tick in ticks])
        axes.xaxis.set_minor_formatter(NullFormatter())


DRAW = {"line": _lines, "step": _steps, "bar": _bars, "histogram": _histogram}


def _times(values: list) -> list:
    """ISO-8601 strings as datetimes; left as they are if any is not one (drawn as given)."""
    try:
        return [datetime.fromisoformat(v) for v in values]
    except (TypeError, ValueError):
        return values


def _first_x(data: dict) -> list:
    return _times(next((s["x"] for s in data["series"] if s["x"]), []))


def _non_negative(data: dict) -> bool:
    ys = [v for s in data["series"] for v in s["y"] if v is not None]
    ys += [item["y"] for item in data["limits"] + data["marks"]]
    return all(v >= 0 for v in ys)
