"""Shifter pages."""

from django.shortcuts import render
from django_tables2 import RequestConfig

from campaigns import statedoc
from campaigns.states import WHO
from monitoring.queries import campaigns_with_counts, group_counts
from monitoring.tables import CampaignTable


def overview(request):
    """The top-level processing status: every campaign, its groups counted by status."""
    table = CampaignTable(campaigns_with_counts())
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    table.group_counts = group_counts([row.record.pk for row in table.page.object_list])
    return render(request, "monitoring/overview.html", {"table": table})


def states(request):
    """Every status, what it means and where it may go next: the transition table, no queries."""
    context = {
        "intro": statedoc.INTRO,
        "final_note": statedoc.FINAL,
        "legend": [(actor.value, text) for actor, text in WHO.items()],
        "states": statedoc.state_rows(),
    }
    return render(request, "monitoring/states.html", context)
