"""A small processing world for page tests: what a shifter sees mid-campaign.

``build_world(groups=n)`` makes one campaign with one step and ``n`` groups. The
first group's attempt 1 finished reviewable with failed quanta (the demo's forced
failure: calibrate failed on 3 detectors), has jobs, task counts, data products,
progress samples, an archived log and an open alarm; the other groups are running.
Statuses are written directly: these tests are about pages, not transitions.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from campaigns.models import (
    DataProduct,
    FailedQuantum,
    Group,
    ProgressSample,
    Step,
    Workflow,
)
from campaigns.services import alarms
from campaigns.states import Status
from tests.builders import (
    make_campaign,
    make_group,
    make_job,
    make_step,
    make_task_count,
    make_workflow,
)


@dataclass
class World:
    campaign: object
    step: Step
    failed_group: Group
    failed_attempt: Workflow
    alarm: object


def set_status(element, status: Status, reason: str = "set by a test") -> None:
    type(element).objects.filter(pk=element.pk).update(
        status=status, status_reason=reason, status_since=timezone.now() - timedelta(hours=2)
    )
    element.refresh_from_db()


def _counts(element, expected, succeeded, failed, running=0):
    type(element).objects.filter(pk=element.pk).update(
        quanta_expected=expected,
        quanta_succeeded=succeeded,
        quanta_failed=failed,
        quanta_running=running,
    )


def build_world(groups: int = 3, *, campaign=None, archive_dir=None) -> World:
    campaign = campaign or make_campaign()
    step = make_step(campaign, name="step1")
    set_status(campaign, Status.RUNNING)
    set_status(step, Status.RUNNING)
    first = None
    for index in range(groups):
        group = make_group(step, name=f"group{index:03d}", data_id_count=16)
        workflow = make_workflow(group, wms="local", wms_id=f"run-{group.pk}")
        for n in range(3):
            make_job(workflow, name=f"isr_{n}", task_labels=["isr"], wall_seconds=30.0 + n)
        if first is None:
            first = (group, workflow)
        else:
            set_status(group, Status.RUNNING)
            set_status(workflow, Status.RUNNING, reason="submitted")
            _counts(workflow, 27, 10, 0, running=5)
    group, workflow = first
    set_status(group, Status.REVIEWABLE, reason="attempt_1 finished with failures")
    set_status(workflow, Status.REVIEWABLE, reason="3 quanta failed")
    _counts(workflow, 27, 21, 3)
    _counts(group, 27, 21, 3)
    _counts(step, 27 * groups, 21, 3)
    make_task_count(workflow, task_label="isr", quanta_expected=16, quanta_succeeded=16)
    make_task_count(
        workflow, task_label="calibrate", quanta_expected=16, quanta_succeeded=5, quanta_failed=3
    )
    FailedQuantum.objects.bulk_create(
        FailedQuantum(
            workflow=workflow,
            task_label="calibrate",
            data_id={"instrument": "DemoCam", "exposure": 1, "detector": detector},
            error_type="lsst.pipe.base.tests.mocks.MockAlgorithmError",
            message=f"Simulated failure: task=calibrate dataId={{detector: {detector}}}",
            flavor="science",
            action="review",
            rule="mock-failure",
        )
        for detector in (3, 7, 11)
    )
    DataProduct.objects.create(
        workflow=workflow,
        dataset_type="calexp",
        storage_class="ExposureF",
        dimensions=["instrument", "exposure", "detector"],
        count=13,
        size_bytes=13 * 2048,
        recorded_at=timezone.now(),
    )
    start = timezone.now() - timedelta(hours=2)
    ProgressSample.objects.bulk_create(
        ProgressSample(
            scope=scope,
            object_id=element.pk,
            at=start + timedelta(minutes=10 * i),
            quanta_expected=27,
            quanta_succeeded=7 * i,
            quanta_failed=i // 2,
        )
        for scope, element in (("workflow", workflow), ("step", step), ("campaign", campaign))
        for i in range(4)
    )
    if archive_dir is not None:
        _archive_log(workflow, archive_dir)
    alarm = alarms.raise_alarm(
        workflow,
        "workflow-failure-fraction",
        "warning",
        "3 of 24 finished quanta failed (12.5%)",
        variable="failure_fraction",
        algorithm="upper_limit",
        value=0.125,
        warning_limit=0.05,
        error_limit=0.2,
        details={
            "plot": "bar",
            "title": "Failed fraction per task",
            "x_label": "task",
            "y_label": "failed fraction",
            "series": [{"label": "failed fraction", "x": ["isr", "calibrate"], "y": [0, 0.375]}],
            "note": "",
        },
    )
    return World(campaign, step, group, workflow, alarm)


def _archive_log(workflow: Workflow, root) -> None:
    folder = root / workflow.path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calibrate_3.log").write_text("MockAlgorithmError: Simulated failure\n")
    name = f"{workflow.path}/calibrate_3.log"
    Workflow.objects.filter(pk=workflow.pk).update(archived_files=[name])
    workflow.archived_files = [name]
