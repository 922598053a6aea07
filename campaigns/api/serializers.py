"""What the read API returns for each level, with the links that tie the levels together.

Every object carries ``url`` (itself in the API), ``page`` (its shifter page), ``path``
(``production/campaign/step/group/attempt_N``), its parent's API URL and the API lists of its
children (``steps`` = ``/api/v1/steps/?campaign=<id>``), so a client walks the hierarchy by
following links. Links are absolute when the serializer has the request, as DRF's are.

Building a path reads the parents, so the viewsets select them with the rows
(``campaigns.api.views``): a list costs the same queries for 5 rows as for 50.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.db import models
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import (
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
from campaigns.models.base import QuantumCounts

#: The levels an alarm or a status change may be about, by ``ContentType.model``.
LEVEL_NAMES = ("production", "campaign", "step", "group", "workflow", "job")


def detail(basename: str, pk: int) -> str:
    return reverse(f"api:{basename}-detail", args=[pk])


def children(basename: str, **filters: object) -> str:
    return reverse(f"api:{basename}-list") + "?" + urlencode(filters)


def history_of(level: str, pk: int) -> str:
    return children("history", level=level, id=pk)


def page_of(element: models.Model) -> str:
    """The shifter page showing the element (a job: its attempt's jobs table)."""
    if isinstance(element, Production):
        return reverse("monitoring:overview") + "?" + urlencode({"production": element.name})
    if isinstance(element, Job):
        return reverse("monitoring:workflow", args=[element.workflow_id]) + "#jobs"
    return reverse(f"monitoring:{element._meta.model_name}", args=[element.pk])


def path_of(element: models.Model) -> str:
    return element.path  # type: ignore[attr-defined]


@extend_schema_field(OpenApiTypes.URI)
class LinkField(serializers.Field):
    """A read-only link computed from the whole record: ``link(record)`` gives a path."""

    def __init__(self, link: Callable[[Any], str | None], **kwargs):
        self.link = link
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        path = self.link(value)
        request = self.context.get("request")
        if path is None or request is None:
            return path
        return request.build_absolute_uri(path)


class PathField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return path_of(value)


COUNT_FIELDS = list(QuantumCounts.COUNT_FIELDS)
ELEMENT_FIELDS = [
    "id",
    "url",
    "page",
    "path",
    "status",
    "status_since",
    "status_reason",
    "created_at",
    "started_at",
    "finished_at",
    "last_checked_at",
]


class ElementSerializer(serializers.ModelSerializer):
    """What every level shares: links, status and how long and why, timestamps."""

    page = LinkField(page_of)
    path = PathField()


class ProductionSerializer(ElementSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:production-detail")
    campaign_type = serializers.CharField(source="campaign_type.name", read_only=True)
    campaigns = LinkField(lambda p: children("campaign", production_id=p.pk))
    history = LinkField(lambda p: history_of("production", p.pk))

    class Meta:
        model = Production
        fields = [
            *ELEMENT_FIELDS,
            "name",
            "campaign_type",
            "description",
            "output_collection",
            *COUNT_FIELDS,
            "spec",
            "campaigns",
            "history",
        ]


class CampaignSerializer(ElementSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:campaign-detail")
    production = serializers.HyperlinkedRelatedField(
        view_name="api:production-detail", read_only=True
    )
    campaign_type = serializers.CharField(source="production.campaign_type.name", read_only=True)
    input_collections = serializers.ListField(child=serializers.CharField(), read_only=True)
    steps = LinkField(lambda c: children("step", campaign=c.pk))
    alarms = LinkField(lambda c: children("alarm", campaign=c.pk))
    history = LinkField(lambda c: history_of("campaign", c.pk))

    class Meta:
        model = Campaign
        fields = [
            *ELEMENT_FIELDS,
            "name",
            "production",
            "campaign_type",
            "description",
            "butler_repo",
            "input_collections",
            "data_query",
            "pipeline",
            "lsst_version",
            "output_root",
            "output_collection",
            "collection_templates",
            *COUNT_FIELDS,
            "spec",
            "steps",
            "alarms",
            "history",
        ]


class StepSerializer(ElementSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:step-detail")
    campaign = serializers.HyperlinkedRelatedField(view_name="api:campaign-detail", read_only=True)
    prerequisites = serializers.HyperlinkedRelatedField(
        view_name="api:step-detail", many=True, read_only=True
    )
    groups = LinkField(lambda s: children("group", step=s.pk))
    workflows = LinkField(lambda s: children("workflow", step=s.pk))
    history = LinkField(lambda s: history_of("step", s.pk))

    class Meta:
        model = Step
        fields = [
            *ELEMENT_FIELDS,
            "name",
            "campaign",
            "order",
            "pipeline_subset",
            "prerequisites",
            "data_query",
            "input_collection",
            "output_collection",
            "split",
            "bps",
            "wms",
            *COUNT_FIELDS,
            "spec",
            "groups",
            "workflows",
            "history",
        ]


class GroupSerializer(ElementSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:group-detail")
    step = serializers.HyperlinkedRelatedField(view_name="api:step-detail", read_only=True)
    workflows = LinkField(lambda g: children("workflow", group=g.pk))
    alarms = LinkField(lambda g: children("alarm", group=g.pk))
    history = LinkField(lambda g: history_of("group", g.pk))

    class Meta:
        model = Group
        fields = [
            *ELEMENT_FIELDS,
            "name",
            "step",
            "data_query",
            "input_collection",
            "output_collection",
            "data_id_count",
            "dataset_count",
            "inputs_built_at",
            *COUNT_FIELDS,
            "spec",
            "workflows",
            "alarms",
            "history",
        ]


def _archived(pk: int | None) -> str | None:
    return None if pk is None else reverse("monitoring:archived-config", args=[pk])


class WorkflowSerializer(ElementSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:workflow-detail")
    group = serializers.HyperlinkedRelatedField(view_name="api:group-detail", read_only=True)
    name = serializers.CharField(read_only=True)
    archived_files = serializers.ListField(child=serializers.CharField(), read_only=True)
    submit_config = LinkField(lambda w: _archived(w.submit_config_id), allow_null=True)
    jobs = LinkField(lambda w: children("job", workflow=w.pk))
    failed_quanta = LinkField(lambda w: children("failed-quantum", workflow=w.pk))
    history = LinkField(lambda w: history_of("workflow", w.pk))

    class Meta:
        model = Workflow
        fields = [
            *ELEMENT_FIELDS,
            "name",
            "attempt",
            "group",
            "wms",
            "wms_id",
            "output_run",
            "run_registered_at",
            "run_removed_at",
            "submit_dir",
            "overrides",
            "poll_failures",
            "next_check_at",
            "auto_retry_rule",
            "archived_files",
            "submit_config",
            *COUNT_FIELDS,
            "spec",
            "jobs",
            "failed_quanta",
            "history",
        ]


class JobSerializer(ElementSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:job-detail")
    workflow = serializers.HyperlinkedRelatedField(view_name="api:workflow-detail", read_only=True)
    task_labels = serializers.ListField(child=serializers.CharField(), read_only=True)
    history = LinkField(lambda j: history_of("job", j.pk))

    class Meta:
        model = Job
        fields = [
            *ELEMENT_FIELDS,
            "name",
            "workflow",
            "wms_job_id",
            "task_labels",
            "attempts",
            "error",
            "wall_seconds",
            "max_rss_mb",
            "history",
        ]


class FailedQuantumSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:failed-quantum-detail")
    page = LinkField(lambda q: reverse("monitoring:failures", args=[q.workflow_id]))
    path = serializers.SerializerMethodField(help_text="Its attempt's path and its task label.")
    workflow = serializers.HyperlinkedRelatedField(view_name="api:workflow-detail", read_only=True)

    class Meta:
        model = FailedQuantum
        fields = [
            "id",
            "url",
            "page",
            "path",
            "workflow",
            "task_label",
            "data_id",
            "error_type",
            "message",
            "rule",
            "flavor",
            "action",
        ]

    def get_path(self, quantum: FailedQuantum) -> str:
        return f"{quantum.workflow.path}/{quantum.task_label}"


class ElementRefSerializer(serializers.Serializer):
    """The element an alarm or a status change is about; its path, ``url`` and ``page`` are
    null if it was deleted since."""

    level = serializers.ChoiceField(choices=LEVEL_NAMES)
    id = serializers.IntegerField()
    path = serializers.CharField(allow_null=True)
    url = serializers.URLField(allow_null=True)
    page = serializers.URLField(allow_null=True)

    def to_representation(self, instance):
        # ``instance`` is the alarm or status change: a generic relation to the element.
        level, element = instance.content_type.model, instance.element
        request = self.context.get("request")

        def absolute(path: str) -> str:
            return request.build_absolute_uri(path) if request else path

        return {
            "level": level,
            "id": instance.object_id,
            "path": path_of(element) if element else None,
            "url": absolute(detail(level, element.pk)) if element else None,
            "page": absolute(page_of(element)) if element else None,
        }


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


class AlarmSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:alarm-detail")
    page = LinkField(lambda a: reverse("monitoring:alarm", args=[a.pk]))
    plot = LinkField(
        lambda a: reverse("monitoring:alarm-plot", args=[a.pk, "json"]),
        help_text="The data of the plot behind the alarm (also .png, .svg, .pdf).",
    )
    element = ElementRefSerializer(source="*", read_only=True)
    group = serializers.HyperlinkedRelatedField(
        view_name="api:group-detail", read_only=True, allow_null=True
    )
    campaign = serializers.HyperlinkedRelatedField(
        view_name="api:campaign-detail", read_only=True, allow_null=True
    )
    open = serializers.SerializerMethodField(help_text="Not cleared yet.")
    acknowledged_by = serializers.SerializerMethodField(help_text="Who reviewed it (user name).")

    class Meta:
        model = Alarm
        fields = [
            "id",
            "url",
            "page",
            "plot",
            "severity",
            "kind",
            "message",
            "element",
            "group",
            "campaign",
            "variable",
            "algorithm",
            "value",
            "warning_limit",
            "error_limit",
            "details",
            "rules_version",
            "opened_at",
            "updated_at",
            "cleared_at",
            "open",
            "acknowledged_by",
            "acknowledged_at",
        ]

    def get_open(self, alarm: Alarm) -> bool:
        return alarm.cleared_at is None

    def get_acknowledged_by(self, alarm: Alarm) -> str | None:
        return _username(alarm.acknowledged_by)


#: The status vocabulary as the schema names it (after the levels' ``status`` fields); a
#: change's from/to refer to it, so the one choice set has one name.
STATUS_ENUM = {"$ref": "#/components/schemas/StatusEnum"}


@extend_schema_field({"allOf": [STATUS_ENUM], "nullable": True})
class FromStatusField(serializers.CharField):
    """The status before the change; null for the row that records the creation."""

    def to_representation(self, value):
        return value or None


@extend_schema_field(STATUS_ENUM)
class StatusRefField(serializers.CharField):
    """A status, as a reference to the schema's one status enum."""


class StatusChangeSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:history-detail")
    from_status = FromStatusField(read_only=True, allow_null=True)
    to_status = StatusRefField(read_only=True)
    page = LinkField(lambda c: page_of(c.element) if c.element else None, allow_null=True)
    element = ElementRefSerializer(source="*", read_only=True)
    user = serializers.SerializerMethodField(help_text="Who made the change; null for cm itself.")
    actor = serializers.CharField(read_only=True, help_text='The user name, or "cm".')

    class Meta:
        model = StatusChange
        fields = [
            "id",
            "url",
            "page",
            "element",
            "from_status",
            "to_status",
            "at",
            "user",
            "actor",
            "reason",
        ]

    def get_user(self, change: StatusChange) -> str | None:
        return _username(change.user)
