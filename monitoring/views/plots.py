"""Plots as PNG, SVG and PDF, each with a JSON twin of its data (``monitoring.plots``)."""

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control

from campaigns.models import Alarm
from monitoring import plots


def element_plot(request, kind: str, scope: str, pk: int, fmt: str):
    """``plots/<kind>/<scope>/<pk>.<fmt>``: e.g. a step's progress as SVG."""
    _check_format(fmt)
    try:
        data = plots.element_plot_data(kind, scope, pk)
    except plots.PlotNotFound as error:
        raise Http404(str(error)) from None
    return _file(request, data, fmt, f"{scope}-{pk}-{kind}.{fmt}")


def alarm_plot(request, pk: int, fmt: str):
    """``alarms/<pk>/plot.<fmt>``: what the alarm's rule saw, with its limits and value."""
    _check_format(fmt)
    alarm = get_object_or_404(Alarm.objects.select_related("content_type"), pk=pk)
    return _file(request, plots.alarm_plot(alarm), fmt, f"alarm-{pk}-{alarm.kind}.{fmt}")


def _check_format(fmt: str) -> None:
    if fmt not in plots.FORMATS:
        raise Http404(f"no plot format {fmt!r}")


def _file(request, data: dict, fmt: str, filename: str) -> HttpResponse:
    """The plot, inline (pages embed it with <img>) or, with ``?download=1``, as a download."""
    response = HttpResponse(plots.render(data, fmt), content_type=plots.FORMATS[fmt])
    disposition = "attachment" if request.GET.get("download") == "1" else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    patch_cache_control(response, max_age=60)
    return response
