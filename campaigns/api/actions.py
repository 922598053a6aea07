"""Actions: launch, retry, validate, invalidate (one element, or a filtered bulk) and acknowledge.

Each calls the same service as the pages, the admin and the CLI, inside
``campaigns.services.audit.audited``, so every attempt is recorded, refused or not.
A move the element's status does not allow answers 409 with the status and the
moves a person may make from it; bad input answers 400 with field errors. Launch
and retry only record the request (202, with a link to the new attempt): a worker
submits it. An ``Idempotency-Key`` header makes any of them safe to send again
(``campaigns.api.idempotency``). See docs/api.md, "Actions".
"""

from collections.abc import Mapping

import django_filters
from django.db.models import Count, Model
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import filtersets
from campaigns.api import idempotency
from campaigns.api.permissions import ADMIN, OPERATOR, SHIFTER, has_role
from campaigns.errors import CampaignError, TransitionError
from campaigns.models import Alarm, Campaign, Group, Production, Step, Workflow
from campaigns.services import actions, alarms, audit, invalidation, launch
from campaigns.states import Status, allowed_moves

BULK_LIMIT = 1000
LAUNCHES = ("launch", "retry")
LEVELS: dict[str, type[Model]] = {
    "productions": Production,
    "campaigns": Campaign,
    "steps": Step,
    "groups": Group,
}
FILTERSETS: dict[type[Model], type[django_filters.FilterSet]] = {
    Production: filtersets.ProductionFilter,
    Campaign: filtersets.CampaignFilter,
    Step: filtersets.StepFilter,
    Group: filtersets.GroupFilter,
}
# What each level's path reads, so a selection costs one query however long.
PATH_RELATED: dict[type[Model], tuple[str, ...]] = {
    Production: (),
    Campaign: ("production",),
    Step: ("campaign__production",),
    Group: ("step__campaign__production",),
}
# A level's children and their link to it: validating needs them all accepted or rejected.
CHILDREN: dict[type[Model], tuple[type[Model], str]] = {
    Production: (Campaign, "production"),
    Campaign: (Step, "campaign"),
    Step: (Group, "step"),
}


# --- Request bodies ------------------------------------------------------------------------


class StrictBody(serializers.Serializer):
    """A request body: a field cm does not know is an error, never silently ignored."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            unknown = {_printable(n): ["unknown field"] for n in data if n not in self.fields}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            raise serializers.ValidationError(unknown | dict(error.detail)) from error
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class ReasonAction(StrictBody):
    reason = serializers.CharField(
        max_length=500, help_text="Why: kept in the element's history and the audit trail."
    )


class LaunchAction(ReasonAction):
    overrides = serializers.DictField(
        required=False,
        default=dict,
        help_text='BPS settings for this attempt only, e.g. {"requestMemory": 8192}.',
    )

    def validate_overrides(self, value: dict) -> dict:
        if any(not str(key).strip() for key in value):
            raise serializers.ValidationError("keys are BPS setting names, e.g. requestMemory")
        _check_text(value)
        return value


class InvalidateAction(ReasonAction):
    purge = serializers.BooleanField(
        default=False,
        help_text="Also delete the RUN collections no other chain needs (admin role).",
    )
    dry_run = serializers.BooleanField(default=False, help_text="Say what; change nothing.")


class AcknowledgeAction(StrictBody):
    """No fields: acknowledging says only who and when."""


class BulkAction(ReasonAction):
    dry_run = serializers.BooleanField(
        default=False, help_text="List what would be done and whether each move is legal now."
    )


class BulkLaunchAction(LaunchAction, BulkAction):
    pass


class BulkInvalidateAction(InvalidateAction):
    pass


# --- Answers -------------------------------------------------------------------------------


class LaunchAccepted(serializers.Serializer):
    workflow = serializers.URLField(help_text="The new attempt in the API: follow it.")
    page = serializers.URLField(help_text="The new attempt's page.")
    status = serializers.CharField(help_text="launch_requested: a worker submits it.")
    attempt = serializers.IntegerField()


class ActionStatus(serializers.Serializer):
    id = serializers.IntegerField()
    path = serializers.CharField()
    status = serializers.CharField(help_text="The element's status now.")


class InvalidateDone(ActionStatus):
    dry_run = serializers.BooleanField()
    purge = serializers.BooleanField()
    lines = serializers.ListField(
        child=serializers.CharField(),
        help_text="What was (for a dry run: would be) done: rejections, chains, RUNs.",
    )


class Acknowledged(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    acknowledged_at = serializers.DateTimeField()
    acknowledged_by = serializers.CharField()
    newly_acknowledged = serializers.BooleanField(
        help_text="False if someone had acknowledged it already (nothing changed)."
    )


class ActionRefusal(serializers.Serializer):
    path = serializers.CharField()
    current_status = serializers.CharField()
    target = serializers.CharField()
    allowed = serializers.ListField(child=serializers.CharField())


class ActionConflict(serializers.Serializer):
    detail = serializers.CharField()
    current_status = serializers.CharField(
        required=False, allow_null=True, help_text="The element's status now (one element)."
    )
    allowed = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="The statuses a person may move it to from there.",
    )
    refused = ActionRefusal(many=True, required=False, help_text="Each illegal move, if known.")


class ActionError(serializers.Serializer):
    detail = serializers.CharField()


class BulkActionItem(serializers.Serializer):
    id = serializers.IntegerField()
    path = serializers.CharField()
    status = serializers.CharField(help_text="Before a dry run; after an executed action.")
    legal = serializers.BooleanField(
        help_text="Dry run: whether the move is allowed now. Launch, retry: whether it was done."
    )
    detail = serializers.CharField(allow_blank=True, help_text="Why not, if not.")
    workflow = serializers.URLField(allow_null=True, help_text="Launch, retry: the new attempt.")
    page = serializers.URLField(allow_null=True)


class BulkActionDone(serializers.Serializer):
    action = serializers.CharField()
    dry_run = serializers.BooleanField()
    count = serializers.IntegerField(help_text="Elements the filters selected.")
    done = serializers.IntegerField(help_text="Elements changed (0 for a dry run).")
    elements = BulkActionItem(many=True)
    lines = serializers.ListField(
        child=serializers.CharField(), help_text="Invalidate: the report, as for one element."
    )


# --- The views -----------------------------------------------------------------------------


class ActionView(APIView):
    """What every action endpoint shares: its role, its JSON body, its audit."""

    required_role = OPERATOR
    parser_classes = [JSONParser]
    verb = ""
    model: type[Model] = Group

    def handle_exception(self, exc):
        # Malformed JSON answers like any other bad input: field errors.
        if isinstance(exc, ParseError):
            exc = serializers.ValidationError({"non_field_errors": [str(exc.detail)]})
        return super().handle_exception(exc)

    def read(self, request, serializer_class, elements) -> dict:
        """The validated body; bad input is recorded (refused, 400) and answered 400."""
        serializer = serializer_class(data=request.data)
        if not serializer.is_valid():
            self.refuse(request, elements, 400, _errors_text(serializer.errors))
            raise serializers.ValidationError(serializer.errors)
        return dict(serializer.validated_data)

    def refuse(self, request, elements, http_status: int, message: str, **parameters) -> None:
        """Record an attempt refused before any service ran."""
        audit.record(
            self.verb,
            elements,
            user=request.user,
            via=audit.Via.API,
            result=audit.Result.REFUSED,
            http_status=http_status,
            message=message,
            parameters=parameters,
            idempotency_key=request.headers.get(idempotency.HEADER, ""),
            level=self.model._meta.model_name or "",
        )

    def audited(self, request, elements, parameters: dict, *, atomic: bool = True):
        return audit.audited(
            self.verb,
            elements,
            user=request.user,
            via=audit.Via.API,
            parameters=parameters,
            idempotency_key=request.headers.get(idempotency.HEADER, ""),
            atomic=atomic,
        )

    def check_purge(self, request, elements, data: dict) -> None:
        """Deleting data needs the admin role; a dry run of it does not (it deletes nothing)."""
        if data.get("purge") and not data.get("dry_run") and not has_role(request.user, ADMIN):
            message = "purging data needs the admin role"
            self.refuse(request, elements, 403, message, **data)
            raise PermissionDenied(message)

    def launch_one(self, request, group: Group, data: dict) -> Workflow:
        """Request a launch (or retry) of one group, audited; CampaignError if refused."""
        parameters = {k: data[k] for k in ("reason", "overrides", "filters") if k in data}
        # All database: the request and its audit entry commit together.
        with self.audited(request, group, parameters) as outcome:
            _check_launchable(self.verb, group)
            workflow = launch.request_launch(
                group, user=request.user, reason=data["reason"], overrides=data["overrides"]
            )
            outcome.http_status = status.HTTP_202_ACCEPTED
            outcome.parameters = {"workflow": workflow.pk, "attempt": workflow.attempt}
            outcome.message = f"attempt {workflow.attempt} requested; a worker submits it"
        return workflow


class ElementActionView(ActionView):
    """One action on one element: ``/api/v1/<level>/<id>/<action>/``."""

    def act(self, request, pk: int) -> Response:
        element = get_object_or_404(_with_paths(self.model), pk=pk)
        return getattr(self, f"do_{self.verb}")(request, element)

    def do_launch(self, request, group: Group) -> Response:
        data = self.read(request, LaunchAction, group)
        try:
            workflow = self.launch_one(request, group, data)
        except CampaignError as error:
            return _conflict(group, error)
        links = _links(request, workflow)
        return Response(
            LaunchAccepted(links | {"status": workflow.status, "attempt": workflow.attempt}).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": links["workflow"]},
        )

    do_retry = do_launch

    def do_validate(self, request, element) -> Response:
        data = self.read(request, ReasonAction, element)
        try:
            # Validating commits, then updates the butler, which no rollback would undo.
            with self.audited(request, element, data, atomic=False) as outcome:
                actions.validate(element, user=request.user, reason=data["reason"])
                outcome.http_status = status.HTTP_200_OK
        except CampaignError as error:
            return _conflict(element, error)
        return Response(ActionStatus(_status_of(element)).data)

    def do_invalidate(self, request, element) -> Response:
        data = self.read(request, InvalidateAction, element)
        self.check_purge(request, element, data)
        try:
            with self.audited(request, element, data, atomic=False) as outcome:
                report = invalidation.invalidate(
                    element,
                    user=request.user,
                    reason=data["reason"],
                    purge=data["purge"],
                    execute=not data["dry_run"],
                )
                outcome.http_status = status.HTTP_200_OK
                outcome.message = "\n".join(report.lines())
                if data["dry_run"]:
                    outcome.result = audit.Result.DRY_RUN
        except CampaignError as error:
            return _conflict(element, error)
        # A dry run moved the in-memory element before its rollback: read the status again.
        element.refresh_from_db(fields=["status"])
        body = _status_of(element) | {"lines": report.lines(), **data}
        return Response(InvalidateDone(body).data)


class AcknowledgeView(ActionView):
    """``/api/v1/alarms/<id>/acknowledge/``: a shifter has seen the alarm."""

    required_role = SHIFTER
    verb = "acknowledge"
    model = Alarm

    def act(self, request, pk: int) -> Response:
        alarm = get_object_or_404(Alarm, pk=pk)
        # The entry goes to the alarm's element, so the element's page lists it.
        elements = [alarm.element] if alarm.element is not None else []
        self.read(request, AcknowledgeAction, elements)
        with self.audited(request, elements, {"alarm": alarm.pk, "kind": alarm.kind}) as outcome:
            newly = alarms.acknowledge([alarm], user=request.user)
            outcome.http_status = status.HTTP_200_OK
            outcome.message = "acknowledged" if newly else "was already acknowledged"
        alarm.refresh_from_db()
        who = alarm.acknowledged_by
        body = {
            "id": alarm.pk,
            "kind": alarm.kind,
            "acknowledged_at": alarm.acknowledged_at,
            "acknowledged_by": who.get_username() if who is not None else "",
            "newly_acknowledged": bool(newly),
        }
        return Response(Acknowledged(body).data)


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
            _printable(key): [f"unknown filter; known: {', '.join(known)}"]
            for key in request.query_params
            if key not in known
        }
        if not request.query_params:
            errors["filters"] = [f"a bulk action needs at least one filter choosing the {plural}"]
        found = filterset_class(request.query_params, queryset=_with_paths(self.model))
        if not errors and not found.is_valid():
            errors = {key: list(messages) for key, messages in found.errors.items()}
        elements = [] if errors else list(found.qs.order_by("pk")[: BULK_LIMIT + 1])
        if not errors and not elements:
            errors["filters"] = [f"no {self.model._meta.verbose_name} matches these filters"]
        if len(elements) > BULK_LIMIT:
            errors["filters"] = [f"more than {BULK_LIMIT} {plural} match: narrow the filters"]
        if errors:
            self.refuse(request, [], 400, _errors_text(errors), **data)
            raise serializers.ValidationError(errors)
        return elements

    def preview(self, request, elements: list, data: dict) -> Response:
        why = _why_not(self.verb, self.model, elements)
        lines: list[str] = []
        if self.verb == "invalidate" and not any(why.values()):
            lines = _invalidation_preview(request.user, elements, data, why)
        items = [_item(e, legal=not why[e.pk], detail=why[e.pk]) for e in elements]
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
                items.append(_item(group, legal=False, detail=str(error)))
                continue
            done += 1
            items.append(_item(group, legal=True, detail="", **_links(request, workflow)))
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
            return _conflict(None, error)
        items = [_item(e, legal=True, detail="") for e in elements]
        return Response(BulkActionDone(self.answer(items, len(elements), data, lines)).data)

    def answer(self, items: list[dict], done: int, data: dict, lines: list[str]) -> dict:
        return {
            "action": self.verb,
            "dry_run": data["dry_run"],
            "count": len(items),
            "done": done,
            "elements": items,
            "lines": lines,
        }


# --- Rules and answers the views share ----------------------------------------------------


def _with_paths(model: type[Model]):
    related = PATH_RELATED[model]
    manager = model._default_manager
    return manager.select_related(*related) if related else manager.all()


def _status_of(element) -> dict:
    return {"id": element.pk, "path": element.path, "status": element.status}


def _item(element, *, legal: bool, detail: str, workflow=None, page=None) -> dict:
    extra = {"legal": legal, "detail": detail, "workflow": workflow, "page": page}
    return _status_of(element) | extra


def _links(request, workflow: Workflow) -> dict:
    # The read API's router is mounted at the root of this URLconf (api-root).
    api = reverse("api:api-root") + f"workflows/{workflow.pk}/"
    page = reverse("monitoring:workflow", args=[workflow.pk])
    return {"workflow": request.build_absolute_uri(api), "page": request.build_absolute_uri(page)}


def _manual_moves(current: str) -> list[str]:
    return [t for t, move in allowed_moves(current).items() if move.actor.allows(manual=True)]


def _conflict(element: Model | None, error: CampaignError) -> Response:
    """409: why, the element's status now (read again: a race may have moved it) and the
    moves a person may make from it; each illegal move for a TransitionError."""
    body: dict = {"detail": str(error)}
    if element is not None:
        now = type(element)._default_manager.filter(pk=element.pk).values_list("status", flat=True)
        body["current_status"] = now.first()
        body["allowed"] = _manual_moves(body["current_status"]) if body["current_status"] else []
    if isinstance(error, TransitionError):
        body["refused"] = [
            {"path": _path_of(p), "current_status": c, "target": t, "allowed": list(a)}
            for p, c, t, a in error.refused
        ]
    return Response(ActionConflict(body).data, status=status.HTTP_409_CONFLICT)


def _path_of(described: str) -> str:
    # The services describe an element as "<level> <path>".
    return described.split(" ", 1)[-1]


def _check_launchable(verb: str, group: Group) -> None:
    if verb == "launch" and group.status != Status.READY:
        raise CampaignError(f"{group.path} is {group.status}: only ready groups are launched")
    if verb == "retry" and group.status not in launch.RETRYABLE:
        raise CampaignError(
            f"{group.path} is {group.status}: only failed or reviewable groups are retried"
        )


def _why_not(verb: str, model: type[Model], elements: list) -> dict[int, str]:
    """For each element, why the action would be refused now ("" if it would not)."""
    unsettled = _unsettled_children(model, elements) if verb == "validate" else {}
    why = {}
    for element in elements:
        try:
            if verb in LAUNCHES:
                _check_launchable(verb, element)
            elif verb == "validate" and unsettled.get(element.pk):
                raise CampaignError(f"{unsettled[element.pk]} children not accepted or rejected")
            elif verb == "validate":
                _check_manual_move(element, Status.ACCEPTED)
            elif element.status not in (Status.REJECTED, Status.SUPERSEDED):
                _check_manual_move(element, Status.REJECTED)
            why[element.pk] = ""
        except CampaignError as error:
            why[element.pk] = str(error)
    return why


def _check_manual_move(element, target: Status) -> None:
    if target.value not in _manual_moves(element.status):
        allowed = ", ".join(_manual_moves(element.status)) or "none"
        raise CampaignError(f"cannot go from {element.status} to {target} (allowed: {allowed})")


def _unsettled_children(model: type[Model], elements: list) -> dict[int, int]:
    """How many children of each element are neither accepted nor rejected (one query)."""
    if model not in CHILDREN:
        return {}
    child, parent = CHILDREN[model]
    rows = (
        child._default_manager.filter(**{f"{parent}__in": [e.pk for e in elements]})
        .exclude(status__in=[Status.ACCEPTED, Status.REJECTED])
        .values(parent)
        .annotate(n=Count("pk"))
    )
    return {row[parent]: row["n"] for row in rows}


def _invalidation_preview(user, elements: list, data: dict, why: dict[int, str]) -> list[str]:
    """The service's own dry run; a refusal deeper down marks the element it lies under."""
    try:
        report = invalidation.invalidate(
            elements, user=user, reason=data["reason"], purge=data["purge"], execute=False
        )
    except TransitionError as error:
        by_path = {e.path: e for e in elements}
        blocked: dict[int, list[str]] = {}
        for described, current, _, _ in error.refused:
            refused = _path_of(described)
            parts = refused.split("/")
            # The nearest selected element at or above the refused one.
            for depth in range(len(parts), 0, -1):
                element = by_path.get("/".join(parts[:depth]))
                if element is not None:
                    blocked.setdefault(element.pk, []).append(f"{refused} is {current}")
                    break
        for pk, reasons in blocked.items():
            why[pk] = "; ".join(reasons) + ": it cannot be rejected"
        return []
    except CampaignError as error:
        why.update(dict.fromkeys(why, str(error)))
        return []
    return report.lines()


def _check_text(value) -> None:
    """JSON the database can store: no NUL characters, no unpaired surrogates."""
    if isinstance(value, str) and not _storable(value):
        raise serializers.ValidationError("text may not hold NUL or unpaired surrogates")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _printable(name) -> str:
    text = str(name)
    return text if text.isprintable() else repr(text)


def _errors_text(errors: Mapping) -> str:
    return "; ".join(
        f"{field}: {' '.join(str(m) for m in messages)}"
        if isinstance(messages, list)
        else f"{field}: {messages}"
        for field, messages in errors.items()
    )


# --- Routes and their schema -------------------------------------------------------------


IN_PROGRESS = "or a request with this Idempotency-Key is still in progress (detail only)"
ERRORS = {
    400: OpenApiResponse(
        {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "example": {"reason": ["This field is required."]},
        },
        description="Bad input: each field (or filter, or non_field_errors) with its messages.",
    ),
    401: OpenApiResponse(ActionError, description="No token (or session), or a bad one."),
    403: OpenApiResponse(ActionError, description="Your role does not allow this."),
    415: OpenApiResponse(ActionError, description="The body is not JSON."),
    422: OpenApiResponse(ActionError, description="That Idempotency-Key was for another request."),
}


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


ELEMENT_VERBS = {
    "launch": (LaunchAction, 202, LaunchAccepted, "Ask for the group's first attempt."),
    "retry": (LaunchAction, 202, LaunchAccepted, "Ask for a new attempt of a failed group."),
    "validate": (ReasonAction, 200, ActionStatus, "Mark it good (accepted)."),
    "invalidate": (InvalidateAction, 200, InvalidateDone, "Mark it and all under it bad."),
}


def _element_view(plural: str, verb: str) -> type[APIView]:
    body, ok, answer, summary = ELEMENT_VERBS[verb]
    model = LEVELS[plural]
    responses = {
        ok: OpenApiResponse(answer, description=summary),
        404: OpenApiResponse(ActionError, description=f"No such {model._meta.verbose_name}."),
        409: OpenApiResponse(ActionConflict, description=f"Its status forbids it; {IN_PROGRESS}."),
        **ERRORS,
    }

    @extend_schema(
        operation_id=f"{plural}_{verb}",
        summary=f"{verb.title()} a {model._meta.verbose_name}",
        description=summary,
        tags=["actions"],
        request=body,
        responses=responses,
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH),
            idempotency.PARAMETER,
        ],
    )
    @idempotency.idempotent
    def post(self, request, id: int):
        return self.act(request, id)

    name = f"{model.__name__}{verb.title()}"
    return type(name, (ElementActionView,), {"model": model, "verb": verb, "post": post})


def _bulk_view(plural: str, verb: str) -> type[APIView]:
    model = LEVELS[plural]
    body = {"launch": BulkLaunchAction, "retry": BulkLaunchAction}.get(verb, BulkAction)
    body = BulkInvalidateAction if verb == "invalidate" else body
    conflict = ActionConflict
    responses = {200: OpenApiResponse(BulkActionDone, description="Done (dry run: what would be).")}
    if verb in LAUNCHES:
        responses[202] = OpenApiResponse(BulkActionDone, description="Requested, for some or all.")
        conflict = PolymorphicProxySerializer(
            component_name="BulkLaunchConflict",
            serializers=[BulkActionDone, ActionError],
            resource_type_field_name=None,
        )
    responses[409] = OpenApiResponse(conflict, description=f"Refused; nothing done; {IN_PROGRESS}.")

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


class AlarmAcknowledge(AcknowledgeView):
    @extend_schema(
        operation_id="alarms_acknowledge",
        summary="Acknowledge an alarm",
        tags=["actions"],
        request=AcknowledgeAction,
        responses={
            200: Acknowledged,
            404: OpenApiResponse(ActionError, description="No such alarm."),
            409: OpenApiResponse(ActionError, description=IN_PROGRESS),
            **ERRORS,
        },
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH),
            idempotency.PARAMETER,
        ],
    )
    @idempotency.idempotent
    def post(self, request, id: int):
        return self.act(request, id)


def _routes() -> list:
    routes = []
    for plural in LEVELS:
        verbs = [*LAUNCHES, "validate", "invalidate"] if plural == "groups" else []
        verbs = verbs or ["validate", "invalidate"]
        for verb in verbs:
            view = _element_view(plural, verb).as_view()
            routes.append(path(f"{plural}/<int:id>/{verb}/", view, name=f"{plural}-{verb}"))
        if plural != "productions":  # a bulk of productions is one too many to want
            for verb in verbs:
                view = _bulk_view(plural, verb).as_view()
                routes.append(path(f"{plural}/bulk/{verb}/", view, name=f"{plural}-bulk-{verb}"))
    view = AlarmAcknowledge.as_view()
    routes.append(path("alarms/<int:id>/acknowledge/", view, name="alarms-acknowledge"))
    return routes


urlpatterns = _routes()
