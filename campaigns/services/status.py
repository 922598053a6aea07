"""Status changes: one function applies the transition table to one or many elements."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.bulk import insert
from campaigns.errors import ConcurrentChangeError, TransitionError
from campaigns.models import Element, StatusChange
from campaigns.states import Status, allowed_moves

# Entering these means no processing has happened yet (a reset), so run times are cleared.
_UNSTARTED = {Status.WAITING, Status.READY}
# Entering these ends processing, so they stamp finished_at.
_FINISHING = {Status.FAILED, Status.REVIEWABLE, Status.SUCCEEDED}
_SETTLING = {Status.ACCEPTED, Status.REJECTED, Status.SUPERSEDED}


def describe(element: Element) -> str:
    path = getattr(element, "path", None)
    return f"{type(element).__name__.lower()} {path or element.pk}"


def transition(
    elements: Element | Iterable[Element],
    to: Status | str,
    *,
    reason: str,
    user: User | None = None,
    now: datetime | None = None,
    savepoint: bool = True,
) -> int:
    """Move every element to ``to`` and record who, when, from, to and why.

    ``user`` is the person acting (a manual move); ``None`` means cm itself (a
    system move). Every element is checked against the transition table first,
    and if any move is illegal nothing is written. The writes are one
    conditional UPDATE per distinct current status plus one bulk INSERT of
    history rows, so a batch of any size costs a constant number of queries. If
    another process changed one of the statuses since the elements were read,
    the whole batch is rolled back with ``ConcurrentChangeError``.

    ``savepoint=False`` is for a caller whose own transaction is the boundary (it lets the
    error through and is rolled back whole): inside it, no savepoint is taken for the move,
    two statements fewer.
    """
    batch = _unique([elements] if isinstance(elements, Element) else list(elements))
    if not batch:
        return 0
    target = Status(to)
    if not reason.strip():
        raise ValueError("a status change needs a reason")
    _check_moves(batch, target, manual=user is not None)
    model = type(batch[0])
    if any(type(element) is not model for element in batch):
        raise TypeError("one transition batch holds elements of one level")
    now = now or timezone.now()
    with transaction.atomic(savepoint=savepoint):
        _apply(model, batch, target, reason, now)
        _record(model, batch, target, reason, user, now)
    for element in batch:
        element.status, element.status_since, element.status_reason = target, now, reason
    return len(batch)


def record_creation(elements: Iterable[Element], *, reason: str, user: User | None = None) -> None:
    """Write the first history row of newly created elements (from nothing to their status)."""
    batch = list(elements)
    if batch:
        write_history(
            type(batch[0]),
            [(e.pk, "", e.status, e.status_since) for e in batch],
            reason=reason,
            user=user,
        )


def write_history(
    model: type[Element],
    changes: Iterable[tuple[int, str, str, datetime]],
    *,
    reason: str,
    user: User | None = None,
) -> None:
    """History rows ``(element id, from status, to status, at)`` of ``model``'s elements, in
    one insert whatever their number (the poll writes tens of thousands at a time)."""
    insert(
        StatusChange,
        ["object_id", "from_status", "to_status", "at"],
        list(changes),
        same={
            "content_type": ContentType.objects.get_for_model(model).pk,
            "user": user.pk if user is not None else None,
            "reason": reason[:500],
        },
    )


def _unique(batch: list[Element]) -> list[Element]:
    """One entry per row: the same element twice in a batch is one change, not two."""
    seen: dict[tuple[type, int], Element] = {}
    for element in batch:
        seen.setdefault((type(element), element.pk), element)
    return list(seen.values())


def _check_moves(batch: list[Element], target: Status, *, manual: bool) -> None:
    refused = []
    for element in batch:
        moves = allowed_moves(element.status)
        move = moves.get(target)
        if move is None or not move.actor.allows(manual):
            allowed = [t for t, m in moves.items() if m.actor.allows(manual)]
            refused.append((describe(element), element.status, target.value, allowed))
    if refused:
        raise TransitionError(refused)


def _apply(model: type[Element], batch: list[Element], target: Status, reason: str, now) -> None:
    by_source: dict[str, list[int]] = defaultdict(list)
    for element in batch:
        by_source[element.status].append(element.pk)
    changes: dict[str, object] = {
        "status": target,
        "status_since": now,
        "status_reason": reason[:500],
    }
    if target == Status.RUNNING:
        changes |= {
            "started_at": Coalesce(
                "started_at", models.Value(now, output_field=models.DateTimeField())
            ),
            "finished_at": None,
        }
    elif target in _UNSTARTED:
        changes |= {"started_at": None, "finished_at": None}
    elif target in _FINISHING:
        changes["finished_at"] = now
    elif target in _SETTLING:
        changes["finished_at"] = Coalesce(
            "finished_at", models.Value(now, output_field=models.DateTimeField())
        )
    for source, pks in by_source.items():
        updated = model._default_manager.filter(pk__in=pks, status=source).update(**changes)
        if updated != len(pks):
            raise ConcurrentChangeError(
                f"{len(pks) - updated} {model.__name__.lower()}(s) left status {source} "
                "while this change was being made; nothing was changed, try again"
            )


def _record(model, batch, target, reason, user, now) -> None:
    changes = [(element.pk, element.status, target, now) for element in batch]
    write_history(model, changes, reason=reason, user=user)
