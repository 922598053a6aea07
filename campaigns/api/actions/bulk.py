"""Actions on the elements a level's filters select, ``/api/v1/<level>/bulk/<action>/?...``:
the selection, the dry run, the views and their schema.

The query string is the level's FilterSet, as on its page and in the read API. Launch and
retry act on each group alone (some may be refused); validate and invalidate are one service
call, so every element moves or none does.
"""

import django_filters
from django.db.models import Model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import filtersets
from campaigns.api import idempotency
from campaigns.api.actions.answers import (
    ERRORS,
    IN_PROGRESS,
    ActionConflict,
    ActionError,
    BulkActionDone,
    conflict,
    item,
    links,
)
from campaigns.api.actions.base import ActionView
from campaigns.api.actions.bodies import (
    BulkAction,
    BulkInvalidateAction,
    BulkLaunchAction,
    errors_text,
    printable,
)
from campaigns.api.actions.levels import LEVELS, with_paths
from campaigns.api.actions.rules import LAUNCHES, invalidation_preview, why_not
from campaigns.errors import CampaignError
from campaigns.models import Campaign, Group, Production, Step
from campaigns.services import actions, audit, invalidation
from campaigns.states import Status

BULK_LIMIT = 1000
FILTERSETS: dict[type[Model], type[django_filters.FilterSet]] = {
    Production: filtersets.ProductionFilter,
    Campaign: filtersets.CampaignFilter,
    Step: filtersets.StepFilter,
    Group: filtersets.GroupFilter,
}


class BulkView(ActionView):
    """One action on the elements the level's FilterSet selects from the query string."""

    body = BulkAction

    def act(self, request) -> Response:
        data = self.read(request, self.body, [])
        data["filters"] = request.META.get("QUERY_STRING", "")  # percent-encoded, as sent
        elements = self.select(request, data)
        self.check_purge(request, elements, data)
        if data["dry_run"]:
            return self.preview(request, elements, data)
        if self.verb in LAUNCHES:
            return self.launch_each(request, elements, data)
        return self.all_at_once(request, elements, data)

    def select(self, request, data: dict) -> list:
        """The selected elements; 400 for unknown or bad filters, none, none matching, too many."""
        filterset_class = FILTERSETS[self.model]
        known = filterset_class.base_filters
        plural = self.model._meta.verbose_name_plural
        errors = {
            printable(key): [f"unknown filter; known: {', '.join(known)}"]
            for key in request.query_params
            if key not in known
        }
        if not request.query_params:
            errors["filters"] = [f"a bulk action needs at least one filter choosing the {plural}"]
        found = filterset_class(request.query_params, queryset=with_paths(self.model))
        if not errors and not found.is_valid():
            errors = {key: list(messages) for key, messages in found.errors.items()}
        elements = [] if errors else list(found.qs.order_by("pk")[: BULK_LIMIT + 1])
        if not errors and not elements:
            errors["filters"] = [f"no {self.model._meta.verbose_name} matches these filters"]
        if len(elements) > BULK_LIMIT:
            errors["filters"] = [f"more than {BULK_LIMIT} {plural} match: narrow the filters"]
        if errors:
            self.refuse(request, [], 400, errors_text(errors), **data)
            raise serializers.ValidationError(errors)
        return elements

    def preview(self, request, elements: list, data: dict) -> Response:
        """The dry run: whether each move is legal now; changes nothing, but is audited."""
        why = why_not(self.verb, self.model, elements)
        lines: list[str] = []
        if self.verb == "invalidate" and not any(why.values()):
            lines = invalidation_preview(request.user, elements, data, why)
        items = [item(e, legal=not why[e.pk], detail=why[e.pk]) for e in elements]
        audit.record(
            self.verb,
            elements,
            user=request.user,
            via=audit.Via.API,
            result=audit.Result.DRY_RUN,
            http_status=200,
            message=f"{sum(not w for w in why.values())} of {len(elements)} legal now",
            parameters=data,
            idempotency_key=request.headers.get(idempotency.HEADER, ""),
        )
        return Response(BulkActionDone(self.answer(items, 0, data, lines)).data)

    def launch_each(self, request, groups: list[Group], data: dict) -> Response:
        """Each group on its own: some may be refused while the others go ahead."""
        items, done = [], 0
        for group in groups:
            try:
                workflow = self.launch_one(request, group, data)
            except CampaignError as error:
                items.append(item(group, legal=False, detail=str(error)))
                continue
            done += 1
            items.append(item(group, legal=True, detail="", **links(request, workflow)))
        answer = status.HTTP_202_ACCEPTED if done else status.HTTP_409_CONFLICT
        return Response(BulkActionDone(self.answer(items, done, data, [])).data, status=answer)

    def all_at_once(self, request, elements: list, data: dict) -> Response:
        """One service call: every element moves, or none (the services check all first)."""
        lines: list[str] = []
        try:
            with self.audited(request, elements, data, atomic=False) as outcome:
                if self.verb == "validate":
                    actions.validate(elements, user=request.user, reason=data["reason"])
                else:
                    report = invalidation.invalidate(
                        elements, user=request.user, reason=data["reason"], purge=data["purge"]
                    )
                    lines = report.lines()
                    outcome.message = "\n".join(lines)
                outcome.http_status = status.HTTP_200_OK
        except CampaignError as error:
            return conflict(None, error)
        items = [item(e, legal=True, detail="") for e in elements]
        return Response(BulkActionDone(self.answer(items, len(elements), data, lines)).data)

    def answer(self, items: list[dict], done: int, data: dict, lines: list[str]) -> dict:
        """The body of a ``BulkActionDone``."""
        return {
            "action": self.verb,
            "dry_run": data["dry_run"],
            "count": len(items),
            "done": done,
            "elements": items,
            "lines": lines,
        }


# --- Their schema ---------------------------------------------------------------------------


def _filter_parameters(model: type[Model]) -> list[OpenApiParameter]:
    """The level's FilterSet as the query parameters of its bulk actions."""
    types = [
        (django_filters.NumberFilter, OpenApiTypes.INT),
        (django_filters.BooleanFilter, OpenApiTypes.BOOL),
        (django_filters.DateTimeFilter, OpenApiTypes.DATETIME),
    ]
    parameters = []
    for name, flt in FILTERSETS[model].base_filters.items():
        kind = next((t for cls, t in types if isinstance(flt, cls)), OpenApiTypes.STR)
        many = isinstance(flt, django_filters.MultipleChoiceFilter)
        parameters.append(
            OpenApiParameter(
                name,
                kind,
                OpenApiParameter.QUERY,
                description=str(flt.label or name),
                many=many,
                enum=[value for value, _ in Status.choices] if name == "status" else None,
            )
        )
    return parameters


def bulk_view(plural: str, verb: str) -> type[APIView]:
    """The view of one action on the filtered elements of a level, with its schema."""
    model = LEVELS[plural]
    body = {"launch": BulkLaunchAction, "retry": BulkLaunchAction}.get(verb, BulkAction)
    body = BulkInvalidateAction if verb == "invalidate" else body
    refused = ActionConflict
    responses = {200: OpenApiResponse(BulkActionDone, description="Done (dry run: what would be).")}
    if verb in LAUNCHES:
        responses[202] = OpenApiResponse(BulkActionDone, description="Requested, for some or all.")
        # Refused for every group: the usual bulk body; a repeat still in progress: a detail.
        refused = PolymorphicProxySerializer(
            component_name="BulkLaunchConflict",
            serializers=[BulkActionDone, ActionError],
            resource_type_field_name=None,
        )
    responses[409] = OpenApiResponse(refused, description=f"Refused; nothing done; {IN_PROGRESS}.")

    @extend_schema(
        operation_id=f"{plural}_bulk_{verb}",
        summary=f"{verb.title()} the {model._meta.verbose_name_plural} the filters select",
        description=f"At least one filter; at most {BULK_LIMIT} matches.",
        tags=["actions"],
        request=body,
        responses=responses | ERRORS,
        parameters=[*_filter_parameters(model), idempotency.PARAMETER],
    )
    @idempotency.idempotent
    def post(self, request):
        return self.act(request)

    name = f"{model.__name__}Bulk{verb.title()}"
    attributes = {"model": model, "verb": verb, "body": body, "post": post}
    return type(name, (BulkView,), attributes)
