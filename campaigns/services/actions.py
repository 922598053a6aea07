"""What people do to elements: validate, invalidate, pause, resume.

Admin actions, API endpoints, page buttons and the CLI all call these. Their
butler side (chains, inputs of released steps) is ``campaigns.services.collections``;
deleting data on invalidation is ``campaigns.services.invalidation``.
"""

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from campaigns.errors import CampaignError, TransitionError
from campaigns.models import Campaign, Element, Group, Production, StatusChange, Step
from campaigns.services import collections
from campaigns.services.lookup import campaign_of
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


def validate(elements: Element | Iterable[Element], *, user: User | None, reason: str) -> int:
    """Mark elements good and ready for the next processing (accepted), and chain their outputs.

    A step, campaign or production is validated once each of its children is
    accepted or rejected. A rejected element may be re-validated only if it was
    rejected after producing data (succeeded, reviewable or accepted) and that
    data still exists: an element that failed, or never ran, is never accepted.
    Steps waiting only for the validated ones become ready, and their groups'
    inputs are built. ``user=None`` is cm applying an acceptance rule: the
    table lets it accept only clean successes.
    """
    batch = _as_list(elements)
    _check_children_settled(batch)
    _check_revalidation(batch)
    with transaction.atomic():
        count = transition(batch, Status.ACCEPTED, user=user, reason=reason)
        released = release_dependents([e for e in batch if isinstance(e, Step)])
    _sync_butler([*batch, *released])
    return count


def release_dependents(steps: list[Step]) -> list[Step]:
    """Waiting steps whose prerequisites are now all accepted become ready, with their groups."""
    if not steps:
        return []
    candidates = (
        Step.objects.filter(prerequisites__in=steps, status=Status.WAITING)
        .distinct()
        .prefetch_related("prerequisites")
    )
    ready = [
        s for s in candidates if all(p.status == Status.ACCEPTED for p in s.prerequisites.all())
    ]
    if ready:
        why = "prerequisites accepted"
        transition(ready, Status.READY, reason=why)
        transition(
            Group.objects.filter(step__in=ready, status=Status.WAITING), Status.READY, reason=why
        )
    return ready


def _check_children_settled(batch: list[Element]) -> None:
    unsettled: list[tuple[str, str, str, list[str]]] = []
    for element in batch:
        children = _children(element)
        if children is not None:
            unsettled += [
                (describe(child), child.status, "accepted or rejected", [])
                for child in children.exclude(status__in=[Status.ACCEPTED, Status.REJECTED])
            ]
    if unsettled:
        raise CampaignError(
            "validate the children first; these are neither accepted nor rejected:\n  "
            + "\n  ".join(f"{path} ({status})" for path, status, _, _ in unsettled)
        )


def _children(element: Element):
    if isinstance(element, Production):
        return element.campaigns.select_related("production")
    if isinstance(element, Campaign):
        return element.steps.select_related("campaign__production")
    if isinstance(element, Step):
        return element.groups.select_related("step__campaign__production")
    return None


def _check_revalidation(batch: list[Element]) -> None:
    rejected = [e for e in batch if e.status == Status.REJECTED]
    if not rejected:
        return
    before = _status_before(rejected, Status.REJECTED)
    refused = [
        (describe(e), e.status, Status.ACCEPTED.value, ["ready"])
        for e in rejected
        if before.get(e.pk) not in _HAD_GOOD_DATA
    ]
    if refused:
        raise TransitionError(refused)
    purged = [
        describe(e)
        for e in rejected
        if isinstance(e, Group) and e.workflows.filter(run_removed_at__isnull=False).exists()
    ]
    if purged:
        raise CampaignError(
            "cannot re-validate: the data were deleted when it was invalidated: "
            + ", ".join(purged)
        )


def _sync_butler(elements: list[Element]) -> None:
    campaigns = {}
    for element in elements:
        campaign = campaign_of(element)
        if campaign is not None:
            campaigns[campaign.pk] = campaign
        elif isinstance(element, Production):
            campaigns |= {c.pk: c for c in element.campaigns.all()}
    collections.sync_after(campaigns.values(), "the status was changed")


def invalidate(elements: Element | Iterable[Element], *, user: User, reason: str) -> int:
    """Mark elements (and everything under them) bad and unchain their outputs; keep the data.

    ``campaigns.services.invalidation.invalidate`` also deletes the data, after a dry run.
    """
    from campaigns.services.invalidation import invalidate as invalidate_fully

    return len(invalidate_fully(elements, user=user, reason=reason, purge=False).moves)


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
