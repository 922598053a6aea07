"""What people do to elements: validate, invalidate, pause, resume.

Admin actions, API endpoints, page buttons and the CLI all call these. The
butler side of validate/invalidate (chains, clean-up) joins them here.
"""

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType

from campaigns.errors import TransitionError
from campaigns.models import Element, StatusChange
from campaigns.services.status import describe, transition
from campaigns.states import Status

# Where a resumed element goes, by the status it had when it was paused.
_RESUME_TO = {
    Status.WAITING: Status.WAITING,
    Status.READY: Status.READY,
    Status.PREPARED: Status.READY,
    Status.RUNNING: Status.RUNNING,
    Status.BLOCKED: Status.RUNNING,
}


# Only these ever produced data worth accepting; re-validating a rejected element needs one of them.
_HAD_GOOD_DATA = {Status.SUCCEEDED, Status.REVIEWABLE, Status.ACCEPTED}


def validate(elements: Element | Iterable[Element], *, user: User, reason: str) -> int:
    """Mark elements good and ready for the next processing (accepted).

    A rejected element may be re-validated only if it was rejected after
    producing data (succeeded, reviewable or accepted): an element that failed,
    or never ran, and was then rejected is never accepted as is.
    """
    batch = _as_list(elements)
    rejected = [e for e in batch if e.status == Status.REJECTED]
    if rejected:
        before = _status_before(rejected, Status.REJECTED)
        refused = [
            (describe(e), e.status, Status.ACCEPTED.value, ["ready"])
            for e in rejected
            if before.get(e.pk) not in _HAD_GOOD_DATA
        ]
        if refused:
            raise TransitionError(refused)
    return transition(batch, Status.ACCEPTED, user=user, reason=reason)


def invalidate(elements: Element | Iterable[Element], *, user: User, reason: str) -> int:
    """Mark elements bad (rejected)."""
    return transition(elements, Status.REJECTED, user=user, reason=reason)


def pause(elements: Element | Iterable[Element], *, user: User, reason: str) -> int:
    """Stop elements from going further until resumed."""
    return transition(elements, Status.PAUSED, user=user, reason=reason)


def resume(elements: Element | Iterable[Element], *, user: User, reason: str) -> int:
    """Return paused elements to where they were when paused (one query for the lookup)."""
    batch = _as_list(elements)
    if not batch:
        return 0
    before = _status_before(batch, Status.PAUSED)
    targets: dict[Status, list[Element]] = {}
    for element in batch:
        target = _RESUME_TO.get(Status(before.get(element.pk, Status.READY)), Status.READY)
        targets.setdefault(target, []).append(element)
    return sum(transition(group, t, user=user, reason=reason) for t, group in targets.items())


def _as_list(elements: Element | Iterable[Element]) -> list[Element]:
    return [elements] if isinstance(elements, Element) else list(elements)


def _status_before(batch: list[Element], status: Status) -> dict[int, str]:
    """For each element, the status it left when it last entered ``status`` (one query)."""
    rows = (
        StatusChange.objects.filter(
            content_type=ContentType.objects.get_for_model(type(batch[0])),
            object_id__in=[e.pk for e in batch],
            to_status=status,
        )
        .order_by("object_id", "-at", "-id")
        .values_list("object_id", "from_status")
    )
    before: dict[int, str] = {}
    for object_id, from_status in rows:
        before.setdefault(object_id, from_status)
    return before
