"""Progress samples: written by the poll when counts change, for every level the plots show."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, Group, ProgressSample, Step, Workflow
from campaigns.services import launch, polling, progress
from campaigns.services.status import transition
from campaigns.states import Status
from campaigns.wms.base import RunReport, RunState, TaskCounts
from tests.builders import make_campaign, make_group, make_step, make_workflow

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0)


def at(minutes: int):
    return T0 + timedelta(minutes=minutes)


def counted(workflow: Workflow, **counts) -> Workflow:
    Workflow.objects.filter(pk=workflow.pk).update(**counts)
    return workflow


def series(element) -> list[tuple[int, int]]:
    return [(s.quanta_succeeded, s.quanta_failed) for s in progress.samples_of(element)]


# --- record -----------------------------------------------------------------------------------


def test_a_sample_is_written_only_when_the_counts_change():
    workflow = counted(make_workflow(), quanta_expected=4, quanta_running=4)

    assert progress.record(Workflow, [workflow.pk], at(0)) == 1
    assert progress.record(Workflow, [workflow.pk], at(1)) == 0  # nothing new
    counted(workflow, quanta_running=1, quanta_succeeded=2, quanta_failed=1)
    assert progress.record(Workflow, [workflow.pk], at(2)) == 1

    assert series(workflow) == [(0, 0), (2, 1)]
    assert [s.at for s in progress.samples_of(workflow)] == [at(0), at(2)]


def test_an_element_with_nothing_counted_yet_gets_no_sample():
    workflow = make_workflow()
    assert progress.record(Workflow, [workflow.pk], at(0)) == 0
    assert not ProgressSample.objects.exists()


def test_counts_going_back_to_zero_are_a_change():
    workflow = counted(make_workflow(), quanta_expected=2, quanta_pending=2)
    progress.record(Workflow, [workflow.pk], at(0))
    counted(workflow, quanta_expected=0, quanta_pending=0)
    assert progress.record(Workflow, [workflow.pk], at(1)) == 1


def test_the_latest_sample_is_the_newest_in_time_not_the_last_written():
    workflow = counted(make_workflow(), quanta_expected=2, quanta_succeeded=2)
    progress.record(Workflow, [workflow.pk], at(5))
    ProgressSample.objects.create(
        scope="workflow", object_id=workflow.pk, at=at(1), quanta_expected=2
    )  # an older sample written later (a backfill): the newest still matches
    assert progress.record(Workflow, [workflow.pk], at(6)) == 0


def test_samples_since_start_with_the_level_before_the_window():
    workflow = make_workflow()
    for minute, succeeded in [(0, 1), (10, 2), (20, 3)]:
        counted(workflow, quanta_expected=3, quanta_succeeded=succeeded)
        progress.record(Workflow, [workflow.pk], at(minute))

    window = progress.samples("workflow", workflow.pk, since=at(15))
    assert [(s.at, s.quanta_succeeded) for s in window] == [(at(10), 2), (at(20), 3)]
    assert [s.quanta_succeeded for s in progress.samples("workflow", workflow.pk)] == [1, 2, 3]
    assert progress.samples("workflow", workflow.pk + 1000) == []


def polled(count: int) -> list[Workflow]:
    """``count`` counted workflows, each in its own group of one new step, as the poll has them."""
    step = make_step()
    made = [make_workflow(make_group(step)) for _ in range(count)]
    Workflow.objects.filter(pk__in=[w.pk for w in made]).update(quanta_expected=3, quanta_running=3)
    step.groups.update(quanta_expected=3, quanta_running=3)
    return list(Workflow.objects.filter(pk__in=[w.pk for w in made]).select_related("group__step"))


def test_recording_a_pass_costs_the_same_queries_for_5_and_50_workflows():
    def queries(count: int) -> int:
        workflows = polled(count)
        groups = {w.group for w in workflows}
        rolled = {
            Group: {g.pk for g in groups},
            Step: {g.step_id for g in groups},
            Campaign: {g.step.campaign_id for g in groups},
        }
        with CaptureQueriesContext(connection) as captured:
            written = progress.record_polled(workflows, rolled, at(0))
        assert written == 2 * count  # each workflow and each group; the step and campaign: 0
        return len(captured)

    assert queries(5) == queries(50)


# --- through the poll -------------------------------------------------------------------------


def running(tasks: TaskCounts) -> RunReport:
    return RunReport(RunState.RUNNING, tasks=[tasks])


@pytest.fixture
def launched(scripted_wms, operator) -> Workflow:
    step = make_step(make_campaign(), wms="scripted")
    group = make_group(step)
    transition(step, Status.READY, reason="test")
    transition(group, Status.READY, reason="test")
    workflow = launch.request_launch(group, user=operator, reason="go")
    return launch.process_launch(workflow.pk)


def poll(wms, workflow: Workflow, answer: RunReport, minute: int) -> None:
    wms.answers[workflow.wms_id] = answer
    Workflow.objects.filter(pk=workflow.pk).update(next_check_at=None)
    polling.poll(now=at(minute))


def test_the_poll_samples_the_workflow_and_its_group_step_and_campaign(launched, scripted_wms):
    workflow = launched
    group, step = workflow.group, workflow.group.step
    elements = [workflow, group, step, step.campaign]

    poll(scripted_wms, workflow, running(TaskCounts("isr", expected=4, running=4)), 0)
    poll(scripted_wms, workflow, running(TaskCounts("isr", expected=4, running=4)), 1)  # same
    poll(scripted_wms, workflow, running(TaskCounts("isr", expected=4, succeeded=3, failed=1)), 2)

    for element in elements:
        assert series(element) == [(0, 0), (3, 1)], element
        assert [s.at for s in progress.samples_of(element)] == [at(0), at(2)]
