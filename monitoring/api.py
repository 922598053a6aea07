"""gen{X}Table endpoints: the pages' status tables as JSON and CSV, at ``/api/v1/tables/``.

``campaigns/`` (the overview's campaign table), ``steps/?campaign=<id>`` (a campaign's
steps), ``groups/?step=<id>`` (the step-to-group view) and ``alarms/`` give the same rows and
columns as the pages' tables, with the pages' filters and ``?sort=``: each is the page's
``monitoring.tables`` table, its per-row lookups filled from ``monitoring.queries``, read
with django-tables2's export values (no markup).

JSON (the default) is paged like every API list: ``{count, next, previous, results}``, each
row an object keyed by the column headers in column order, ``?limit=`` (50, at most 1000)
and ``?offset=``. CSV (``?format=csv`` or ``Accept: text/csv``) is a file: the header row,
then every row, or only ``?limit=`` rows from ``?offset=`` when asked; ``X-Total-Count``
says how many rows match. Errors are JSON.
"""

import csv
import io

from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.encoding import force_str
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, mixins, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from campaigns.admin.history import elements_with_paths
from campaigns.api.pagination import Pagination
from campaigns.api.serializers import StatusRefField
from campaigns.api.views import ApiSchema, Error
from campaigns.filtersets import MAX_ID, AlarmFilter, CampaignFilter, GroupFilter
from campaigns.models import Alarm, Campaign, Group, Step
from monitoring import queries
from monitoring.tables import AlarmTable, CampaignTable, GroupTable, StepTable

app_name = "tables"

#: Lookups are made for this many rows at a time (a CSV of every row stays within the
#: database's limit on query parameters).
CHUNK = 500


class CSVRenderer(BaseRenderer):
    """A table as CSV: the header row, then the rows (the pages' ``?_export=csv`` format)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(data["columns"])
        writer.writerows([row[c] for c in data["columns"]] for row in data["results"])
        return out.getvalue().encode()


class TableView(mixins.ListModelMixin, generics.GenericAPIView):
    """One page table: its rows (filtered, sorted, paged) with their lookups, as values.

    (A list view, which tells the schema to document its filters and pagination.)
    """

    table_class: type
    renderer_classes = [JSONRenderer, CSVRenderer]
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]
    schema = ApiSchema()

    def filename(self) -> str:
        raise NotImplementedError

    def rows(self) -> QuerySet:
        """The table's rows, filtered as on the page; raises 400/404 for bad parameters."""
        raise NotImplementedError

    def lookups(self, ids: list[int]) -> dict[str, dict]:
        """The table's per-row lookups for these rows (``{table attribute: {id: ...}}``)."""
        return {}

    def get(self, request, *args, **kwargs):
        ordered = self._sorted(self.rows())
        if request.accepted_renderer.format == "csv":
            return self._csv(ordered)
        _, rows = self._values(self.paginate_queryset(ordered))
        return self.get_paginated_response(rows)

    def _csv(self, ordered: QuerySet) -> Response:
        """Every row, or the slice ``?limit=`` and ``?offset=`` ask for."""
        if "limit" in self.request.query_params:
            records = self.paginate_queryset(ordered)
            count = self.paginator.count
        else:
            records = list(ordered)
            count = len(records)
        columns, rows = self._values(records)
        headers = {"Content-Disposition": f'attachment; filename="{self.filename()}.csv"'}
        if count is not None:  # a slice of a list too long to count (see Pagination)
            headers["X-Total-Count"] = str(count)
        return Response({"columns": columns, "results": rows}, headers=headers)

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors (and OPTIONS) are JSON whatever the format asked for: a CSV holds only rows.
        rows = isinstance(response.data, dict) and "results" in response.data
        if not rows and hasattr(request, "accepted_renderer"):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def _sorted(self, queryset: QuerySet) -> QuerySet:
        """The page's order: the table's default, or ``?sort=`` as on the page; then by id,
        so that pages neither repeat nor skip rows."""
        table = self.table_class(queryset)
        sort = self.request.query_params.getlist(table.prefixed_order_by_field)
        if sort:
            table.order_by = sort
        ordered = table.data.data
        fields = list(ordered.query.order_by or ordered.model._meta.ordering)
        return ordered.order_by(*fields, "pk")

    def _values(self, records: list[Model]) -> tuple[list[str], list[dict]]:
        """The column headers, and each row as ``{header: value}``: the values of the pages'
        exports, with the table's lookups filled for these rows."""
        table = self.table_class(records, orderable=False)
        found: dict[str, dict] = {}
        ids = [record.pk for record in records]
        for start in range(0, len(ids), CHUNK):
            for attribute, values in self.lookups(ids[start : start + CHUNK]).items():
                found.setdefault(attribute, {}).update(values)
        for attribute, values in found.items():
            setattr(table, attribute, values)
        header, *rows = table.as_values(exclude_columns=getattr(table, "export_exclude", ()))
        columns = [force_str(h) for h in header]
        return columns, [dict(zip(columns, row, strict=True)) for row in rows]


def _required_id(request, name: str) -> int:
    field = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    value = request.query_params.get(name)
    if value in (None, ""):
        raise ValidationError({name: ["This parameter is required."]})
    try:
        return field.run_validation(value)
    except serializers.ValidationError as error:
        raise ValidationError({name: error.detail}) from error


def _required(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.INT64, required=True, description=f"The {what}'s id (required)."
    )


FORMAT = OpenApiParameter(
    "format",
    str,
    enum=["json", "csv"],
    description="csv for a CSV file (or send Accept: text/csv); json by default.",
)


# --- What each table's rows look like (for the schema; the values come from the tables) ----


def text(**kwargs) -> serializers.CharField:
    return serializers.CharField(**kwargs)


def number(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(**kwargs)


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "maxLength": 0}]})
class AttemptValue(serializers.Field):
    """The current attempt's number, or "" when the group has none yet."""


def row_serializer(name: str, table_class: type, fields: dict[str, serializers.Field]) -> type:
    """A serializer documenting a table's row: one property per column, named by its header.

    Used only by the schema; it fails at import if the table's columns change without it.
    """
    headers = {column.name: force_str(column.header) for column in table_class([]).columns}
    if set(headers) != set(fields):
        raise ValueError(f"{name}: columns {sorted(headers)} but fields {sorted(fields)}")
    declared = {headers[column]: fields[column] for column in headers}
    return type(name, (serializers.Serializer,), {"__module__": __name__, **declared})


CampaignRow = row_serializer(
    "CampaignTableRow",
    CampaignTable,
    {
        "production": text(),
        "campaign_type": text(),
        "name": text(),
        "status": StatusRefField(),
        "step_count": number(),
        "groups": text(help_text="Groups by status, e.g. 1 reviewable, 2 running."),
        "inputs": text(help_text="Data IDs in finished groups / in all groups."),
        "quanta": text(help_text="Quanta succeeded/failed/expected."),
        "open_alarms": number(),
    },
)
StepRow = row_serializer(
    "StepTableRow",
    StepTable,
    {
        "order": number(),
        "name": text(),
        "status": StatusRefField(),
        "groups": text(),
        "inputs": text(),
        "quanta": text(),
        "prerequisites": text(help_text='Names of the steps it waits for, or "—".'),
        "output_collection": text(),
    },
)
GroupRow = row_serializer(
    "GroupTableRow",
    GroupTable,
    {
        "name": text(),
        "data_query": text(allow_null=True),
        "data_id_count": number(allow_null=True),
        "workflow": AttemptValue(),
        "started": text(),
        "updated": text(),
        "status": StatusRefField(),
        "quanta": text(),
        "datasets": number(),
        "open_alarms": number(),
        "links": text(help_text="The group's output collection."),
    },
)
AlarmRow = row_serializer(
    "AlarmTableRow",
    AlarmTable,
    {
        "severity": serializers.ChoiceField(choices=Alarm.Severity.choices),
        "kind": text(),
        "element": text(help_text="The path of the element it is about."),
        "variable": text(allow_null=True),
        "algorithm": text(allow_null=True),
        "value": text(allow_null=True),
        "limits": text(),
        "message": text(allow_null=True),
        "opened_at": text(),
        "reviewed": text(),
    },
)


def table_schema(row: type, *parameters: OpenApiParameter):
    responses = {
        (200, "application/json"): row(many=True),
        (200, "text/csv"): OpenApiTypes.STR,
        # A required parent that does not exist, or a format that does not.
        (404, "application/json"): Error,
    }
    return extend_schema(parameters=[*parameters, FORMAT], responses=responses)


# --- The tables ------------------------------------------------------------------------------


@table_schema(CampaignRow)
class CampaignTableView(TableView):
    """genCampaignTable: the overview's campaigns, filtered as on the page."""

    table_class = CampaignTable
    serializer_class = CampaignRow
    queryset = Campaign.objects.none()  # the schema's model; rows() gives the rows
    filterset_class = CampaignFilter

    def filename(self) -> str:
        return "campaigns"

    def rows(self) -> QuerySet:
        return self.filter_queryset(queries.campaigns_with_counts())

    def lookups(self, ids: list[int]) -> dict[str, dict]:
        return {
            "counts": queries.group_counts(ids),
            "data_ids": queries.data_ids("step__campaign", ids),
            "alarms": queries.open_alarms("campaign", ids),
        }


@table_schema(StepRow, _required("campaign", "campaign"))
class StepTableView(TableView):
    """genStepTable: a campaign's steps, as on the campaign's page."""

    table_class = StepTable
    serializer_class = StepRow
    queryset = Step.objects.none()
    filter_backends: list = []

    def filename(self) -> str:
        return f"{self.campaign.name}-steps"

    def rows(self) -> QuerySet:
        self.campaign = get_object_or_404(Campaign, pk=_required_id(self.request, "campaign"))
        return queries.steps_of(self.campaign)

    def lookups(self, ids: list[int]) -> dict[str, dict]:
        return {
            "counts": queries.by_status(Group, "step", ids),
            "data_ids": queries.data_ids("step", ids),
        }


@table_schema(GroupRow, _required("step", "step"))
class GroupTableView(TableView):
    """genGroupTable: a step's groups, filtered as on the step's page (the step-to-group
    view)."""

    table_class = GroupTable
    serializer_class = GroupRow
    queryset = Group.objects.none()
    filterset_class = GroupFilter

    def filename(self) -> str:
        return f"{self.step.campaign.name}-{self.step.name}-groups"

    def rows(self) -> QuerySet:
        step_id = _required_id(self.request, "step")
        self.step = get_object_or_404(Step.objects.select_related("campaign"), pk=step_id)
        return self.filter_queryset(self.step.groups.all())

    def lookups(self, ids: list[int]) -> dict[str, dict]:
        return {
            "current": queries.current_workflows(ids),
            "produced": queries.datasets_produced(ids),
            "alarms": queries.open_alarms("group", ids),
        }


class OpenByDefault(DjangoFilterBackend):
    """The alarm page's default: open alarms, unless ``?open=`` says otherwise."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        if "open" not in kwargs["data"]:
            kwargs["data"] = kwargs["data"].copy()
            kwargs["data"]["open"] = "true"
        return kwargs


@table_schema(AlarmRow)
class AlarmTableView(TableView):
    """The alarm page's table: open alarms (``?open=`` for all, ``?open=false`` for cleared
    ones), filtered by severity, kind, acknowledged, campaign, group; newest first."""

    table_class = AlarmTable
    serializer_class = AlarmRow
    queryset = Alarm.objects.none()
    filterset_class = AlarmFilter
    filter_backends = [OpenByDefault]

    def filename(self) -> str:
        return "alarms"

    def rows(self) -> QuerySet:
        alarms = Alarm.objects.select_related("acknowledged_by").prefetch_related(
            elements_with_paths()
        )
        return self.filter_queryset(alarms)


urlpatterns = [
    path("campaigns/", CampaignTableView.as_view(), name="campaigns"),
    path("steps/", StepTableView.as_view(), name="steps"),
    path("groups/", GroupTableView.as_view(), name="groups"),
    path("alarms/", AlarmTableView.as_view(), name="alarms"),
]
