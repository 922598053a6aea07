"""Shifter pages."""

from django.http import HttpResponse
from django.shortcuts import render

from campaigns import statedoc
from campaigns.states import WHO


def overview(request):
    return HttpResponse("cm")


def states(request):
    """Every status, what it means and where it may go next: the transition table, no queries."""
    context = {
        "intro": statedoc.INTRO,
        "final_note": statedoc.FINAL,
        "legend": [(actor.value, text) for actor, text in WHO.items()],
        "states": statedoc.state_rows(),
    }
    return render(request, "monitoring/states.html", context)
