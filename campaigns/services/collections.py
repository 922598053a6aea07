"""Butler collections as cm's bookkeeping: what should exist, checking it, making it so.

Every collection cm manages is derived from the database by ``expected``:

- a group's input: TAGGED, the step's input datasets matching the group's query
  (built once the step's inputs exist, i.e. the step is no longer waiting);
- a group's output: CHAINED, its attempts' RUNs, newest first;
- a step's input: CHAINED, its prerequisites' outputs (or the campaign's inputs);
- a step's output: CHAINED, its accepted groups;
- a campaign's output: CHAINED, its accepted steps, last step first;
- a production's output: CHAINED, its accepted campaigns (in each repository).

``check`` compares that with the butler (the drift check); ``sync`` makes the
butler match, and is idempotent, so any interrupted change is finished by
running it again.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from campaigns.bulk import bulk_update
from campaigns.butler import adapter, pipelines
from campaigns.errors import CampaignError
from campaigns.models import Campaign, DataProduct, Group, Step, Workflow
from campaigns.specs.data import full_query
from campaigns.states import Status

CHAINED, TAGGED, RUN = "CHAINED", "TAGGED", "RUN"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expected:
    name: str
    type: str
    owner: str
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class Drift:
    collection: str
    problem: str  # missing, extra, wrong type, wrong children, ...
    detail: str

    def __str__(self) -> str:
        return f"{self.problem:<14} {self.collection}: {self.detail}"


@dataclass
class SyncReport:
    registered: list[str] = field(default_factory=list)
    chains_defined: list[str] = field(default_factory=list)
    inputs_built: list[str] = field(default_factory=list)


def load(campaign: Campaign) -> Campaign:
    """The campaign with everything ``expected`` reads, in a constant number of queries."""
    return (
        Campaign.objects.select_related("production")
        .prefetch_related(
            Prefetch(
                "steps",
                queryset=Step.objects.order_by("order").prefetch_related(
                    "prerequisites",
                    Prefetch(
                        "groups",
                        queryset=Group.objects.order_by("name").prefetch_related(
                            Prefetch("workflows", queryset=Workflow.objects.order_by("-attempt"))
                        ),
                    ),
                ),
            )
        )
        .get(pk=campaign.pk)
    )


def expected(
    campaign: Campaign, *, assume_removed: frozenset[int] = frozenset()
) -> dict[str, Expected]:
    """Every collection cm expects for ``campaign`` (from a ``load``-ed campaign).

    ``assume_removed`` lists workflows whose RUNs are about to be deleted, so a
    dry run can show the chains as they will be.
    """
    found: dict[str, Expected] = {}

    def add(name: str, kind: str, owner: str, children=()):
        found[name] = Expected(name, kind, owner, tuple(children))

    steps = list(campaign.steps.all())
    accepted_steps = [s for s in steps if s.status == Status.ACCEPTED]
    add(
        campaign.output_collection,
        CHAINED,
        f"campaign {campaign.path}",
        [s.output_collection for s in reversed(accepted_steps)],
    )
    production = campaign.production
    accepted_campaigns = (
        Campaign.objects.filter(
            production=production, butler_repo=campaign.butler_repo, status=Status.ACCEPTED
        )
        .order_by("name")
        .values_list("output_collection", flat=True)
    )
    add(production.output_collection, CHAINED, f"production {production.name}", accepted_campaigns)
    for step in steps:
        prerequisites = sorted(step.prerequisites.all(), key=lambda s: -s.order)
        inputs = [p.output_collection for p in prerequisites] or campaign.input_collections
        add(step.input_collection, CHAINED, f"step {step.path}", inputs)
        groups = list(step.groups.all())
        add(
            step.output_collection,
            CHAINED,
            f"step {step.path}",
            [g.output_collection for g in groups if g.status == Status.ACCEPTED],
        )
        for group in groups:
            runs = [
                w.output_run
                for w in group.workflows.all()
                if w.run_registered_at and not w.run_removed_at and w.pk not in assume_removed
            ]
            add(group.output_collection, CHAINED, f"group {group.path}", runs)
            if group.inputs_built_at:
                add(group.input_collection, TAGGED, f"group {group.path}")
            for workflow in group.workflows.all():
                if workflow.output_run in runs:
                    add(workflow.output_run, RUN, f"workflow {workflow.path}")
    return found


def check(campaign: Campaign) -> list[Drift]:
    """Differences between cm's bookkeeping and the butler: missing, extra, out of order."""
    campaign = load(campaign)
    want = expected(campaign)
    repo = adapter.repo(campaign.butler_repo)
    have = repo.existing(want) | repo.matching(f"{campaign.output_root}*")
    drifts = []
    for name, spec in want.items():
        state = have.get(name)
        if state is None:
            drifts.append(Drift(name, "missing", f"{spec.type} collection of {spec.owner}"))
        elif state.type != spec.type:
            drifts.append(Drift(name, "wrong type", f"is {state.type}, cm expects {spec.type}"))
        elif spec.type == CHAINED and state.children != spec.children:
            drifts.append(
                Drift(
                    name,
                    _chain_problem(state.children, spec.children),
                    f"has {list(state.children)}, cm expects {list(spec.children)}",
                )
            )
    for name in sorted(set(have) - set(want)):
        drifts.append(Drift(name, "extra", f"{have[name].type} collection cm does not know"))
    drifts += _count_drift(campaign, repo, have)
    return drifts


def _chain_problem(have: tuple[str, ...], want: tuple[str, ...]) -> str:
    return "out of order" if sorted(have) == sorted(want) else "wrong children"


def _count_drift(campaign: Campaign, repo: adapter.Repo, have) -> list[Drift]:
    drifts = []
    for step in campaign.steps.all():
        for group in step.groups.all():
            if group.inputs_built_at and group.input_collection in have:
                _, datasets = repo.count_datasets(group.input_collection)
                if datasets != group.dataset_count:
                    drifts.append(
                        Drift(
                            group.input_collection,
                            "wrong contents",
                            f"holds {datasets} datasets, cm recorded {group.dataset_count}",
                        )
                    )
    return drifts


def sync(campaign: Campaign, *, assume_removed: frozenset[int] = frozenset()) -> SyncReport:
    """Make the butler match cm's bookkeeping for ``campaign`` (idempotent)."""
    campaign = load(campaign)
    repo = adapter.repo(campaign.butler_repo)
    report = SyncReport()
    _forget_lost_inputs(campaign, repo)
    report.inputs_built = build_group_inputs(campaign, repo)
    want = expected(
        load(campaign) if report.inputs_built else campaign, assume_removed=assume_removed
    )
    have = repo.existing(want)
    chains = [spec for spec in want.values() if spec.type == CHAINED]
    # Register every missing chain first, so each chain's children exist when it is defined.
    for spec in chains:
        if spec.name not in have:
            repo.ensure_chain(spec.name, ())
            report.registered.append(spec.name)
    for spec in chains:
        current = have[spec.name].children if spec.name in have else ()
        if current != spec.children:
            repo.ensure_chain(spec.name, spec.children)
            report.chains_defined.append(spec.name)
    return report


def _forget_lost_inputs(campaign: Campaign, repo: adapter.Repo) -> None:
    """A group input removed behind cm's back is rebuilt: mark it not built."""
    built = [g for s in campaign.steps.all() for g in s.groups.all() if g.inputs_built_at]
    present = repo.existing(g.input_collection for g in built)
    lost = [g for g in built if g.input_collection not in present]
    for group in lost:
        group.inputs_built_at = None
    bulk_update(lost, ["inputs_built_at"])


def build_group_inputs(campaign: Campaign, repo: adapter.Repo) -> list[str]:
    """Fill the TAGGED input of every group whose step's inputs exist and that has none yet."""
    built = []
    for step in campaign.steps.all():
        if step.status in (Status.WAITING, Status.REJECTED):
            continue
        pending = [
            g for g in step.groups.all() if not g.inputs_built_at and g.status != Status.REJECTED
        ]
        if not pending:
            continue
        repo.ensure_chain(step.input_collection, _step_inputs(campaign, step))
        dataset_types = pipelines.input_dataset_types(campaign.pipeline, step.pipeline_subset)
        for group in pending:
            query = full_query(campaign.data_query, step.data_query, group.data_query)
            refs = repo.find_datasets(dataset_types, [step.input_collection], query)
            repo.ensure_tagged(group.input_collection, refs)
            group.data_id_count = len({ref.dataId for ref in refs})
            group.dataset_count = len(refs)
            group.inputs_built_at = timezone.now()
            built.append(group.input_collection)
        bulk_update(pending, ["data_id_count", "dataset_count", "inputs_built_at"])
    return built


def _step_inputs(campaign: Campaign, step: Step) -> list[str]:
    prerequisites = sorted(step.prerequisites.all(), key=lambda s: -s.order)
    return [p.output_collection for p in prerequisites] or list(campaign.input_collections)


def record_run(workflow: Workflow) -> None:
    """The workflow's RUN collection now exists: put it at the head of its group's chain,
    and record what it holds (``record_products``)."""
    if not record_runs([workflow]):
        raise CampaignError(
            f"workflow {workflow.path}: RUN {workflow.output_run} is not in the butler"
        )


def record_runs(workflows: Iterable[Workflow]) -> list[Workflow]:
    """``record_run`` for many finished attempts (a poll pass finishes hundreds): one look
    at each repository for their RUNs and one sync per campaign, rather than one of each per
    workflow. Returns the workflows whose RUN was found and chained; the others are left
    for the drift check (``cm butler check`` shows a missing RUN)."""
    by_campaign: dict[int, list[Workflow]] = {}
    for workflow in workflows:
        by_campaign.setdefault(workflow.group.step.campaign_id, []).append(workflow)
    done: list[Workflow] = []
    for batch in by_campaign.values():
        campaign = batch[0].group.step.campaign
        try:
            repo = adapter.repo(campaign.butler_repo)
            present = repo.existing([w.output_run for w in batch])
        except CampaignError as error:
            log.warning("campaign %s: RUNs not chained: %s", campaign.path, error)
            continue
        found = [w for w in batch if w.output_run in present]
        Workflow.objects.filter(
            pk__in=[w.pk for w in found], run_registered_at__isnull=True
        ).update(run_registered_at=timezone.now())
        if found:
            sync(campaign)
        for workflow in found:
            try:
                record_products(workflow, repo)
            except adapter.ButlerError:
                # The RUN is chained either way; without its counts a page only shows less.
                log.warning(
                    "workflow %s: its data products were not recorded", workflow, exc_info=True
                )
        done += found
    return done


def record_products(workflow: Workflow, repo: adapter.Repo | None = None) -> list[DataProduct]:
    """Replace the workflow's ``DataProduct`` rows by what its RUN holds now (idempotent)."""
    repo = repo or adapter.repo(workflow.group.step.campaign.butler_repo)
    now = timezone.now()
    rows = [
        DataProduct(
            workflow=workflow,
            dataset_type=product.dataset_type,
            storage_class=product.storage_class,
            dimensions=list(product.dimensions),
            count=product.count,
            size_bytes=product.size_bytes,
            recorded_at=now,
        )
        for product in repo.run_products(workflow.output_run)
    ]
    with transaction.atomic():
        DataProduct.objects.filter(workflow=workflow).delete()
        DataProduct.objects.bulk_create(rows)
    return rows


def sync_after(campaigns: Iterable[Campaign], done: str) -> None:
    """Sync each campaign after a committed database change ``done``; if the butler fails,
    say what was done and the command that finishes it."""
    for campaign in campaigns:
        try:
            sync(campaign)
        except CampaignError as error:
            raise CampaignError(
                f"{done}, but updating the butler failed: {error}\n"
                f"Fix the cause, then run: python manage.py cm butler sync {campaign.path}"
            ) from error
