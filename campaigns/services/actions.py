"""What people do to elements: validate, invalidate, pause, resume.

Admin actions, API endpoints, page buttons and the CLI all call these. The
butler side of validate/invalidate (chains, clean-up) joins them here.
"""

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType

from campaigns.models import Element, StatusChange
from campaigns.services.status import transition
from campaigns.states import Status

# Where a resumed element goes, by the status it had when it was paused.
_RESUME_TO = {
    Status.WAITING: Status.WAITING,
    Status.READY: Status.READY,
    Status.PREPARED: Status.READY,
    Status.RUNNING: Status.RUNNING,
    Status.BLOCKED: Status.RUNNING,
}


def validate(elements: Element | Iterable[Element], *, user: User, reason: str) -> int:
    """Mark elements good and ready for the next processing (accepted)."""
    return transition(elements, Status.ACCEPTED, user=user, reason=reason)


def invalidate(
    elements: Element | Iterable[Element], *, user: User, reason: str
) -> int:
    """Mark elements bad (rejected)."""
    return transition(elements, Status.REJECTED, user=user, reason=reason)


def pause(elements: Element | Iterable[Element], *, user: User, reason: str) -> int:
    """Stop elements from going further until resumed."""
    return transition(elements, Status.PAUSED, user=user, reason=reason)


def resume(elements: Element | Iterable[Element], *, user: User, reason: str) -> int:
    """Return paused elements to where they were when paused (one query for the lookup)."""
    batch = [elements] if isinstance(elements, Element) else list(elements)
    if not batch:
        return 0
    before = _status_before_pause(batch)
    targets: dict[Status, list[Element]] = {}
    for element in batch:
        target = _RESUME_TO.get(Status(before.get(element.pk, Status.READY)), Status.READY)
        targets.setdefault(target, []).append(element)
    return sum(transition(group, t, user=user, reason=reason) for t, group in targets.items())


def _status_before_pause(batch: list[Element]) -> dict[int, str]:
    rows = (
        StatusChange.objects.filter(
            content_type=ContentType.objects.get_for_model(type(batch[0])),
            object_id__in=[e.pk for e in batch],
            to_status=Status.PAUSED,
        )
        .order_by("object_id", "-at", "-id")
        .values_list("object_id", "from_status")
    )
    before: dict[int, str] = {}
    for object_id, from_status in rows:
        before.setdefault(object_id, from_status)
    return before
