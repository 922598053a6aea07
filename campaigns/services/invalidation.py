"""invalidate{Group,Step,Campaign,Production}: mark bad, unchain, and (optionally) delete the data.

An invalidation is planned in full inside a database transaction and rolled
back for a dry run, so the dry run shows exactly what the real run does: the
status changes, the chains that change, the RUN collections that would be
deleted, and the ones kept because another chain still depends on them.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from campaigns.butler import adapter
from campaigns.errors import CampaignError, TransitionError
from campaigns.models import Campaign, Element, Group, Production, Step, Workflow
from campaigns.services import collections
from campaigns.services.lookup import campaign_of
from campaigns.services.status import describe, transition
from campaigns.states import Status, allowed_moves

# Already out of play: left as they are.
_SETTLED_OUT = {Status.REJECTED, Status.SUPERSEDED}


@dataclass
class InvalidationReport:
    executed: bool
    moves: list[tuple[str, str]] = field(default_factory=list)  # (element, from status)
    chains: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    deleted_runs: list[str] = field(default_factory=list)
    kept_runs: list[tuple[str, str]] = field(default_factory=list)  # (run, why)
    released: list[str] = field(default_factory=list)  # dependents sent back to waiting

    def lines(self) -> list[str]:
        verb = "" if self.executed else "would "
        out = [f"{verb}reject {path} (was {status})" for path, status in self.moves]
        out += [f"{verb}redefine chain {n}: {list(a)} -> {list(b)}" for n, a, b in self.chains]
        out += [
            f"{verb}send {path} back to waiting (a prerequisite was invalidated)"
            for path in self.released
        ]
        out += [f"{verb}DELETE RUN {run} and its datasets" for run in self.deleted_runs]
        out += [f"keep RUN {run}: {why}" for run, why in self.kept_runs]
        return out


class _DryRun(Exception):
    def __init__(self, report: InvalidationReport):
        self.report = report


def invalidate(
    elements: Element | Iterable[Element],
    *,
    user: User,
    reason: str,
    purge: bool = False,
    execute: bool = True,
) -> InvalidationReport:
    """Reject elements and everything under them; with ``purge``, delete their RUNs.

    With ``execute=False`` nothing is changed and the report says what would be.
    """
    batch = [elements] if isinstance(elements, Element) else list(elements)
    campaigns = _campaigns_of(batch)
    before = {c.pk: collections.expected(collections.load(c)) for c in campaigns}
    try:
        with transaction.atomic():
            report = InvalidationReport(executed=execute)
            scope = _reject_all(batch, user, reason, report)
            _release_dependents(scope, report)
            to_delete = _plan_deletions(scope, campaigns, before, purge, report)
            if not execute:
                raise _DryRun(report)
    except _DryRun as dry_run:
        return dry_run.report
    _apply_to_butler(campaigns, to_delete)
    return report


def _campaigns_of(batch: list[Element]) -> list[Campaign]:
    found: dict[int, Campaign] = {}
    for element in batch:
        if isinstance(element, Production):
            found |= {c.pk: c for c in element.campaigns.all()}
        else:
            campaign = campaign_of(element)
            if campaign is None or isinstance(element, Workflow):
                raise CampaignError(
                    f"{describe(element)}: only productions, campaigns, steps and "
                    "groups are invalidated"
                )
            found[campaign.pk] = campaign
    return list(found.values())


def _reject_all(batch, user, reason, report) -> dict[type, list[Element]]:
    """Reject each element and everything under it, level by level; refuse if any cannot."""
    scope = _descendants(batch)
    stuck: list[tuple[str, str, str, list[str]]] = [
        (describe(e), e.status, Status.REJECTED.value, [])
        for elements in scope.values()
        for e in elements
        if e.status not in _SETTLED_OUT and Status.REJECTED.value not in allowed_moves(e.status)
    ]
    if stuck:
        raise TransitionError(stuck)
    for elements in scope.values():
        movable = [e for e in elements if e.status not in _SETTLED_OUT]
        report.moves += [(describe(e), e.status) for e in movable]
        transition(movable, Status.REJECTED, user=user, reason=reason)
    return scope


def _descendants(batch: list[Element]) -> dict[type, list[Element]]:
    levels: dict[type, list[Any]] = {}
    for element in batch:
        levels.setdefault(type(element), []).append(element)
    productions = levels.get(Production, [])
    campaigns = levels.get(Campaign, []) + list(Campaign.objects.filter(production__in=productions))
    steps = levels.get(Step, []) + list(Step.objects.filter(campaign__in=campaigns))
    groups = levels.get(Group, []) + list(Group.objects.filter(step__in=steps))
    workflows = list(Workflow.objects.filter(group__in=groups))
    ordered: list[tuple[type, list[Any]]] = [
        (Production, productions),
        (Campaign, campaigns),
        (Step, steps),
        (Group, groups),
        (Workflow, workflows),
    ]
    return {model: _unique(items) for model, items in ordered if items}


def _unique(items: list[Element]) -> list[Element]:
    return list({item.pk: item for item in items}.values())


def _release_dependents(scope, report) -> None:
    """Ready steps that needed an invalidated step go back to waiting (with their groups)."""
    steps = scope.get(Step, [])
    if not steps:
        return
    dependents = list(Step.objects.filter(prerequisites__in=steps, status=Status.READY).distinct())
    dependents = [s for s in dependents if s.pk not in {x.pk for x in steps}]
    if not dependents:
        return
    transition(dependents, Status.WAITING, reason="a prerequisite step was invalidated")
    groups = list(Group.objects.filter(step__in=dependents, status=Status.READY))
    transition(groups, Status.WAITING, reason="a prerequisite step was invalidated")
    report.released += [s.path for s in dependents]


def _plan_deletions(scope, campaigns, before, purge, report) -> list[Workflow]:
    """Which RUNs to delete: those no chain outside this invalidation still depends on."""
    candidates = [
        w for w in scope.get(Workflow, []) if w.run_registered_at and not w.run_removed_at
    ]
    removed = frozenset(w.pk for w in candidates) if purge else frozenset()
    after = {
        c.pk: collections.expected(collections.load(c), assume_removed=removed) for c in campaigns
    }
    own = _own_chains(scope)
    changed = {}
    for campaign in campaigns:
        for name, spec in after[campaign.pk].items():
            old = before[campaign.pk].get(name)
            if (
                spec.type == collections.CHAINED
                and old is not None
                and old.children != spec.children
            ):
                report.chains.append((name, old.children, spec.children))
                if name not in own:
                    changed[name] = spec.children
    if not purge:
        return []
    deletable = []
    for workflow in candidates:
        label = workflow.group.step.campaign.butler_repo
        repo = adapter.repo(label)
        blockers = _still_referenced(repo, workflow.output_run, changed, own)
        blockers |= _copied_into_inputs(repo, workflow.output_run, _consumers(label, scope))
        if blockers:
            report.kept_runs.append(
                (workflow.output_run, "still in " + ", ".join(sorted(blockers)))
            )
        else:
            deletable.append(workflow)
            report.deleted_runs.append(workflow.output_run)
    return deletable


def _own_chains(scope) -> set[str]:
    names = set()
    for elements in scope.values():
        for element in elements:
            names.add(getattr(element, "output_collection", None) or "")
            names.add(getattr(element, "input_collection", None) or "")
    return names - {""}


def _consumers(label: str, scope) -> set[str]:
    """Input chains of steps (outside this invalidation) whose groups' inputs are built."""
    outside = [s.pk for s in scope.get(Step, [])]
    return set(
        Step.objects.filter(campaign__butler_repo=label, groups__inputs_built_at__isnull=False)
        .exclude(pk__in=outside)
        .values_list("input_collection", flat=True)
    )


def _copied_into_inputs(repo, run: str, consumers: set[str]) -> set[str]:
    """Step inputs that reached ``run`` before this change: their groups' TAGGED inputs were
    built from it and hold its datasets, whatever the chains say now."""
    reached: set[str] = set()
    frontier = [run]
    while frontier:
        for parent in repo.parents(frontier.pop()):
            if parent not in reached:
                reached.add(parent)
                frontier.append(parent)
    return reached & consumers


def _still_referenced(
    repo, run: str, changed: dict[str, tuple[str, ...]], own: set[str]
) -> set[str]:
    """Chains that will still reach ``run``: its ancestors once ``changed`` chains drop their
    children, walking through (but not counting) the invalidated elements' own chains."""
    blockers: set[str] = set()
    seen: set[str] = set()
    frontier = [run]
    while frontier:
        node = frontier.pop()
        for parent in repo.parents(node):
            if parent in changed and node not in changed[parent]:
                continue
            if parent not in seen:
                seen.add(parent)
                frontier.append(parent)
                if parent not in own:
                    blockers.add(parent)
    return blockers


def _apply_to_butler(campaigns: list[Campaign], to_delete: list[Workflow]) -> None:
    removed = frozenset(w.pk for w in to_delete)
    try:
        for campaign in campaigns:
            collections.sync(campaign, assume_removed=removed)
        by_repo: dict[str, list[Workflow]] = {}
        for workflow in to_delete:
            by_repo.setdefault(workflow.group.step.campaign.butler_repo, []).append(workflow)
        for label, workflows in by_repo.items():
            adapter.repo(label).remove_runs([w.output_run for w in workflows])
            Workflow.objects.filter(pk__in=[w.pk for w in workflows]).update(
                run_removed_at=timezone.now()
            )
    except CampaignError as error:
        paths = ", ".join(c.path for c in campaigns)
        raise CampaignError(
            f"the elements were rejected, but updating the butler failed: {error}\n"
            f"Fix the cause, then run: python manage.py cm butler sync {paths}"
        ) from error
