"""The plot behind an alarm: what its rule saw (``Alarm.details``), its limits and its value.

``details`` is written by the alarm rules: ``{"plot": "bar" | "line", "title", "x_label",
"y_label", "series": [{"label", "x", "y"}], "note"}``, line x values being ISO-8601 times.
Alarms cm raises by itself (e.g. wms-unreachable) have none; their plot is a panel saying so.
Details are read defensively: a malformed series is dropped rather than failing the page.
"""

from math import isfinite
from numbers import Real

from campaigns.models import Alarm
from monitoring.plots.common import MODELS, element_info, plot_data, with_parents


def alarm_plot(alarm: Alarm) -> dict:
    """The alarm's series, its warning and error limits and its value, titled with its
    severity, kind and element path. Costs one query (the element with its parents) when
    ``alarm`` was loaded with ``select_related("content_type")``."""
    details = alarm.details if isinstance(alarm.details, dict) else {}
    series = [s for s in map(_series, details.get("series") or []) if s]
    kind = details.get("plot") if details.get("plot") in ("bar", "line") else "line"
    info = _element(alarm)
    note = str(details.get("note") or "")
    if not any(s["x"] for s in series):
        note = note or (
            f"Nothing to plot: cm raised this {alarm.kind} alarm without a measurement. "
            f"{alarm.message}"
        )
    return plot_data(
        "alarm",
        info,
        plot=kind,
        title=f"{alarm.severity.upper()} {alarm.kind}: {info['path']}",
        subtitle=str(details.get("title") or alarm.variable),
        x_label=str(details.get("x_label") or ("time (UTC)" if kind == "line" else "")),
        y_label=str(details.get("y_label") or alarm.variable),
        x_type="time" if kind == "line" else "category",
        series=series,
        limits=[
            {"label": f"{level} limit", "level": level, "y": value}
            for level, value in (("warning", alarm.warning_limit), ("error", alarm.error_limit))
            if value is not None
        ],
        marks=[] if alarm.value is None else [{"label": "value", "y": alarm.value}],
        note=note,
        alarm=_summary(alarm),
    )


def _element(alarm: Alarm) -> dict:
    scope = alarm.content_type.model
    if scope not in MODELS:
        return {"scope": scope, "id": alarm.object_id, "path": f"{scope} {alarm.object_id}"}
    element = with_parents(scope).filter(pk=alarm.object_id).first()
    if element is None:
        return {"scope": scope, "id": alarm.object_id, "path": f"(deleted {scope})"}
    return element_info(element)


def _series(raw) -> dict | None:
    """``{"label", "x", "y"}`` with as many x as y values, y numbers or null; None if unusable."""
    if not isinstance(raw, dict) or not isinstance(raw.get("x"), list):
        return None
    if not isinstance(raw.get("y"), list):
        return None
    x, y = raw["x"], raw["y"]
    length = min(len(x), len(y))
    numbers = [v if _is_number(v) else None for v in y]
    return {"label": str(raw.get("label") or ""), "x": x[:length], "y": numbers[:length]}


def _is_number(value) -> bool:
    # NaN and infinities would make the JSON twin invalid JSON.
    return isinstance(value, Real) and not isinstance(value, bool) and isfinite(value)


def _summary(alarm: Alarm) -> dict:
    return {
        "id": alarm.pk,
        "kind": alarm.kind,
        "severity": alarm.severity,
        "variable": alarm.variable,
        "algorithm": alarm.algorithm,
        "value": alarm.value,
        "warning_limit": alarm.warning_limit,
        "error_limit": alarm.error_limit,
        "message": alarm.message,
        "opened_at": alarm.opened_at.isoformat(),
        "cleared_at": alarm.cleared_at.isoformat() if alarm.cleared_at else None,
    }
