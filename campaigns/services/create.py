"""create{Production,Campaign,Step,Group,Workflow}: a spec file in, rows and archive entry out."""

from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Model

from campaigns import archive
from campaigns.errors import CampaignError
from campaigns.models import ArchivedConfig
from campaigns.services import collections
from campaigns.services.lookup import campaign_of
from campaigns.services.status import record_creation
from campaigns.specs.loader import LoadedSpec, load_spec_file
from campaigns.specs.plan import New, Plan, build_plan

KINDS = ("production", "campaign", "step", "group", "workflow")


@dataclass
class CreateResult:
    created: dict[str, list[str]] = field(default_factory=dict)  # level -> paths
    skipped: list[str] = field(default_factory=list)
    config: ArchivedConfig | None = None

    @property
    def nothing_to_do(self) -> bool:
        return not self.created


def create_from_file(kind: str, path: str | Path, *, user: User | None = None) -> CreateResult:
    """Validate the spec at ``path`` completely, then create everything it describes at once.

    On any problem ``SpecError`` lists them all and nothing is written, neither
    rows nor archive files. A spec identical to what exists creates nothing; a
    conflicting one is refused.
    """
    if kind not in KINDS:
        raise CampaignError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return create_from_loaded(kind, load_spec_file(path), user=user)


def create_from_loaded(kind: str, loaded: LoadedSpec, *, user: User | None = None) -> CreateResult:
    plan = build_plan(kind, loaded)
    result = CreateResult(skipped=plan.skipped)
    if not plan.new:
        return result
    written = None
    try:
        with transaction.atomic():
            config, written = archive.archive(
                loaded.raw, kind=kind, source_name=loaded.name, user=user
            )
            _write_rows(plan, config, user)
    except IntegrityError as error:
        archive.discard(written)
        raise CampaignError(
            f"{loaded.name}: another process created some of these elements at the same time "
            f"({error.__class__.__name__}); nothing was written, run the command again"
        ) from error
    except BaseException:
        archive.discard(written)
        raise
    result.config = config
    for item in plan.new:
        result.created.setdefault(item.model.__name__.lower(), []).append(_path(item))
    _provision(plan)
    return result


def _provision(plan: Plan) -> None:
    """Make the butler collections of every campaign the plan touched (after the commit)."""
    touched = {}
    for item in plan.new:
        campaign = campaign_of(item.instance)  # None: a production alone has no collections
        if campaign is not None:
            touched[campaign.pk] = campaign
    collections.sync_after(touched.values(), f"{plan.loaded.name}: created in cm's database")


def _write_rows(plan: Plan, config: ArchivedConfig, user) -> None:
    # Parents are planned before children, so each parent row exists when its children are made.
    by_model: dict[type[Model], list[New]] = {}
    for item in plan.new:
        fields = dict(item.fields, spec_config=config)
        if item.parent_field:
            fields[item.parent_field] = item.parent_instance()
        item.instance = item.model(**fields)
        by_model.setdefault(item.model, []).append(item)
    for model, items in by_model.items():
        instances = [i.instance for i in items]
        if len(instances) > 1:
            model._default_manager.bulk_create(instances, batch_size=1000)
        else:
            instances[0].save()
        record_creation(instances, reason=f"created from {plan.loaded.name}", user=user)
        for item in items:
            if item.prerequisites:
                item.instance.prerequisites.set([_instance(p) for p in item.prerequisites])


def _instance(element):
    return element.instance if isinstance(element, New) else element


def _path(item: New) -> str:
    return getattr(item.instance, "path", str(item.instance))
