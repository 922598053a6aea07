"""Butler collections for real: group inputs, output chains, validate, invalidate, drift.

Every test runs against its own copy of the demo repository (tests/conftest.py).
A workflow attempt's outputs are made by really running the step's pipeline
subset in-process on the group's TAGGED input, into the attempt's RUN.
"""

from pathlib import Path

import pytest
from django.core.management import call_command
from lsst.daf.butler import Butler, CollectionType
from lsst.pipe.base.simple_pipeline_executor import SimplePipelineExecutor

from campaigns.butler import adapter
from campaigns.errors import CampaignError, TransitionError
from campaigns.models import Group, Step, Workflow
from campaigns.services import collections
from campaigns.services.actions import validate
from campaigns.services.create import create_from_file
from campaigns.services.invalidation import invalidate
from campaigns.services.status import transition
from campaigns.specs.problems import SpecError
from campaigns.states import Status
from tests.builders import make_workflow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "production.yaml"
PIPELINE = ROOT / "examples" / "pipelines" / "demo.yaml"

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def demo(demo_butler):
    create_from_file("production", EXAMPLE)
    return demo_butler


def group(path: str) -> Group:
    p, c, s, g = path.split("/")
    return Group.objects.get(
        step__campaign__production__name=p, step__campaign__name=c, step__name=s, name=g
    )


def children(name: str) -> list[str]:
    return list(adapter.repo("demo").butler.collections.get_info(name).children)


def data_ids(collection: str, dataset_type=...) -> set[tuple[int, int]]:
    refs = adapter.repo("demo").butler.registry.queryDatasets(dataset_type, collections=collection)
    return {(ref.dataId["exposure"], ref.dataId["detector"]) for ref in refs}


def run_attempt(target: Group) -> Workflow:
    """A new attempt that really runs the step's subset on the group's input, then is recorded."""
    workflow = make_workflow(target, status=Status.READY)
    repo = adapter.repo("demo")
    output = Butler.from_config(
        butler=repo.butler, collections=[target.input_collection], run=workflow.output_run
    )
    subset = f"{PIPELINE}#{target.step.pipeline_subset}"
    executor = SimplePipelineExecutor.from_pipeline_filename(subset, butler=output)
    assert executor.run(register_dataset_types=True)
    collections.record_run(workflow)
    return workflow


def succeed(*elements) -> None:
    """Move elements through a clean run, as the WMS poll and rollup will."""
    for element in elements:
        for status in (Status.RUNNING, Status.SUCCEEDED):
            transition(element, status, reason="test: the run went well")


def process_and_validate_step(step: Step, operator) -> None:
    groups = list(step.groups.all())
    for g in groups:
        succeed(run_attempt(g))
    succeed(*groups)
    validate(groups, user=operator, reason="looks good")
    succeed(step)
    validate(step, user=operator, reason="step done")


# --- creation -------------------------------------------------------------------


def test_each_group_input_holds_exactly_its_share_of_the_step_inputs(demo):
    main = group("demo-dp/main/step1/g001")
    assert data_ids(main.input_collection) == {(e, d) for e in (1, 2, 3) for d in (4, 5, 6, 7)}
    assert (main.data_id_count, main.dataset_count) == (12, 12)
    test = group("demo-dp/test/step1/g000")  # the test campaign: detector < 4, values [0, 1]
    assert data_ids(test.input_collection) == {(e, d) for e in (1, 2, 3) for d in (0, 1)}
    info = adapter.repo("demo").butler.collections.get_info(main.input_collection)
    assert info.type == CollectionType.TAGGED


def test_steps_waiting_for_prerequisites_have_no_inputs_yet(demo):
    step2 = group("demo-dp/main/step2/g000")
    assert step2.inputs_built_at is None and step2.status == Status.WAITING
    assert not adapter.repo("demo").existing([step2.input_collection])
    assert children("demo-dp/main/step2/input") == ["demo-dp/main/step1"]
    assert children("demo-dp/main/step1/input") == ["demo/raw"]


def test_a_name_that_already_exists_in_the_butler_is_a_spec_error(demo_butler):
    repo = adapter.repo("demo")
    repo.butler.collections.register("demo-dp/test/step1", CollectionType.CHAINED)
    with pytest.raises(SpecError, match="already exists in butler 'demo' as a CHAINED"):
        create_from_file("production", EXAMPLE)
    assert not Group.objects.exists()


def test_an_unknown_pipeline_subset_is_a_spec_error(demo_butler, tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text(EXAMPLE.read_text().replace("pipeline_subset: step2", "pipeline_subset: step9"))
    with pytest.raises(SpecError, match="has no subset 'step9'"):
        create_from_file("production", spec)


# --- chains -----------------------------------------------------------------------


def test_attempts_chain_newest_first_and_keep_the_first_attempts_outputs(demo):
    target = group("demo-dp/test/step1/g000")
    first = run_attempt(target)
    second = run_attempt(target)
    assert children(target.output_collection) == [second.output_run, first.output_run]
    assert data_ids(first.output_run, "demo_postisr") == data_ids(target.input_collection)


def test_validating_groups_and_steps_chains_them_and_releases_the_next_step(demo, operator):
    step1 = Step.objects.get(campaign__name="test", name="step1")
    process_and_validate_step(step1, operator)

    assert children("demo-dp/test/step1") == ["demo-dp/test/step1/g000", "demo-dp/test/step1/g001"]
    assert children("demo-dp/test") == ["demo-dp/test/step1"]
    step2 = Step.objects.get(campaign__name="test", name="step2")
    assert step2.status == Status.READY
    g0 = step2.groups.get(name="g000")
    assert g0.status == Status.READY
    # Its input is step1's validated output for its share of the data.
    refs = adapter.repo("demo").butler.registry.queryDatasets(..., collections=g0.input_collection)
    assert {ref.datasetType.name for ref in refs} == {"demo_postisr"}
    assert data_ids(g0.input_collection) == {(e, d) for e in (1, 2, 3) for d in (0, 1)}


def test_a_step_is_validated_only_once_its_groups_are_settled(demo, operator):
    step1 = Step.objects.get(campaign__name="test", name="step1")
    succeed(step1)
    with pytest.raises(CampaignError, match="validate the children first"):
        validate(step1, user=operator, reason="too early")


# --- invalidate -----------------------------------------------------------------


def validated_group(operator) -> tuple[Group, Workflow]:
    target = group("demo-dp/test/step1/g000")
    workflow = run_attempt(target)
    succeed(workflow, target)
    validate(target, user=operator, reason="good")
    return Group.objects.get(pk=target.pk), Workflow.objects.get(pk=workflow.pk)


def test_invalidate_dry_run_shows_what_would_happen_and_changes_nothing(demo, operator):
    target, workflow = validated_group(operator)
    report = invalidate(target, user=operator, reason="bad calib", purge=True, execute=False)
    lines = "\n".join(report.lines())
    assert f"would reject group {target.path} (was accepted)" in lines
    assert f"would DELETE RUN {workflow.output_run}" in lines
    assert "would redefine chain demo-dp/test/step1" in lines
    target.refresh_from_db()
    assert target.status == Status.ACCEPTED
    assert children("demo-dp/test/step1") == [target.output_collection]
    assert adapter.repo("demo").existing([workflow.output_run])


def test_invalidate_unchains_and_purge_deletes_the_runs(demo, operator):
    target, workflow = validated_group(operator)
    report = invalidate(target, user=operator, reason="bad calib", purge=True)
    assert report.deleted_runs == [workflow.output_run]
    assert children("demo-dp/test/step1") == []
    assert children(target.output_collection) == []
    assert not adapter.repo("demo").existing([workflow.output_run])
    assert Group.objects.get(pk=target.pk).status == Status.REJECTED
    assert Workflow.objects.get(pk=workflow.pk).status == Status.REJECTED
    with pytest.raises(CampaignError, match="the data were deleted"):
        validate(Group.objects.get(pk=target.pk), user=operator, reason="oops")


def test_revalidating_works_while_the_data_still_exist(demo, operator):
    target, workflow = validated_group(operator)
    invalidate(target, user=operator, reason="suspicious")  # no purge: data kept
    assert children("demo-dp/test/step1") == []
    validate(Group.objects.get(pk=target.pk), user=operator, reason="it was fine")
    assert children("demo-dp/test/step1") == [target.output_collection]
    assert children(target.output_collection) == [workflow.output_run]


def test_purge_keeps_runs_that_another_chain_still_references(demo, operator):
    target, workflow = validated_group(operator)
    repo = adapter.repo("demo")
    repo.butler.collections.register("u/someone/favourite", CollectionType.CHAINED)
    repo.butler.collections.redefine_chain("u/someone/favourite", [target.output_collection])
    report = invalidate(target, user=operator, reason="bad", purge=True)
    assert report.deleted_runs == []
    assert report.kept_runs == [(workflow.output_run, "still in u/someone/favourite")]
    assert repo.existing([workflow.output_run])


def test_purging_a_step_keeps_runs_another_campaign_reads(demo, operator, tmp_path):
    step1 = Step.objects.get(campaign__name="test", name="step1")
    process_and_validate_step(step1, operator)
    consumer = tmp_path / "consumer.yaml"
    consumer.write_text(
        (ROOT / "examples" / "more" / "campaign.yaml")
        .read_text()
        .replace("input_collections: [demo/raw]", "input_collections: [demo-dp/test/step1]")
        .replace("pipeline_subset: step1", "pipeline_subset: step2")
        .replace("- name: step1", "- name: step2\n    pipeline_subset: step2")
    )
    create_from_file("campaign", consumer)  # its step input chains the test campaign's step1
    report = invalidate(step1, user=operator, reason="bad", purge=True)
    assert report.deleted_runs == []
    # Both the other campaign's step and this campaign's own step2 read step1's outputs.
    assert {why for _, why in report.kept_runs} == {
        "still in demo-dp/rerun/step2/input, demo-dp/test/step2/input"
    }


def test_purge_keeps_runs_a_later_steps_inputs_were_built_from(demo, operator):
    step1 = Step.objects.get(campaign__name="test", name="step1")
    process_and_validate_step(step1, operator)  # releases step2: its inputs hold step1's outputs
    target = step1.groups.get(name="g000")
    run = target.workflows.get().output_run
    report = invalidate(target, user=operator, reason="bad", purge=True)
    assert report.deleted_runs == []
    assert report.kept_runs == [(run, "still in demo-dp/test/step2/input")]
    assert adapter.repo("demo").existing([run])


def test_a_missing_input_collection_is_a_spec_error(demo_butler, tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text(EXAMPLE.read_text().replace("[demo/raw]", "[demo/nothing]"))
    with pytest.raises(SpecError, match="input collection\\(s\\) demo/nothing not in butler"):
        create_from_file("production", spec)


def test_invalidating_a_running_group_is_refused(demo, operator):
    target = group("demo-dp/test/step1/g000")
    transition(target, Status.RUNNING, reason="test")
    with pytest.raises(TransitionError, match="cannot go from running to rejected"):
        invalidate(target, user=operator, reason="no")


# --- drift ------------------------------------------------------------------------


def test_drift_check_catches_a_collection_removed_behind_cms_back_and_sync_repairs_it(demo):
    campaign = group("demo-dp/test/step1/g000").step.campaign
    assert collections.check(campaign) == []
    repo = adapter.repo("demo")
    repo.butler.registry.removeCollection("demo-dp/test/step1/g001/input")
    repo.butler.collections.redefine_chain("demo-dp/test/step2/input", [])
    repo.butler.collections.register("demo-dp/test/stray", CollectionType.RUN)

    drifts = {(d.collection, d.problem) for d in collections.check(campaign)}
    assert drifts == {
        ("demo-dp/test/step1/g001/input", "missing"),
        ("demo-dp/test/step2/input", "wrong children"),
        ("demo-dp/test/stray", "extra"),
    }
    collections.sync(campaign)
    assert {(d.collection, d.problem) for d in collections.check(campaign)} == {
        ("demo-dp/test/stray", "extra")  # never deleted automatically
    }
    assert len(data_ids("demo-dp/test/step1/g001/input")) == 6


def test_drift_check_reports_a_chain_out_of_order(demo):
    target = group("demo-dp/test/step1/g000")
    first, second = run_attempt(target), run_attempt(target)
    adapter.repo("demo").butler.collections.redefine_chain(
        target.output_collection, [first.output_run, second.output_run]
    )
    drifts = collections.check(target.step.campaign)
    assert [(d.collection, d.problem) for d in drifts] == [
        (target.output_collection, "out of order")
    ]


def test_cli_butler_check_and_invalidate_dry_run(demo, operator, capsys):
    call_command("cm", "butler", "check", "demo-dp")
    assert "demo-dp/main: butler matches cm" in capsys.readouterr().out
    call_command("cm", "invalidate", "demo-dp/test/step1/g000", "--reason", "x", "--as", "olivia")
    out = capsys.readouterr().out
    assert "would reject group demo-dp/test/step1/g000 (was ready)" in out
    assert "dry run: nothing was changed" in out
    assert group("demo-dp/test/step1/g000").status == Status.READY


def test_validating_a_campaign_and_its_production_chains_them(demo, operator):
    from campaigns.models import Campaign, Production

    test = Campaign.objects.get(name="test")
    step1, step2, step3 = test.steps.order_by("order")
    invalidate([step2, step3], user=operator, reason="not needed for this test")
    process_and_validate_step(Step.objects.get(pk=step1.pk), operator)
    succeed(test)
    validate(Campaign.objects.get(pk=test.pk), user=operator, reason="campaign done")
    assert children("demo-dp/test") == ["demo-dp/test/step1"]
    assert children("demo-dp") == ["demo-dp/test"]

    production = Production.objects.get(name="demo-dp")
    with pytest.raises(CampaignError, match="demo-dp/main \\(ready\\)"):
        validate(production, user=operator, reason="too early: main is not settled")
    invalidate(Campaign.objects.get(name="main"), user=operator, reason="superseded by test")
    succeed(production)
    validate(Production.objects.get(pk=production.pk), user=operator, reason="all settled")
    assert Production.objects.get(pk=production.pk).status == Status.ACCEPTED
    assert children("demo-dp") == ["demo-dp/test"]
