"""FilterSets shared by the pages and the API: ``?status=failed`` means the same in both.

Each level also filters by its parent's id (``?campaign=3`` on steps, ``?step=7`` on
groups, ...), which is how the API links a parent to its children.
"""

from datetime import UTC, datetime

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet

from campaigns.models import (
    Alarm,
    Campaign,
    CampaignType,
    FailedQuantum,
    Group,
    Job,
    Production,
    Step,
    Workflow,
)
from campaigns.states import STATE_INFO, Status

ACTIVE = [s for s in Status if not STATE_INFO[s].final]
MAX_ID = 2**63 - 1  # the largest id PostgreSQL's bigint (and SQLite's integer) holds


class IdFilter(filters.NumberFilter):
    """An id: a whole number the database can hold. Anything else is a bad request (400 in
    the API, an ignored filter on a page), not a number the database cannot compare."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)

    def get_max_validator(self):
        return None  # the form field's max_value says it


class UtcDateTimeField(forms.DateTimeField):
    """A time, as UTC: one without a zone means UTC (the pages' interval selector says so);
    one with a zone is converted. A time that has no UTC value (the year 9999 with a zone
    behind UTC) is invalid, and so is a zone the database refuses (PostgreSQL takes offsets up
    to 15:59; ISO 8601 allows 23:59)."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Out of range once converted to UTC.") from None


class UtcDateTimeFilter(filters.DateTimeFilter):
    field_class = UtcDateTimeField


class StatusFilter(filters.MultipleChoiceFilter):
    def __init__(self, **kwargs):
        kwargs.setdefault("choices", Status.choices)
        kwargs.setdefault("widget", forms.CheckboxSelectMultiple)
        super().__init__(**kwargs)


def _in_interval(queryset: QuerySet, since: datetime | None, until: datetime | None) -> QuerySet:
    """Elements alive at some time in [since, until]: created by ``until`` and not finished
    before ``since`` (an element still in progress is alive now)."""
    if until is not None:
        queryset = queryset.filter(created_at__lte=until)
    if since is not None:
        queryset = queryset.filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since))
    return queryset


class ProductionFilter(filters.FilterSet):
    campaign_type = filters.ModelChoiceFilter(
        queryset=CampaignType.objects.all(), to_field_name="name", label="Type"
    )
    status = StatusFilter()
    name = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Production
        fields = ["campaign_type", "status", "name"]


class CampaignFilter(filters.FilterSet):
    """The top-level status: campaign type, status, production, a UTC time interval."""

    campaign_type = filters.ModelChoiceFilter(
        field_name="production__campaign_type",
        queryset=CampaignType.objects.all(),
        to_field_name="name",
        label="Type",
    )
    status = StatusFilter()
    production = filters.CharFilter(field_name="production__name", label="Production")
    production_id = IdFilter(field_name="production_id", label="Production id")
    since = UtcDateTimeFilter(method="interval", label="Active since (UTC)")
    until = UtcDateTimeFilter(method="interval", label="Active until (UTC)")

    class Meta:
        model = Campaign
        fields = ["campaign_type", "status", "production"]

    def interval(self, queryset, name, value):
        # Both ends are applied once, by whichever of the two filters runs first.
        if getattr(self, "_interval_done", False):
            return queryset
        self._interval_done = True
        data = self.form.cleaned_data
        return _in_interval(queryset, data.get("since"), data.get("until"))


class StepFilter(filters.FilterSet):
    campaign = IdFilter(field_name="campaign_id")
    status = StatusFilter()
    name = filters.CharFilter()

    class Meta:
        model = Step
        fields = ["campaign", "status", "name"]


class GroupFilter(filters.FilterSet):
    """The step-to-group view: by status, name or query text, and open alarms."""

    step = IdFilter(field_name="step_id", label="Step id")
    campaign = IdFilter(field_name="step__campaign_id", label="Campaign id")
    status = StatusFilter()
    search = filters.CharFilter(method="search_text", label="Name or data query contains")
    has_alarms = filters.BooleanFilter(method="with_alarms", label="Has open alarms")
    active = filters.BooleanFilter(method="only_active", label="Not final")

    class Meta:
        model = Group
        fields = ["status"]

    def search_text(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(data_query__icontains=value))

    def with_alarms(self, queryset, name, value):
        open_alarm = Alarm.objects.filter(group=OuterRef("pk"), cleared_at__isnull=True)
        return queryset.filter(Exists(open_alarm) if value else ~Exists(open_alarm))

    def only_active(self, queryset, name, value):
        return queryset.filter(status__in=ACTIVE) if value else queryset.exclude(status__in=ACTIVE)


class WorkflowFilter(filters.FilterSet):
    group = IdFilter(field_name="group_id")
    step = IdFilter(field_name="group__step_id")
    status = StatusFilter()
    wms = filters.CharFilter()

    class Meta:
        model = Workflow
        fields = ["status", "wms"]


class JobFilter(filters.FilterSet):
    workflow = IdFilter(field_name="workflow_id")
    status = StatusFilter()
    task_label = filters.CharFilter(method="with_task", label="Task label")

    class Meta:
        model = Job
        fields = ["status"]

    def with_task(self, queryset, name, value):
        # JSON "contains" is not available on SQLite; the quoted label in the JSON text is.
        return queryset.filter(task_labels__icontains=f'"{value}"')


class FailedQuantumFilter(filters.FilterSet):
    workflow = IdFilter(field_name="workflow_id")
    task_label = filters.CharFilter()
    error_type = filters.CharFilter(lookup_expr="icontains")
    flavor = filters.CharFilter()

    class Meta:
        model = FailedQuantum
        fields = ["task_label", "error_type", "flavor"]


class AlarmFilter(filters.FilterSet):
    severity = filters.MultipleChoiceFilter(
        choices=Alarm.Severity.choices, widget=forms.CheckboxSelectMultiple
    )
    open = filters.BooleanFilter(field_name="cleared_at", lookup_expr="isnull", label="Open")
    acknowledged = filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True, label="Acknowledged"
    )
    kind = filters.CharFilter()
    campaign = IdFilter(field_name="campaign_id")
    group = IdFilter(field_name="group_id")

    class Meta:
        model = Alarm
        fields = ["severity", "kind"]
