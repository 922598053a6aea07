"""Whether an action is allowed now: that a launch is asked of a ready group and a retry of a
failed one, and, for a bulk dry run, why each element would be refused.

The services still check every move when they make it; the dry run's rules exist to explain,
element by element, what a bulk action would do without doing it.
"""

from django.db.models import Count, Model

from campaigns.errors import CampaignError, TransitionError
from campaigns.models import Campaign, Group, Production, Step
from campaigns.services import invalidation, launch
from campaigns.states import Status, allowed_moves

LAUNCHES = ("launch", "retry")
# A level's children and their link to it: validating needs them all accepted or rejected.
CHILDREN: dict[type[Model], tuple[type[Model], str]] = {
    Production: (Campaign, "production"),
    Campaign: (Step, "campaign"),
    Step: (Group, "step"),
}


def manual_moves(current: str) -> list[str]:
    """The statuses a person may move an element to from ``current``."""
    return [t for t, move in allowed_moves(current).items() if move.actor.allows(manual=True)]


def path_of(described: str) -> str:
    """An element's path, from the services' description of it."""
    # The services describe an element as "<level> <path>".
    return described.split(" ", 1)[-1]


def check_launchable(verb: str, group: Group) -> None:
    """CampaignError unless the group's status allows this launch or retry."""
    if verb == "launch" and group.status != Status.READY:
        raise CampaignError(f"{group.path} is {group.status}: only ready groups are launched")
    if verb == "retry" and group.status not in launch.RETRYABLE:
        raise CampaignError(
            f"{group.path} is {group.status}: only failed or reviewable groups are retried"
        )


def why_not(verb: str, model: type[Model], elements: list) -> dict[int, str]:
    """For each element, why the action would be refused now ("" if it would not)."""
    unsettled = _unsettled_children(model, elements) if verb == "validate" else {}
    why = {}
    for element in elements:
        try:
            if verb in LAUNCHES:
                check_launchable(verb, element)
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
    if target.value not in manual_moves(element.status):
        allowed = ", ".join(manual_moves(element.status)) or "none"
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


def invalidation_preview(user, elements: list, data: dict, why: dict[int, str]) -> list[str]:
    """The service's own dry run; a refusal deeper down marks the element it lies under."""
    try:
        report = invalidation.invalidate(
            elements, user=user, reason=data["reason"], purge=data["purge"], execute=False
        )
    except TransitionError as error:
        by_path = {e.path: e for e in elements}
        blocked: dict[int, list[str]] = {}
        for described, current, _, _ in error.refused:
            refused = path_of(described)
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
