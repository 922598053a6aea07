"""The audit trail: every action a person takes on an element, refused or not, and through where.

The API, the pages' buttons and acknowledge run their action inside ``audited``.
When the action succeeds its entries are written in the action's own transaction
(``atomic=True``), so the change and its record commit together; when it is
refused (a ``CampaignError``) or fails, the action's transaction is rolled back
first and the entries are written in a transaction of their own. ``record``
writes entries for what never reached a service (bad input, a missing role).

Validate and invalidate commit their status changes before they update the
butler, which is not to be undone by a rollback: they run with ``atomic=False``
and their entry is written just after them. If such an action fails after its
change was committed, the entry says ``error``, not ``refused``.
"""

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from campaigns.errors import CampaignError
from campaigns.models import AuditEntry

logger = logging.getLogger(__name__)

Via = AuditEntry.Via
Result = AuditEntry.Result
# How the API answers a domain error and any other (campaigns/api/actions/), kept with them.
_API_CONFLICT, _API_FAILURE = 409, 500

Person = User | AnonymousUser | None


@dataclass
class Outcome:
    """What the audited block says about an action that went through; ``audited`` writes it."""

    result: str = Result.OK
    message: str = ""
    http_status: int | None = None
    # Added to the action's parameters, e.g. the attempt a launch made.
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Target:
    content_type: ContentType | None
    object_id: int | None
    path: str
    level: str
    status: str | None  # before the action


@contextmanager
def audited(
    action: str,
    elements: models.Model | Iterable[models.Model],
    *,
    user: Person,
    via: str,
    parameters: dict[str, Any] | None = None,
    idempotency_key: str = "",
    atomic: bool = True,
    level: str = "",
) -> Iterator[Outcome]:
    """Run the block as ``action`` on ``elements`` and record it, one entry per element.

    The block may set the yielded ``Outcome`` (a dry run, a message, the HTTP status).
    A ``CampaignError`` is recorded as refused, anything else as an error; either is
    raised again for the caller to answer.
    """
    targets = _targets(elements, level)
    fields: dict[str, Any] = {
        "action": action,
        "user": user,
        "via": via,
        "idempotency_key": idempotency_key,
    }
    outcome = Outcome()
    try:
        with transaction.atomic() if atomic else nullcontext():
            yield outcome
            if atomic:
                _write(targets, outcome, parameters, **fields)
    except CampaignError as error:
        # Without our transaction the service may have committed before it failed (say, the
        # butler after validate): that is not a refusal, whatever the error's class.
        refused = atomic or not _changed(targets)
        _write_failure(
            targets, Result.REFUSED if refused else Result.ERROR, error, parameters, **fields
        )
        raise
    except Exception as error:
        _write_failure(targets, Result.ERROR, error, parameters, **fields)
        raise
    if not atomic:
        _write(targets, outcome, parameters, **fields)


def record(
    action: str,
    elements: models.Model | Iterable[models.Model],
    *,
    user: Person,
    via: str,
    result: str,
    parameters: dict[str, Any] | None = None,
    message: str = "",
    http_status: int | None = None,
    idempotency_key: str = "",
    level: str = "",
) -> list[AuditEntry]:
    """Record an action outright (e.g. refused before any service ran); one INSERT."""
    outcome = Outcome(result=result, message=message, http_status=http_status)
    return _write(
        _targets(elements, level),
        outcome,
        parameters,
        action=action,
        user=user,
        via=via,
        idempotency_key=idempotency_key,
    )


def latest(element: models.Model, limit: int = 20) -> list[AuditEntry]:
    """The element's newest entries, for its page (one query)."""
    return list(
        AuditEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(type(element)), object_id=element.pk
        )
        .select_related("user")
        .order_by("-at", "-id")[:limit]
    )


def _targets(elements: models.Model | Iterable[models.Model], level: str) -> list[_Target]:
    # Paths are read now, before the action: a refusal is recorded after a rollback.
    batch = [elements] if isinstance(elements, models.Model) else list(elements)
    if not batch:
        return [_Target(None, None, "", level, None)]
    types = ContentType.objects.get_for_models(*{type(e) for e in batch})
    return [
        _Target(
            types[type(e)],
            e.pk,
            str(getattr(e, "path", "") or ""),
            type(e)._meta.model_name or "",
            getattr(e, "status", None),
        )
        for e in batch
    ]


def _write(
    targets: list[_Target],
    outcome: Outcome,
    parameters: dict[str, Any] | None,
    *,
    action: str,
    user: Person,
    via: str,
    idempotency_key: str,
) -> list[AuditEntry]:
    now = timezone.now()
    person = user if user is not None and user.is_authenticated else None
    return AuditEntry.objects.bulk_create(
        AuditEntry(
            at=now,
            user=person,
            via=via,
            action=action,
            content_type=target.content_type,
            object_id=target.object_id,
            element_path=target.path,
            level=target.level,
            parameters=_storable((parameters or {}) | outcome.parameters),
            result=outcome.result,
            http_status=outcome.http_status,
            message=_storable(outcome.message),
            idempotency_key=idempotency_key,
        )
        for target in targets
    )


def _changed(targets: list[_Target]) -> bool:
    """Whether any element's status is no longer the one it had before the action."""
    by_type: dict[ContentType, dict[int, str | None]] = {}
    for target in targets:
        if target.content_type is not None and target.object_id is not None:
            by_type.setdefault(target.content_type, {})[target.object_id] = target.status
    for content_type, before in by_type.items():
        model = content_type.model_class()
        if model is None or not hasattr(model, "status"):
            continue
        now = model._default_manager.filter(pk__in=list(before)).values_list("pk", "status")
        if any(before[pk] != status for pk, status in now):
            return True
    return False


def _storable(value: Any) -> Any:
    """The value without what the database refuses to store in text and JSON (NUL, unpaired
    surrogates): an entry of a request full of garbage must still be written."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def _write_failure(
    targets: list[_Target],
    result: str,
    error: Exception,
    parameters: dict[str, Any] | None,
    **fields: Any,
) -> None:
    status = None
    if fields["via"] == Via.API:
        status = _API_CONFLICT if isinstance(error, CampaignError) else _API_FAILURE
    message = str(error) or type(error).__name__
    try:
        with transaction.atomic():
            _write(targets, Outcome(result, message, status), parameters, **fields)
    except Exception:
        # Never hide the action's own error behind the audit's (say, inside a broken
        # outer transaction): log it and let the action's error through.
        logger.exception("could not record the refused %s in the audit trail", fields["action"])
