"""Plain functions that make rows for tests: ``make_group(step, name="g1")``.

Each builder makes its parents when none is given, so a test asks only for what
it cares about. Rows are written directly (no spec, no archive): tests of
``cm create`` go through the real command instead.
"""

from itertools import count

from campaigns.models import (
    Campaign,
    CampaignType,
    Group,
    Job,
    Production,
    Step,
    TaskLabelCount,
    Workflow,
)
from campaigns.services.status import record_creation
from campaigns.specs.schema import CollectionTemplates

_serial = count(1)


def _name(prefix: str) -> str:
    return f"{prefix}{next(_serial)}"


def _created(element):
    record_creation([element], reason="created by a test")
    return element


def make_production(**overrides) -> Production:
    name = overrides.pop("name", _name("prod"))
    fields = {
        "name": name,
        "campaign_type": CampaignType.objects.get(name="DataProc"),
        "output_collection": f"cm/{name}",
    }
    return _created(Production.objects.create(**(fields | overrides)))


def make_campaign(production: Production | None = None, **overrides) -> Campaign:
    name = overrides.pop("name", _name("camp"))
    fields = {
        "production": production or make_production(),
        "name": name,
        "butler_repo": "demo",  # each test's copy of the demo repository (tests/conftest.py)
        "input_collections": ["demo/raw"],
        "data_query": "instrument = 'DemoCam'",
        "pipeline": "examples/pipelines/demo.yaml",
        "lsst_version": "w_2026_47",
        "output_root": f"cm/{name}",
        "output_collection": f"cm/{name}",
        "collection_templates": CollectionTemplates().model_dump(),
    }
    return _created(Campaign.objects.create(**(fields | overrides)))


def make_step(campaign: Campaign | None = None, **overrides) -> Step:
    campaign = campaign or make_campaign()
    name = overrides.pop("name", _name("step"))
    order = overrides.pop("order", campaign.steps.count() + 1)
    fields = {
        "campaign": campaign,
        "name": name,
        "order": order,
        "pipeline_subset": "step1",
        "output_collection": f"{campaign.output_root}/{name}",
        "input_collection": f"{campaign.output_root}/{name}/input",
    }
    return _created(Step.objects.create(**(fields | overrides)))


def make_group(step: Step | None = None, **overrides) -> Group:
    step = step or make_step()
    name = overrides.pop("name", _name("group"))
    fields = {
        "step": step,
        "name": name,
        "data_query": "detector IN (0, 1)",
        "input_collection": f"{step.output_collection}/{name}/input",
        "output_collection": f"{step.output_collection}/{name}",
    }
    return _created(Group.objects.create(**(fields | overrides)))


def make_workflow(group: Group | None = None, **overrides) -> Workflow:
    group = group or make_group()
    attempt = overrides.pop("attempt", group.workflows.count() + 1)
    fields = {
        "group": group,
        "attempt": attempt,
        "output_run": f"{group.output_collection}/attempt_{attempt}",
    }
    return _created(Workflow.objects.create(**(fields | overrides)))


def make_job(workflow: Workflow | None = None, **overrides) -> Job:
    fields = {"workflow": workflow or make_workflow(), "name": _name("job"), "task_labels": ["isr"]}
    return _created(Job.objects.create(**(fields | overrides)))


def make_task_count(workflow: Workflow | None = None, **overrides) -> TaskLabelCount:
    fields = {"workflow": workflow or make_workflow(), "task_label": _name("task")}
    return TaskLabelCount.objects.create(**(fields | overrides))
