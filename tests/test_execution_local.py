"""The real local path, end to end through cm: launch, a forced failure, retry, green.

Quanta really run (pipetask through ctrl_bps's parsl plugin) on each test's copy of
the demo repository; nothing of cm is replaced.
"""

import time
from pathlib import Path

import pytest

from campaigns.butler import adapter
from campaigns.models import DataProduct, FailedQuantum, Group, Job, Workflow
from campaigns.services import launch, polling
from campaigns.services.create import create_from_file
from campaigns.states import Status

ROOT = Path(__file__).resolve().parent.parent
MOCK = "--mock --unmocked-dataset-types demo_raw"

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def run_until_done(workflow: Workflow, timeout: float = 240) -> Workflow:
    """Submit, then poll as the beat would, until the attempt leaves running."""
    launch.process_launch(workflow.pk)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        Workflow.objects.filter(pk=workflow.pk).update(next_check_at=None)
        polling.poll()
        workflow.refresh_from_db()
        if workflow.status not in (Status.RUNNING, Status.BLOCKED):
            return workflow
        time.sleep(2)
    raise AssertionError(f"{workflow.path} still {workflow.status} after {timeout} s")


def test_a_forced_failure_is_reviewable_and_a_retry_fixes_it_keeping_good_outputs(
    demo_butler, operator
):
    create_from_file("production", ROOT / "examples" / "production.yaml")
    group = Group.objects.get(step__campaign__name="test", step__name="step1", name="g000")

    first = launch.request_launch(
        group,
        user=operator,
        reason="first try",
        overrides={"extraQgraphOptions": f"{MOCK} --mock-failure isr::detector=1"},
    )
    first = run_until_done(first)
    assert first.status == Status.REVIEWABLE
    failed = list(FailedQuantum.objects.filter(workflow=first))
    assert {(q.task_label, q.data_id["detector"]) for q in failed} == {("isr", 1)}
    assert sorted(q.data_id["exposure"] for q in failed) == [1, 2, 3]
    assert {q.action for q in failed} == {"review"}  # a pipelines error: a person decides
    group.refresh_from_db()
    assert group.status == Status.REVIEWABLE
    assert (first.quanta_expected, first.quanta_succeeded, first.quanta_failed) == (6, 3, 3)

    second = launch.request_launch(
        group, user=operator, reason="retry", overrides={"extraQgraphOptions": MOCK}
    )
    second = run_until_done(second)
    assert second.status == Status.SUCCEEDED
    assert second.quanta_succeeded == 3  # only what failed was redone
    produced = DataProduct.objects.filter(workflow=second, dataset_type="_mock_demo_postisr")
    assert produced.get().count == 3  # its RUN's contents were recorded with the RUN
    measured = Job.objects.filter(workflow=second, wall_seconds__gt=0, max_rss_mb__gt=0)
    assert measured.count() == 3  # the isr jobs, from the provenance graph
    group.refresh_from_db()
    assert group.status == Status.SUCCEEDED
    assert Workflow.objects.get(pk=first.pk).status == Status.SUPERSEDED

    butler = adapter.repo("demo").butler
    assert list(butler.collections.get_info(group.output_collection).children) == [
        second.output_run,
        first.output_run,
    ]
    detectors = {
        ref.dataId["detector"]
        for ref in butler.registry.queryDatasets("_mock_demo_postisr", collections=first.output_run)
    }
    assert detectors == {0}  # the first attempt's good outputs stay where they were
    assert first.archived_files  # its logs and reports are in the PanDA archive
