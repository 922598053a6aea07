"""Read endpoints for every level: ``/api/v1/productions/`` ... ``jobs/``, ``failed-quanta/``,
``alarms/`` and ``history/`` (status changes).

Lists filter with the pages' FilterSets (``campaigns.filtersets``: ``?status=failed`` means
the same here and on a page), sort with ``?ordering=`` and page with ``?limit=&offset=``.
Each queryset selects what its serializer's paths and links read, so a list costs the
same number of queries whatever its length (``tests/test_api_read.py`` checks it).
"""

import django_filters as filters
from django import forms
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.prefetch import GenericPrefetch
from django.db.models import Prefetch
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import AllowAny

from campaigns.api import serializers as api
from campaigns.api.pagination import Pagination
from campaigns.filtersets import (
    AlarmFilter,
    CampaignFilter,
    FailedQuantumFilter,
    GroupFilter,
    IdFilter,
    JobFilter,
    ProductionFilter,
    StatusFilter,
    StepFilter,
    WorkflowFilter,
)
from campaigns.models import (
    LEVELS,
    Alarm,
    Campaign,
    FailedQuantum,
    Group,
    Job,
    Production,
    StatusChange,
    Step,
    Workflow,
)


class Error(serializers.Serializer):
    """A 401, 403 or 404 answer."""

    detail = serializers.CharField(help_text="What went wrong.")


#: A 400 answer: each bad parameter (or field) with its messages.
FIELD_ERRORS = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "example": {"status": ["Select a valid choice. sleeping is not one of the available choices."]},
}
JSON = ("application/json",)  # errors are JSON, whatever the endpoint's other formats


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, plus the error answers every endpoint may give: 400 for bad
    parameters or bodies, 401/403 (not logged in / role too low), 404 for a missing object.
    An operation's own ``extend_schema(responses=...)`` for a code wins."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, body in self._error_bodies().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(body, code, JSON, direction)
        return responses

    def get_tags(self) -> list[str]:
        # /api/v1/<tag>/...: the level (steps, alarms, ...), or tables.
        return [self.path.strip("/").split("/")[2]]

    def _error_bodies(self) -> dict:
        errors: dict = {}
        if self._is_list_view() or self.method in ("POST", "PUT", "PATCH"):
            errors["400"] = FIELD_ERRORS
        if not any(issubclass(p, AllowAny) for p in self.view.permission_classes):
            errors["401"] = Error
            errors["403"] = Error
        if "{" in self.path:
            errors["404"] = Error
        return errors


class StableOrderingFilter(OrderingFilter):
    """``?ordering=`` on the view's ``ordering_fields``, ties broken by id so that pages
    neither repeat nor skip rows."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not {"pk", "-pk", "id", "-id"} & set(ordering):
            ordering = [*ordering, "pk"]
        return ordering


class ReadViewSet(viewsets.ReadOnlyModelViewSet):
    """A level's list and detail, for the shifter role and above."""

    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    pagination_class = Pagination
    schema = ApiSchema()


def elements_with_paths() -> GenericPrefetch:
    """An alarm's or a status change's element with the parents its path reads: one query
    per level present among the rows."""
    return GenericPrefetch(
        "element",
        [
            Production.objects.all(),
            Campaign.objects.select_related("production"),
            Step.objects.select_related("campaign__production"),
            Group.objects.select_related("step__campaign__production"),
            Workflow.objects.select_related("group__step__campaign__production"),
            Job.objects.select_related("workflow__group__step__campaign__production"),
        ],
    )


class ProductionViewSet(ReadViewSet):
    """Productions: related campaigns, with a campaign type."""

    queryset = Production.objects.select_related("campaign_type")
    serializer_class = api.ProductionSerializer
    filterset_class = ProductionFilter
    ordering_fields = ["name", "status", "status_since", "created_at", "finished_at"]


class CampaignViewSet(ReadViewSet):
    """Campaigns: one complete processing of a data set each."""

    queryset = Campaign.objects.select_related("production__campaign_type")
    serializer_class = api.CampaignSerializer
    filterset_class = CampaignFilter
    ordering_fields = ["name", "status", "status_since", "created_at", "finished_at"]


class StepViewSet(ReadViewSet):
    """Steps: a campaign's pipeline subsets, in order, with the steps each waits for."""

    queryset = Step.objects.select_related("campaign__production").prefetch_related(
        Prefetch("prerequisites", queryset=Step.objects.only("pk"))
    )
    serializer_class = api.StepSerializer
    filterset_class = StepFilter
    ordering_fields = ["order", "name", "status", "status_since", "created_at"]


class GroupViewSet(ReadViewSet):
    """Groups: a step's share of the data, filtered as on the step's page."""

    queryset = Group.objects.select_related("step__campaign__production")
    serializer_class = api.GroupSerializer
    filterset_class = GroupFilter
    ordering_fields = ["name", "status", "status_since", "created_at", "data_id_count"]


class WorkflowViewSet(ReadViewSet):
    """Workflows: each group's attempts (BPS submissions)."""

    queryset = Workflow.objects.select_related("group__step__campaign__production")
    serializer_class = api.WorkflowSerializer
    filterset_class = WorkflowFilter
    ordering_fields = ["attempt", "status", "status_since", "created_at", "last_checked_at"]


class JobViewSet(ReadViewSet):
    """Jobs: what the WMS ran for an attempt, with run time and peak memory where known."""

    queryset = Job.objects.select_related("workflow__group__step__campaign__production")
    serializer_class = api.JobSerializer
    filterset_class = JobFilter
    ordering_fields = ["name", "status", "attempts", "wall_seconds", "max_rss_mb"]


class FailedQuantumViewSet(ReadViewSet):
    """Failed quanta of an attempt, with their error and the error rule they matched."""

    queryset = FailedQuantum.objects.select_related("workflow__group__step__campaign__production")
    serializer_class = api.FailedQuantumSerializer
    filterset_class = FailedQuantumFilter
    ordering_fields = ["task_label", "error_type", "flavor", "id"]


class AlarmViewSet(ReadViewSet):
    """Every alarm, open or cleared (``?open=true`` for the open ones), newest first."""

    queryset = Alarm.objects.select_related("content_type", "acknowledged_by").prefetch_related(
        elements_with_paths()
    )
    serializer_class = api.AlarmSerializer
    filterset_class = AlarmFilter
    ordering = ["-opened_at", "-id"]
    ordering_fields = ["opened_at", "updated_at", "cleared_at", "severity", "kind"]


MODELS = {model._meta.model_name: model for model in LEVELS}


class HistoryForm(forms.Form):
    def clean(self):
        data = super().clean()
        if data.get("id") is not None and not data.get("level"):
            # Ids repeat across levels: an id alone names no element.
            self.add_error("level", "Give the level of the element whose id this is.")
        return data


class HistoryFilter(filters.FilterSet):
    """One element's status changes (``?level=group&id=5``), or every change at a level."""

    level = filters.ChoiceFilter(
        choices=[(name, name) for name in MODELS], method="at_level", label="Level"
    )
    id = IdFilter(field_name="object_id", label="Element id (with level)")
    to_status = StatusFilter(label="To status")
    actor = filters.ChoiceFilter(
        choices=[("cm", "cm (system)"), ("person", "a person")],
        method="by_actor",
        label="Who moved it",
    )

    class Meta:
        model = StatusChange
        fields = ["level", "id", "to_status"]
        form = HistoryForm

    def at_level(self, queryset, name, value):
        return queryset.filter(content_type=ContentType.objects.get_for_model(MODELS[value]))

    def by_actor(self, queryset, name, value):
        return queryset.filter(user__isnull=value == "cm")


class HistoryViewSet(ReadViewSet):
    """Status changes of every element, newest first: who, when, from, to, why."""

    queryset = StatusChange.objects.select_related("content_type", "user").prefetch_related(
        elements_with_paths()
    )
    serializer_class = api.StatusChangeSerializer
    filterset_class = HistoryFilter
    ordering_fields = ["at", "id"]


VIEWSETS = [
    ("productions", ProductionViewSet, "production"),
    ("campaigns", CampaignViewSet, "campaign"),
    ("steps", StepViewSet, "step"),
    ("groups", GroupViewSet, "group"),
    ("workflows", WorkflowViewSet, "workflow"),
    ("jobs", JobViewSet, "job"),
    ("failed-quanta", FailedQuantumViewSet, "failed-quantum"),
    ("alarms", AlarmViewSet, "alarm"),
    ("history", HistoryViewSet, "history"),
]


def register(router) -> None:
    """Add the levels' viewsets to the API router."""
    for prefix, viewset, basename in VIEWSETS:
        router.register(prefix, viewset, basename=basename)
