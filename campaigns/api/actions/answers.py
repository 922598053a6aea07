"""What the actions answer: their response bodies, the 409 for a move the status forbids,
and the error answers every action's schema lists."""

from django.db.models import Model
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.response import Response

from campaigns.api.actions.rules import manual_moves, path_of
from campaigns.errors import CampaignError, TransitionError
from campaigns.models import Workflow


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


# --- The error answers in the schema ----------------------------------------------------------


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


# --- Building the answers ---------------------------------------------------------------------


def status_of(element) -> dict:
    """An element as the answers name it: id, path and status."""
    return {"id": element.pk, "path": element.path, "status": element.status}


def item(element, *, legal: bool, detail: str, workflow=None, page=None) -> dict:
    """One element of a bulk answer (``BulkActionItem``)."""
    extra = {"legal": legal, "detail": detail, "workflow": workflow, "page": page}
    return status_of(element) | extra


def links(request, workflow: Workflow) -> dict:
    """Absolute links to a new attempt: in the API and its page."""
    # The read API's router is mounted at the root of this URLconf (api-root).
    api = reverse("api:api-root") + f"workflows/{workflow.pk}/"
    page = reverse("monitoring:workflow", args=[workflow.pk])
    return {"workflow": request.build_absolute_uri(api), "page": request.build_absolute_uri(page)}


def conflict(element: Model | None, error: CampaignError) -> Response:
    """409: why, the element's status now (read again: a race may have moved it) and the
    moves a person may make from it; each illegal move for a TransitionError."""
    body: dict = {"detail": str(error)}
    if element is not None:
        now = type(element)._default_manager.filter(pk=element.pk).values_list("status", flat=True)
        body["current_status"] = now.first()
        body["allowed"] = manual_moves(body["current_status"]) if body["current_status"] else []
    if isinstance(error, TransitionError):
        body["refused"] = [
            {"path": path_of(p), "current_status": c, "target": t, "allowed": list(a)}
            for p, c, t, a in error.refused
        ]
    return Response(ActionConflict(body).data, status=status.HTTP_409_CONFLICT)
