"""Shifter pages."""

from django.http import HttpResponse


def overview(request):
    return HttpResponse("cm")


def states(request):
    return HttpResponse("states")
