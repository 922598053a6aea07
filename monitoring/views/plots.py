"""Plots as PNG, SVG and PDF, each with a JSON twin of its data (placeholder until built)."""

from django.http import Http404


def element_plot(request, kind: str, scope: str, pk: int, fmt: str):
    raise Http404("plots are not built yet")


def alarm_plot(request, pk: int, fmt: str):
    raise Http404("plots are not built yet")
