"""The status tables of the shifter pages."""

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from campaigns.models import Campaign
from monitoring.columns import StatusColumn, StatusCountsColumn


class CampaignTable(tables.Table):
    """One row per campaign: where it stands, counted on groups and quanta."""

    production = tables.Column(accessor="production__name", verbose_name="Production")
    campaign_type = tables.Column(
        accessor="production__campaign_type__name", verbose_name="Type", orderable=False
    )
    name = tables.Column(verbose_name="Campaign")
    status = StatusColumn()
    step_count = tables.Column(verbose_name="Steps", orderable=False)
    groups = StatusCountsColumn("group_counts", verbose_name="Groups")
    quanta = tables.Column(accessor="quanta_expected", verbose_name="Quanta done / failed / total")
    status_since = tables.DateTimeColumn(verbose_name="In status since", format="Y-m-d H:i")

    class Meta:
        model = Campaign
        fields = ()
        sequence = ("production", "campaign_type", "name", "status", "step_count", "groups")
        order_by = ("production", "name")
        attrs = {"class": "table"}

    def render_name(self, record):
        url = reverse("admin:campaigns_campaign_change", args=[record.pk])
        return format_html('<a href="{}">{}</a>', url, record.name)

    def render_quanta(self, record):
        return f"{record.quanta_succeeded} / {record.quanta_failed} / {record.quanta_expected}"
