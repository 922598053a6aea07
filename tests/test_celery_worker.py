"""A real Celery worker and beat against Redis: launches and polls happen on their own, and a
worker killed in the middle of a poll pass loses nothing.

The worker is a subprocess (``celery -A cm_site worker --beat``, or a worker and a ``celery beat``)
on the test's own database, which is why these tests commit their rows (``transaction=True``),
with the beat every second. Its WMS is PanDA: the real client code talking to the fake PanDA
server in this process.
"""

import os
import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from campaigns.models import (
    Campaign,
    Group,
    PollRun,
    Production,
    StatusChange,
    Step,
    Workflow,
)
from campaigns.services import launch
from campaigns.services.status import transition
from campaigns.states import Status
from cm_site.locks import single_run
from tests.builders import make_campaign, make_group, make_production, make_step, make_workflow
from tests.celery_helpers import (
    REPO_ROOT,
    Worker,
    backends_of_others,
    database_url,
    logs,
    redis_broker,
    start_beat,
    start_worker,
    wait_for,
)
from tests.fake_panda import FakePanda

pytest_plugins = ["tests.fake_panda"]  # the fake_panda fixture
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

POLL_LOCK = "check-workflow-status"
LABELS = {"pipetaskInit": 1, "isr": 2, "finalJob": 1}


@pytest.fixture
def worker_env(transactional_db, settings, fake_panda, demo_butler, tmp_path) -> dict[str, str]:
    """What a worker needs to share this test's database, directories, butler and PanDA."""
    settings.VAR_DIR = tmp_path / "var"  # the SQLite lock files: the worker's and this test's
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cm_site.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": redis_broker(),
        "CM_POLL_SECONDS": "1",
        "CM_LAUNCH_SECONDS": "1",
        "CM_VAR_DIR": str(settings.VAR_DIR),
        "CM_LAUNCH_DIR": str(settings.CM_LAUNCH_DIR),
        "CM_YAML_ARCHIVE_DIR": str(settings.CM_YAML_ARCHIVE_DIR),
        "CM_PANDA_ARCHIVE_DIR": str(settings.CM_PANDA_ARCHIVE_DIR),
        "CM_BUTLER_REPOSITORIES": f"demo={demo_butler}",
        "CM_PANDA_TIMEOUT": "20",
        "PYTHONPATH": str(REPO_ROOT),  # `pipetask qgraph` imports the demo pipeline's tasks
        **fake_panda.env(PANDA_CONFIG_ROOT=str(tmp_path / "pathena")),
    }


@pytest.fixture
def workers(worker_env, tmp_path):
    """Start workers with ``workers.start()``; every one is killed at the end, whatever happens
    (before the database is flushed: this fixture needs the database fixture)."""
    started = Workers(worker_env, tmp_path)
    yield started
    for worker in started.running:
        worker.kill()
    print(logs(started.running))  # pytest shows it when the test failed
    # A killed worker's sessions end when PostgreSQL sees its sockets close; the flush waits.
    deadline = time.monotonic() + 10
    while backends_of_others(connection) and time.monotonic() < deadline:
        time.sleep(0.1)


class Workers:
    """The workers (and beats) a test started: ``start()`` one, ``start(beat=False)`` plus
    ``start_beat()`` for the two in separate processes."""

    def __init__(self, env: dict[str, str], logs_dir) -> None:
        self.env, self.logs_dir, self.running = env, logs_dir, []

    def start(self, *, beat: bool = True) -> Worker:
        log = self.logs_dir / f"worker-{len(self.running) + 1}.log"
        return self._started(start_worker(self.env, log, beat=beat))

    def start_beat(self) -> Worker:
        return self._started(start_beat(self.env, self.logs_dir / f"beat-{len(self.running)}.log"))

    def _started(self, worker: Worker) -> Worker:
        self.running.append(worker)
        return worker


def finish(fake: FakePanda, request_id: int) -> None:
    """Every job of the request succeeded."""
    tasks = fake.requests[request_id].tasks
    done = {task.label: {"status": "Finished", "processed": task.total} for task in tasks}
    fake.set_state(request_id, "Finished", **done)


def status_of(model, pk: int) -> str:
    return model.objects.values_list("status", flat=True).get(pk=pk)


def history_disagreements() -> list[str]:
    """Elements whose status is not the ``to_status`` of their latest history row."""
    wrong = []
    for model in (Production, Campaign, Step, Group, Workflow):
        content_type = ContentType.objects.get_for_model(model)
        for pk, status in model.objects.values_list("pk", "status"):
            latest = (
                StatusChange.objects.filter(content_type=content_type, object_id=pk)
                .order_by("-at", "-id")
                .values_list("to_status", flat=True)
                .first()
            )
            if latest != status:
                wrong.append(f"{model.__name__} {pk}: {status}, history says {latest}")
    return wrong


def lock_is_free(name: str) -> bool:
    with single_run(name) as held:
        return held


# --- (c) launch and poll, driven by the beat ------------------------------------------------


def test_the_beat_launches_a_requested_group_and_polls_it_to_success(workers, fake_panda):
    step = make_step(make_campaign(), wms="panda")
    group = make_group(
        step, input_collection="demo/raw", data_query="exposure = 1 AND detector IN (0, 1)"
    )
    transition(group, Status.READY, reason="test")
    transition(step, Status.READY, reason="test")
    worker = workers.start()

    workflow = launch.request_launch(group, user=None, reason="integration test")

    def submitted() -> Workflow | None:
        current = Workflow.objects.get(pk=workflow.pk)
        if current.status == Status.FAILED:
            pytest.fail(f"the launch failed: {current.status_reason}\n{logs([worker])}")
        return current if current.status == Status.RUNNING else None

    running = wait_for(submitted, what="the launch to be submitted", workers=[worker])
    assert running.wms_id, "a running workflow carries the WMS's id"
    request_id = int(running.wms_id)
    assert request_id in fake_panda.requests
    assert fake_panda.commands().count("submit") == 1, "submitted once, beat every second or not"
    assert status_of(Group, group.pk) == Status.RUNNING

    finish(fake_panda, request_id)
    wait_for(
        lambda: status_of(Workflow, workflow.pk) == Status.SUCCEEDED,
        what="the poll to see the run finished",
        workers=[worker],
    )
    wait_for(
        lambda: status_of(Group, group.pk) == Status.SUCCEEDED,
        what="the group to roll up to succeeded",
        workers=[worker],
    )
    done = Workflow.objects.get(pk=workflow.pk)
    # isr on 2 detectors; pipetaskInit and finalJob are jobs, not quanta (though the run's
    # name, .../attempt_1, ends in digits: ctrl_bps_panda then reports them as 01_pipetaskInit).
    assert done.quanta_succeeded == done.quanta_expected == 2
    assert list(done.task_counts.values_list("task_label", flat=True)) == ["isr"]
    wait_for(  # the pass's record is finished after the butler side of the change
        lambda: PollRun.objects.filter(finished_at__isnull=False, changed=1).exists(),
        what="the pass that saw the change to be recorded as finished",
        workers=[worker],
    )
    log = worker.tail(10_000)
    assert "Sending due task process-launches" in log, "the beat sent the launches"
    assert "Sending due task check-workflow-status" in log, "the beat sent the polls"
    assert history_disagreements() == []


# --- (d) a worker killed in the middle of a poll pass ---------------------------------------


def running_workflows(fake: FakePanda, tmp_path, count: int) -> list[Workflow]:
    """``count`` groups of one step, each with a workflow running in (fake) PanDA."""
    production = make_production(status=Status.RUNNING)
    campaign = make_campaign(production, status=Status.RUNNING)
    step = make_step(campaign, wms="panda", status=Status.RUNNING)
    workflows = []
    for number in range(count):
        group = make_group(step, status=Status.RUNNING)
        request_id = fake.add_request(f"run{number}", LABELS)
        fake.set_state(request_id, "Transforming")
        workflows.append(
            make_workflow(
                group,
                status=Status.RUNNING,
                wms="panda",
                wms_id=str(request_id),
                submit_dir=str(tmp_path / f"submit{number}"),
            )
        )
    return workflows


def test_a_worker_killed_mid_poll_loses_nothing_and_the_next_worker_finishes(
    workers, fake_panda, tmp_path
):
    workflows = running_workflows(fake_panda, tmp_path, 6)
    early, late = workflows[:3], workflows[3:]
    for workflow in early:
        finish(fake_panda, int(workflow.wms_id))
    first = workers.start()

    def statuses(batch) -> set[str]:
        return set(
            Workflow.objects.filter(pk__in=[w.pk for w in batch]).values_list("status", flat=True)
        )

    wait_for(
        lambda: statuses(early) == {Status.SUCCEEDED},
        what="a pass to see the first three runs finished",
        workers=[first],
    )

    # From now on PanDA never answers: the next pass hangs in the middle, holding the lock.
    seen = len(fake_panda.log)
    fake_panda.fail("get_requests", "hang")
    wait_for(
        lambda: "get_requests" in [entry.command for entry in fake_panda.log[seen:]],
        what="a pass to ask PanDA (and hang)",
        workers=[first],
    )
    interrupted = wait_for(
        lambda: PollRun.objects.filter(finished_at__isnull=True).first(),
        what="the hanging pass's PollRun",
        workers=[first],
    )
    assert not lock_is_free(POLL_LOCK), "the hanging pass holds the poll lock"

    first.kill()
    killed_at = timezone.now()

    # Nothing half-done: the finished runs stay succeeded, the others running, and every
    # element's status is the one its history ends with.
    assert statuses(early) == {Status.SUCCEEDED}
    assert statuses(late) == {Status.RUNNING}
    for workflow in workflows:
        assert status_of(Group, workflow.group_id) == status_of(Workflow, workflow.pk)
    assert history_disagreements() == []
    interrupted.refresh_from_db()
    assert interrupted.finished_at is None, "an interrupted pass is recorded as never finished"
    assert list(PollRun.objects.filter(finished_at__isnull=True)) == [interrupted]
    wait_for(
        lambda: lock_is_free(POLL_LOCK),
        what="the dead worker's lock to be released",
        workers=[],
        timeout=10,
    )

    # A new worker's next pass brings everything where it belongs.
    fake_panda.heal()
    for workflow in late:
        finish(fake_panda, int(workflow.wms_id))
    second = workers.start(beat=False)  # this time the beat is a process of its own
    beat = workers.start_beat()
    wait_for(
        lambda: statuses(workflows) == {Status.SUCCEEDED},
        what="the new worker's pass to see every run finished",
        workers=[second, beat],
    )
    wait_for(
        lambda: status_of(Step, workflows[0].group.step_id) == Status.SUCCEEDED,
        what="the step to roll up to succeeded",
        workers=[second, beat],
    )
    assert set(Group.objects.values_list("status", flat=True)) == {Status.SUCCEEDED}
    assert history_disagreements() == []
    after = PollRun.objects.filter(started_at__gt=killed_at, finished_at__isnull=False)
    wait_for(
        lambda: sum(after.values_list("changed", flat=True)) == len(late),
        what="the new worker's passes to be recorded as finished",
        workers=[second, beat],
    )
    interrupted.refresh_from_db()
    assert interrupted.finished_at is None
    succeeded = StatusChange.objects.filter(
        content_type=ContentType.objects.get_for_model(Workflow), to_status=Status.SUCCEEDED
    )
    assert succeeded.count() == len(workflows), "each run succeeded once, not once per worker"
