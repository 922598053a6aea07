"""Actions on one element, ``/api/v1/<level>/<id>/<action>/``, and acknowledging an alarm,
``/api/v1/alarms/<id>/acknowledge/``: the views and their schema."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.api import idempotency
from campaigns.api.actions.answers import (
    ERRORS,
    IN_PROGRESS,
    Acknowledged,
    ActionConflict,
    ActionError,
    ActionStatus,
    InvalidateDone,
    LaunchAccepted,
    conflict,
    links,
    status_of,
)
from campaigns.api.actions.base import ActionView
from campaigns.api.actions.bodies import (
    AcknowledgeAction,
    InvalidateAction,
    LaunchAction,
    ReasonAction,
)
from campaigns.api.actions.levels import LEVELS, with_paths
from campaigns.api.permissions import SHIFTER
from campaigns.errors import CampaignError
from campaigns.models import Alarm, Group
from campaigns.services import actions, alarms, audit, invalidation


class ElementActionView(ActionView):
    """One action on one element: ``/api/v1/<level>/<id>/<action>/``."""

    def act(self, request, pk: int) -> Response:
        element = get_object_or_404(with_paths(self.model), pk=pk)
        return getattr(self, f"do_{self.verb}")(request, element)

    def do_launch(self, request, group: Group) -> Response:
        data = self.read(request, LaunchAction, group)
        try:
            workflow = self.launch_one(request, group, data)
        except CampaignError as error:
            return conflict(group, error)
        urls = links(request, workflow)
        return Response(
            LaunchAccepted(urls | {"status": workflow.status, "attempt": workflow.attempt}).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": urls["workflow"]},
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
            return conflict(element, error)
        return Response(ActionStatus(status_of(element)).data)

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
            return conflict(element, error)
        # A dry run moved the in-memory element before its rollback: read the status again.
        element.refresh_from_db(fields=["status"])
        body = status_of(element) | {"lines": report.lines(), **data}
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


# --- Their schema ---------------------------------------------------------------------------


ELEMENT_VERBS = {
    "launch": (LaunchAction, 202, LaunchAccepted, "Ask for the group's first attempt."),
    "retry": (LaunchAction, 202, LaunchAccepted, "Ask for a new attempt of a failed group."),
    "validate": (ReasonAction, 200, ActionStatus, "Mark it good (accepted)."),
    "invalidate": (InvalidateAction, 200, InvalidateDone, "Mark it and all under it bad."),
}


def element_view(plural: str, verb: str) -> type[APIView]:
    """The view of one action on one element of a level, with its schema."""
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
