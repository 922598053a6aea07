"""Turn a loaded spec into a plan of rows to create, finding every problem first.

A plan is built from the spec and from what the database already holds; it
writes nothing. Every problem found (schema, references, cycles, clashes,
conflicts with existing elements) is collected so one run shows them all. An
element that already exists with an identical spec is skipped, which makes
``cm create`` idempotent; one that exists with a different spec is a conflict.
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from campaigns.butler import adapter
from campaigns.errors import CampaignError
from campaigns.models import Campaign, CampaignType, Group, Production, Step, Workflow
from campaigns.specs.data import CampaignData
from campaigns.specs.inherit import deep_merge, resolve_extends
from campaigns.specs.loader import LoadedSpec
from campaigns.specs.names import NameError_, existing_names, fill
from campaigns.specs.problems import FieldPath, SpecError, SpecProblem
from campaigns.specs.schema import (
    CampaignSpec,
    GroupSpec,
    ProductionSpec,
    Split,
    StandaloneGroupSpec,
    StandaloneStepSpec,
    StepSpec,
    WorkflowSpec,
)
from campaigns.specs.validation import validate
from campaigns.states import Status


@dataclass
class New:
    """One row to create: its model, its fields, and the parent it hangs from."""

    model: type
    fields: dict[str, Any]
    parent: "New | Any | None" = None  # a New (created first) or an existing row
    parent_field: str = ""
    prerequisites: list["New | Step"] = field(default_factory=list)
    instance: Any = None

    def parent_instance(self) -> Any:
        return self.parent.instance if isinstance(self.parent, New) else self.parent


@dataclass
class Plan:
    kind: str
    loaded: LoadedSpec
    new: list[New] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[SpecProblem] = field(default_factory=list)
    # name -> (path in the file, what it names), for the clash checks
    collections: dict[str, tuple[FieldPath, str]] = field(default_factory=dict)
    # butler repository label -> names that must not exist there yet
    in_repo: dict[str, set[str]] = field(default_factory=dict)

    def add(self, item: New) -> New:
        self.new.append(item)
        return item

    def claim(self, name: str, where: FieldPath, what: str, repo: str | None = None) -> None:
        if repo is not None:
            self.in_repo.setdefault(repo, set()).add(name)
        if name in self.collections:
            _, other = self.collections[name]
            self.problems.append(
                self.loaded.problem(where, f"collection name {name!r} ({what}) is also the {other}")
            )
        else:
            self.collections[name] = (where, what)

    def conflict(self, where: FieldPath, label: str, existing: dict, wanted: dict) -> bool:
        """Report each field where ``wanted`` differs from an existing element's spec."""
        differing = sorted(
            k for k in existing.keys() | wanted.keys() if existing.get(k) != wanted.get(k)
        )
        for key in differing:
            self.problems.append(
                self.loaded.problem(
                    (*where, key),
                    f"conflicts with the existing {label}: it has {existing.get(key)!r}, "
                    f"this spec says {wanted.get(key)!r}",
                )
            )
        return bool(differing)


def build_plan(kind: str, loaded: LoadedSpec) -> Plan:
    """Check the spec against the schema and the database; raise ``SpecError`` on any problem."""
    plan = Plan(kind, loaded)
    {
        "production": _plan_production_file,
        "campaign": _plan_campaign_file,
        "step": _plan_step_file,
        "group": _plan_group_file,
        "workflow": _plan_workflow_file,
    }[kind](plan)
    _check_clashes_with_database(plan)
    if not plan.problems:
        _check_clashes_with_butler(plan)
    if plan.problems:
        raise SpecError(plan.problems)
    return plan


def _whole_file[M: BaseModel](plan: Plan, model: type[M]) -> M | None:
    """The file checked against ``model``; its problems go into the plan."""
    spec, problems = validate(model, plan.loaded.data, plan.loaded)
    plan.problems += problems
    return spec


# --- production ---------------------------------------------------------------


def _plan_production_file(plan: Plan) -> None:
    spec = _whole_file(plan, ProductionSpec)
    if spec is None:
        return
    campaign_type = CampaignType.objects.filter(name=spec.campaign_type).first()
    if campaign_type is None:
        known = ", ".join(CampaignType.objects.values_list("name", flat=True))
        plan.problems.append(
            plan.loaded.problem(
                ("campaign_type",), f"unknown campaign type {spec.campaign_type!r} (known: {known})"
            )
        )
        return
    fragment = {
        "name": spec.name,
        "campaign_type": spec.campaign_type,
        "description": spec.description,
        "output_collection": spec.output_collection or spec.name,
    }
    production: Production | New | None = Production.objects.filter(name=spec.name).first()
    if isinstance(production, Production):
        plan.conflict((), f"production {spec.name}", production.spec, fragment)
        plan.skipped.append(f"production {spec.name}")
    else:
        chain = fragment["output_collection"]
        plan.claim(chain, ("output_collection",), f"output of production {spec.name}")
        production = plan.add(
            New(
                Production,
                {
                    "name": spec.name,
                    "campaign_type": campaign_type,
                    "description": spec.description,
                    "output_collection": spec.output_collection or spec.name,
                    "spec": fragment,
                    "status": Status.READY,
                },
            )
        )
    resolved, problems = resolve_extends(spec.campaigns, plan.loaded, ("campaigns",))
    plan.problems += problems
    _check_unique_names(plan, spec.campaigns, ("campaigns",), "campaign")
    for index, merged in enumerate(resolved):
        if merged is None:
            continue
        fields, origin = merged
        where = ("campaigns", index)
        if fields.get("production", spec.name) != spec.name:
            plan.problems.append(
                plan.loaded.problem(
                    (*where, "production"),
                    f"must be {spec.name!r} (the production of this file) or left out",
                )
            )
            continue
        campaign, problems = validate(CampaignSpec, fields, plan.loaded, where, origin)
        plan.problems += problems
        if campaign is not None:
            _plan_campaign(plan, campaign, production, where, origin)


# --- campaign -----------------------------------------------------------------


def _plan_campaign_file(plan: Plan) -> None:
    spec = _whole_file(plan, CampaignSpec)
    if spec is None:
        return
    if spec.production is None:
        plan.problems.append(plan.loaded.problem(("production",), "required field is missing"))
        return
    if spec.extends is not None:
        plan.problems.append(
            plan.loaded.problem(
                ("extends",), "extends works between campaigns of one production file"
            )
        )
        return
    production = _existing(
        plan, Production, {"name": spec.production}, ("production",), "production"
    )
    if production is not None:
        _plan_campaign(plan, spec, production, (), None)


def _campaign_fragment(spec: CampaignSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"steps", "production", "extends"})


def _plan_campaign(plan, spec: CampaignSpec, production, where: FieldPath, origin) -> None:
    fragment = _campaign_fragment(spec)
    located = {
        k: (*(origin or {}).get(k, where), k)
        for k in ("butler_repo", "pipeline", "input_collections")
    }
    data = CampaignData(plan, fragment, located)
    label = f"{_name_of(production)}/{spec.name}"
    values = {
        "production": _name_of(production),
        "campaign": spec.name,
        "output_root": spec.output_root,
    }
    existing = None
    if not isinstance(production, New):
        existing = Campaign.objects.filter(production=production, name=spec.name).first()
    if existing is not None:
        plan.conflict(where, f"campaign {label}", existing.spec, fragment)
        plan.skipped.append(f"campaign {label}")
        campaign = existing
    else:
        output = _fill(plan, spec.collections.campaign_output, values, (*where, "collections"))
        if output:
            plan.claim(output, (*where, "output_root"), f"output of campaign {label}", data.label)
        if isinstance(production, New):
            plan.in_repo.setdefault(data.label, set()).add(production.fields["output_collection"])
        campaign = plan.add(
            New(
                Campaign,
                {
                    "name": spec.name,
                    "description": spec.description,
                    "butler_repo": spec.butler_repo,
                    "input_collections": list(spec.input_collections),
                    "data_query": spec.data_query,
                    "pipeline": spec.pipeline,
                    "lsst_version": spec.lsst_version,
                    "output_root": spec.output_root,
                    "output_collection": output or "",
                    "collection_templates": spec.collections.model_dump(),
                    "spec": fragment,
                    "status": Status.READY,
                },
                parent=production,
                parent_field="production",
            )
        )
    steps_where = (*((origin or {}).get("steps", where)), "steps")
    _check_unique_names(plan, [s.model_dump() for s in spec.steps], steps_where, "step")
    known = {} if existing is None else {s.name: s for s in existing.steps.all()}
    planned: dict[str, New | Step] = dict(known)
    items = []
    for index, step in enumerate(spec.steps):
        item = _plan_step(
            plan,
            step,
            fragment,
            campaign,
            label,
            values,
            (*steps_where, index),
            index + 1,
            known,
            data,
        )
        if item is not None:
            planned[step.name] = item
            items.append((index, step, item))
    _link_prerequisites(plan, items, planned, steps_where)


# --- step ---------------------------------------------------------------------


def _step_fragment(step: StepSpec, campaign_fragment: dict[str, Any]) -> dict[str, Any]:
    defaults = campaign_fragment.get("step_defaults") or {}
    split = step.split or (
        Split.model_validate(defaults["split"]) if defaults.get("split") else Split()
    )
    return {
        "name": step.name,
        "pipeline_subset": step.pipeline_subset or step.name,
        "prerequisites": sorted(step.prerequisites),
        "data_query": step.data_query,
        "split": split.model_dump(mode="json"),
        "bps": deep_merge(
            deep_merge(campaign_fragment.get("bps") or {}, defaults.get("bps") or {}), step.bps
        ),
        "wms": step.wms or defaults.get("wms") or campaign_fragment.get("wms") or "local",
    }


def _plan_step_file(plan: Plan) -> None:
    spec = _whole_file(plan, StandaloneStepSpec)
    if spec is None:
        return
    production_name, campaign_name = spec.campaign.split("/")
    campaign = _existing(
        plan,
        Campaign,
        {"production__name": production_name, "name": campaign_name},
        ("campaign",),
        "campaign",
    )
    if campaign is None:
        return
    known = {s.name: s for s in campaign.steps.all()}
    order = max((s.order for s in known.values()), default=0) + 1
    values = {
        "production": production_name,
        "campaign": campaign_name,
        "output_root": campaign.output_root,
    }
    data = CampaignData(
        plan, campaign.spec, {"butler_repo": ("campaign",), "pipeline": ("campaign",)}
    )
    item = _plan_step(
        plan, spec, campaign.spec, campaign, spec.campaign, values, (), order, known, data
    )
    if item is not None:
        _link_prerequisites(plan, [(None, spec, item)], {**known, spec.name: item}, None)


def _plan_step(
    plan, step: StepSpec, campaign_fragment, campaign, label, values, where, order, known, data
):
    fragment = _step_fragment(step, campaign_fragment)
    path = f"{label}/{step.name}"
    subset_where = (*where, "pipeline_subset") if step.pipeline_subset else (*where, "name")
    data.check_subset(fragment["pipeline_subset"], subset_where)
    existing = known.get(step.name)
    if existing is not None:
        wanted = {**fragment, "order": order} if plan.kind != "step" else fragment
        have = {**existing.spec, "order": existing.order} if plan.kind != "step" else existing.spec
        plan.conflict(where, f"step {path}", have, wanted)
        plan.skipped.append(f"step {path}")
        parent: New | Step = existing
        known_groups = {g.name: g for g in existing.groups.all()}
    else:
        step_values = {**values, "step": step.name}
        templates = _templates(campaign, campaign_fragment)
        output = _fill(plan, templates["step_output"], step_values, where)
        if output:
            plan.claim(output, (*where, "name"), f"output of step {path}", data.label)
        step_input = _fill(plan, templates["step_input"], step_values, where)
        if step_input:
            plan.claim(step_input, (*where, "name"), f"input of step {path}", data.label)
        parent = plan.add(
            New(
                Step,
                {
                    "name": step.name,
                    "order": order,
                    "pipeline_subset": fragment["pipeline_subset"],
                    "data_query": step.data_query,
                    "split": fragment["split"],
                    "bps": fragment["bps"],
                    "wms": fragment["wms"],
                    "output_collection": output or "",
                    "input_collection": step_input or "",
                    "spec": fragment,
                    "status": Status.WAITING if step.prerequisites else Status.READY,
                },
                parent=campaign,
                parent_field="campaign",
            )
        )
        known_groups = {}
    split = Split.model_validate(fragment["split"])
    split_where = (*where, "split") if step.split else (*where, "name")
    values_found = (
        data.split_values(split, step.data_query, split_where)
        if split.method == "dimension" and existing is None
        else []
    )
    groups = _groups_of(step, split, values_found)
    group_where = (*where, "groups") if step.groups else (*where, "split")
    for index, group in enumerate(groups):
        gwhere = (*group_where, index) if step.groups else group_where
        _plan_group(
            plan,
            group,
            parent,
            campaign,
            campaign_fragment,
            {**values, "step": step.name},
            gwhere,
            path,
            known_groups,
            data.label,
        )
    _check_unique_names(plan, [g.model_dump() for g in step.groups], (*where, "groups"), "group")
    return parent


def _groups_of(step: StepSpec, split: Split, found: list[Any]) -> list[GroupSpec]:
    if step.groups:
        return list(step.groups)
    if split.method == "dimension":
        size = split.max_group_size or 1
        chunks = [found[i : i + size] for i in range(0, len(found), size)]
        return [
            GroupSpec(name=f"g{index:03d}", data_query=_in_query(split.dimension or "", chunk))
            for index, chunk in enumerate(chunks)
        ]
    if split.method == "values":
        return [
            GroupSpec(name=f"g{index:03d}", data_query=_in_query(split.dimension or "", chunk))
            for index, chunk in enumerate(split.values or [])
        ]
    return [GroupSpec(name="all", data_query="")]


def _in_query(dimension: str, values: list[int | str]) -> str:
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
    return f"{dimension} IN ({shown})"


def _link_prerequisites(plan, items, planned, steps_where) -> None:
    graph: dict[str, list[str]] = {}
    for index, step, item in items:
        where = (*steps_where, index) if index is not None else ()
        graph[step.name] = list(step.prerequisites)
        for position, name in enumerate(step.prerequisites):
            if name == step.name:
                plan.problems.append(
                    plan.loaded.problem(
                        (*where, "prerequisites", position), "a step cannot require itself"
                    )
                )
            elif name not in planned:
                plan.problems.append(
                    plan.loaded.problem(
                        (*where, "prerequisites", position),
                        f"no step named {name!r} in this campaign",
                    )
                )
            elif isinstance(item, New):
                item.prerequisites.append(planned[name])
    cycle = _find_cycle(graph)
    if cycle:
        first = next(i for i, s, _ in items if s.name == cycle[0])
        where = (*steps_where, first, "prerequisites") if first is not None else ("prerequisites",)
        plan.problems.append(
            plan.loaded.problem(where, f"step prerequisites form a cycle: {' -> '.join(cycle)}")
        )


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if nxt == node or nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if state.get(nxt) is None and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in graph:
        if state.get(start) is None and (found := visit(start, [start])):
            return found
    return None


# --- group --------------------------------------------------------------------


def _plan_group_file(plan: Plan) -> None:
    spec = _whole_file(plan, StandaloneGroupSpec)
    if spec is None:
        return
    production_name, campaign_name, step_name = spec.step.split("/")
    step = _existing(
        plan,
        Step,
        {
            "campaign__production__name": production_name,
            "campaign__name": campaign_name,
            "name": step_name,
        },
        ("step",),
        "step",
    )
    if step is None:
        return
    campaign = step.campaign
    values = {
        "production": production_name,
        "campaign": campaign_name,
        "output_root": campaign.output_root,
        "step": step_name,
    }
    known = {g.name: g for g in step.groups.filter(name=spec.name)}
    _plan_group(
        plan,
        spec,
        step,
        campaign,
        campaign.spec,
        values,
        (),
        spec.step,
        known,
        campaign.butler_repo,
    )


def _plan_group(
    plan,
    group: GroupSpec,
    step,
    campaign,
    campaign_fragment,
    values,
    where,
    step_path,
    known,
    repo: str,
):
    fragment = {"name": group.name, "data_query": group.data_query}
    path = f"{step_path}/{group.name}"
    existing = known.get(group.name)
    if existing is not None:
        plan.conflict(where, f"group {path}", existing.spec, fragment)
        plan.skipped.append(f"group {path}")
        return
    templates = _templates(campaign, campaign_fragment)
    group_values = {**values, "group": group.name}
    names = {}
    for key, what in (("group_input", "input"), ("group_output", "output")):
        names[key] = _fill(plan, templates[key], group_values, where)
        if names[key]:
            plan.claim(names[key], where, f"{what} of group {path}", repo)
    ready = (isinstance(step, New) and step.fields["status"] == Status.READY) or (
        not isinstance(step, New) and step.status == Status.READY
    )
    plan.add(
        New(
            Group,
            {
                "name": group.name,
                "data_query": group.data_query,
                "input_collection": names["group_input"] or "",
                "output_collection": names["group_output"] or "",
                "spec": fragment,
                "status": Status.READY if ready else Status.WAITING,
            },
            parent=step,
            parent_field="step",
        )
    )


# --- workflow -----------------------------------------------------------------


def _plan_workflow_file(plan: Plan) -> None:
    spec = _whole_file(plan, WorkflowSpec)
    if spec is None:
        return
    p, c, s, g = spec.group.split("/")
    group = _existing(
        plan,
        Group,
        {
            "step__campaign__production__name": p,
            "step__campaign__name": c,
            "step__name": s,
            "name": g,
        },
        ("group",),
        "group",
    )
    if group is None:
        return
    fragment = {"group": spec.group, "bps_overrides": spec.bps_overrides}
    attempts = {w.attempt: w for w in group.workflows.select_related("spec_config")}
    if _workflow_exists(plan, spec, fragment, attempts):
        return
    following = max(attempts, default=0) + 1
    attempt = spec.attempt or following
    if attempt != following:
        plan.problems.append(
            plan.loaded.problem(("attempt",), f"the next attempt of {spec.group} is {following}")
        )
        return
    busy = [w for w in attempts.values() if w.status not in _SETTLED]
    if busy:
        plan.problems.append(
            plan.loaded.problem(
                ("group",),
                f"{spec.group} already has attempt {busy[0].attempt} in status {busy[0].status}",
            )
        )
        return
    campaign = group.step.campaign
    values = {
        "production": p,
        "campaign": c,
        "output_root": campaign.output_root,
        "step": s,
        "group": g,
        "attempt": attempt,
    }
    run = _fill(plan, campaign.collection_templates["workflow_run"], values, ("group",))
    if run:
        plan.claim(run, ("group",), f"RUN of {spec.group} attempt {attempt}", campaign.butler_repo)
    plan.add(
        New(
            Workflow,
            {
                "attempt": attempt,
                "wms": group.step.wms,
                "output_run": run or "",
                "spec": fragment,
                "status": Status.READY if group.status == Status.READY else Status.WAITING,
            },
            parent=group,
            parent_field="group",
        )
    )


_SETTLED = {
    Status.FAILED,
    Status.REVIEWABLE,
    Status.SUCCEEDED,
    Status.ACCEPTED,
    Status.REJECTED,
    Status.SUPERSEDED,
}


def _workflow_exists(plan, spec: WorkflowSpec, fragment, attempts) -> bool:
    """An explicit attempt that exists, or this very file already used: nothing new to create."""
    if spec.attempt is not None and spec.attempt in attempts:
        plan.conflict(
            (),
            f"workflow {spec.group} attempt {spec.attempt}",
            attempts[spec.attempt].spec,
            fragment,
        )
        plan.skipped.append(f"workflow {spec.group}/attempt_{spec.attempt}")
        return True
    digest = _sha256(plan.loaded.raw)
    for workflow in attempts.values():
        if workflow.spec_config is not None and workflow.spec_config.sha256 == digest:
            plan.skipped.append(f"workflow {spec.group}/attempt_{workflow.attempt}")
            return True
    return False


# --- helpers ------------------------------------------------------------------


def _sha256(raw: bytes) -> str:
    from campaigns.archive import sha256_of

    return sha256_of(raw)


def _name_of(element) -> str:
    return element.fields["name"] if isinstance(element, New) else element.name


def _templates(campaign, campaign_fragment) -> dict[str, str]:
    if isinstance(campaign, New):
        return campaign.fields["collection_templates"]
    return campaign.collection_templates or campaign_fragment.get("collections", {})


def _fill(plan: Plan, template: str, values: dict[str, Any], where: FieldPath) -> str | None:
    try:
        return fill(template, values)
    except NameError_ as error:
        plan.problems.append(plan.loaded.problem(where, str(error)))
        return None


def _existing(plan: Plan, model, lookup: dict[str, str], where: FieldPath, label: str):
    found = model.objects.filter(**lookup).first()
    if found is None:
        wanted = plan.loaded.data.get(where[0]) if isinstance(plan.loaded.data, dict) else None
        plan.problems.append(plan.loaded.problem(where, f"{label} {wanted!r} does not exist"))
    return found


def _check_unique_names(plan: Plan, items: list[Any], where: FieldPath, label: str) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            plan.problems.append(
                plan.loaded.problem(
                    (*where, index, "name"),
                    f"duplicate {label} name {name!r} (also item {seen[name]})",
                )
            )
        else:
            seen[name] = index


def _check_clashes_with_database(plan: Plan) -> None:
    taken = existing_names(set(plan.collections))
    for name, what in taken.items():
        where, ours = plan.collections[name]
        plan.problems.append(
            plan.loaded.problem(
                where, f"collection name {name!r} ({ours}) is already the {what} of another element"
            )
        )


def _check_clashes_with_butler(plan: Plan) -> None:
    """Names cm would create must not exist yet in the repository they go to."""
    for label, names in plan.in_repo.items():
        try:
            found = adapter.repo(label).existing(names)
        except CampaignError as error:
            plan.problems.append(plan.loaded.problem((), str(error)))
            continue
        for name, state in sorted(found.items()):
            where, ours = plan.collections.get(name, ((), "a collection cm would create"))
            plan.problems.append(
                plan.loaded.problem(
                    where,
                    f"collection name {name!r} ({ours}) already exists in butler {label!r} "
                    f"as a {state.type} collection",
                )
            )
