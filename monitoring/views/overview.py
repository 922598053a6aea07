"""The top-level processing status, and the states page."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from campaigns import statedoc
from campaigns.filtersets import CampaignFilter
from campaigns.models import Campaign
from campaigns.states import WHO
from monitoring import queries
from monitoring.tables import CampaignTable, ProductionTable
from monitoring.views.common import configure, export, page, row_ids

# The interval selector's presets: label, hours back from now.
PRESETS = [("24 h", 24), ("7 days", 24 * 7), ("30 days", 24 * 30)]


def overview(request):
    """Productions and campaigns, counted by status, on data IDs and on quanta."""
    campaigns = CampaignFilter(request.GET, queryset=queries.campaigns_with_counts())
    table = CampaignTable(campaigns.qs)
    configure(request, table)
    rows = row_ids(request, table)
    table.counts = queries.group_counts(rows)
    table.data_ids = queries.data_ids("step__campaign", rows)
    table.alarms = queries.open_alarms("campaign", rows)
    if response := export(request, table, "campaigns"):
        return response

    productions = ProductionTable(queries.productions_with_counts(), prefix="p-", orderable=False)
    configure(request, productions)
    ids = [row.record.pk for row in productions.page.object_list]
    productions.counts = queries.by_status(Campaign, "production", ids)
    productions.data_ids = queries.data_ids("step__campaign__production", ids)

    now = timezone.now().replace(second=0, microsecond=0)
    context = {
        "table": table,
        "productions": productions,
        "filter": campaigns,
        "now": now,
        "presets": [
            (label, (now - timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M")) for label, h in PRESETS
        ],
    }
    return page(request, "monitoring/overview.html", context, table)


def states(request):
    """Every status, what it means and where it may go next: the transition table, no queries."""
    context = {
        "intro": statedoc.INTRO,
        "final_note": statedoc.FINAL,
        "legend": [(actor.value, text) for actor, text in WHO.items()],
        "states": statedoc.state_rows(),
    }
    return render(request, "monitoring/states.html", context)
