"""The real local path, end to end through cm: launch, a forced failure, retry, green.

Quanta really run (pipetask through ctrl_bps's parsl plugin) on each test's copy of
the demo repository; nothing of cm is replaced.
"""

import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group as Role
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from campaigns.butler import adapter
from campaigns.models import Alarm, DataProduct, FailedQuantum, Group, Job, Workflow
from campaigns.services import launch, polling
from campaigns.services.create import create_from_file
from campaigns.states import Status
from monitoring import rules

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


def shifter_finds_the_failures_and_their_alarm(client, group, attempt, failed) -> Alarm:
    """Top page -> campaign -> step -> group -> attempt -> failed quanta; group -> alarms ->
    alarm -> its plot. Returns the alarm found."""
    campaign = group.step.campaign

    def follow(url: str, *expected: str) -> str:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        for text in expected:
            assert text in page, f"{url} lacks {text!r}"
        return page

    follow("/", reverse("monitoring:campaign", args=[campaign.pk]))
    follow(
        reverse("monitoring:campaign", args=[campaign.pk]),
        reverse("monitoring:step", args=[group.step_id]),
    )
    follow(
        reverse("monitoring:step", args=[group.step_id]),
        reverse("monitoring:group", args=[group.pk]),
        "2 error",  # its open alarms (the attempt's and the group's failed fraction)
    )
    follow(
        reverse("monitoring:group", args=[group.pk]),
        reverse("monitoring:workflow", args=[attempt.pk]),
    )
    failures = reverse("monitoring:failures", args=[attempt.pk])
    follow(reverse("monitoring:workflow", args=[attempt.pk]), failures)
    page = follow(failures)
    for quantum in failed:
        assert f"exposure={quantum.data_id['exposure']}" in page
        assert escape(quantum.message) in page and quantum.error_type in page
    alarm = Alarm.objects.get(group=group, kind="workflow-failure-fraction", cleared_at=None)
    follow(
        reverse("monitoring:group-alarms", args=[group.pk]),
        reverse("monitoring:alarm", args=[alarm.pk]),
    )
    follow(
        reverse("monitoring:alarm", args=[alarm.pk]),
        reverse("monitoring:alarm-plot", args=[alarm.pk, "png"]),
    )
    plot = client.get(reverse("monitoring:alarm-plot", args=[alarm.pk, "png"]))
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    return alarm


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

    # What the beat does after the poll; then a shifter finds it all from the pages alone ...
    rules.evaluate()
    client = Client()
    alarm = shifter_finds_the_failures_and_their_alarm(client, group, first, failed)
    assert alarm.severity == "error" and alarm.value == 0.5

    # ... and an operator retries from the group's page (the mock options ride along as this
    # attempt's BPS override, as an operator would add more memory).
    operator.groups.add(Role.objects.get(name="operator"))
    client.force_login(operator)
    act = reverse("monitoring:act", args=["group", group.pk, "retry"])
    assert act in client.get(reverse("monitoring:group", args=[group.pk])).content.decode()
    answer = client.post(act, {"reason": "retry", "overrides": f"extraQgraphOptions={MOCK}"})
    assert answer.status_code == 302
    second = run_until_done(group.workflows.get(attempt=2))
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
