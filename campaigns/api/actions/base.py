"""What every action endpoint shares: its role, its JSON body, its audit, and the launch of
one group (done alone, or once per group of a bulk launch)."""

from django.db.models import Model
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied
from rest_framework.parsers import JSONParser
from rest_framework.views import APIView

from campaigns.api import idempotency
from campaigns.api.actions.bodies import errors_text
from campaigns.api.actions.rules import check_launchable
from campaigns.api.permissions import ADMIN, OPERATOR, has_role
from campaigns.models import Group, Workflow
from campaigns.services import audit, launch


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
            self.refuse(request, elements, 400, errors_text(serializer.errors))
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
        """``audit.audited`` for this action, sent through the API by this request's user."""
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
            check_launchable(self.verb, group)
            workflow = launch.request_launch(
                group, user=request.user, reason=data["reason"], overrides=data["overrides"]
            )
            outcome.http_status = status.HTTP_202_ACCEPTED
            outcome.parameters = {"workflow": workflow.pk, "attempt": workflow.attempt}
            outcome.message = f"attempt {workflow.attempt} requested; a worker submits it"
        return workflow
