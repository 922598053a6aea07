"""launchGroup / retryGroup, checkWorkflowStatus and the rollup, against a scripted WMS."""

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import ArchivedConfig, FailedQuantum, PollRun, TaskLabelCount, Workflow
from campaigns.services import launch, polling
from campaigns.services.rollup import derived_status
from campaigns.services.status import transition
from campaigns.states import Status
from campaigns.wms.base import FailedQuantumReport, RunReport, RunState, TaskCounts, WmsUnavailable
from tests.builders import make_campaign, make_group, make_step

pytestmark = pytest.mark.django_db


def ready_group(step=None, **overrides):
    step = step or make_step(make_campaign(), wms="scripted", bps={"requestMemory": 2048})
    group = make_group(step, **overrides)
    transition(group, Status.READY, reason="test")
    if step.status == Status.WAITING:
        transition(step, Status.READY, reason="test")
    return group


def launched(group, operator) -> Workflow:
    workflow = launch.request_launch(group, user=operator, reason="go")
    return launch.process_launch(workflow.pk)


def report(state, *, succeeded=2, failed=0, init_failed=False, quanta=()):
    tasks = [TaskCounts("isr", expected=succeeded + failed, succeeded=succeeded, failed=failed)]
    return RunReport(state=state, tasks=tasks, init_failed=init_failed, failed_quanta=list(quanta))


# --- rollup rules ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        (["running", "succeeded"], Status.RUNNING),
        (["succeeded", "accepted"], Status.SUCCEEDED),
        (["succeeded", "reviewable"], Status.REVIEWABLE),
        (["failed", "failed"], Status.FAILED),
        (["failed", "succeeded"], Status.REVIEWABLE),
        (["blocked", "succeeded"], Status.BLOCKED),
        (["ready", "succeeded"], Status.RUNNING),
        (["ready", "waiting"], None),
        (["superseded", "succeeded"], Status.SUCCEEDED),
        (["rejected"], None),
    ],
)
def test_a_parent_status_derives_from_its_children(children, expected):
    assert derived_status(children) == expected


# --- launch -----------------------------------------------------------------------


def test_launch_renders_archives_and_submits_the_groups_next_attempt(scripted_wms, operator):
    group = ready_group()
    workflow = launched(group, operator)
    assert workflow.status == Status.RUNNING and workflow.wms_id == "run-1"
    group.refresh_from_db()
    assert group.status == Status.RUNNING
    config = ArchivedConfig.objects.get(pk=workflow.submit_config_id)
    assert config.kind == "bps_submit"
    rendered = yaml.safe_load(config.content)
    assert rendered["payload"]["inCollection"] == group.input_collection
    assert rendered["payload"]["outputRun"] == workflow.output_run
    assert rendered["payload"]["dataQuery"] == "(instrument = 'DemoCam') AND (detector IN (0, 1))"
    assert rendered["requestMemory"] == 2048


def test_every_workflow_of_a_step_differs_only_by_collections_names_and_query(
    scripted_wms, operator
):
    first = ready_group()
    second = ready_group(first.step, data_query="detector IN (2, 3)")
    a, b = (yaml.safe_load(launched(g, operator).submit_config.content) for g in (first, second))
    different = {k for k in a if a[k] != b[k]} | {
        "payload." + k for k in a["payload"] if a["payload"][k] != b["payload"][k]
    }
    assert different == {
        "payload",
        "submitPath",
        "payload.payloadName",
        "payload.inCollection",
        "payload.dataQuery",
        "payload.outputRun",
    }


def test_processing_a_launch_twice_submits_once(scripted_wms, operator):
    workflow = launched(ready_group(), operator)
    launch.process_launch(workflow.pk)
    assert len(scripted_wms.submitted) == 1


def test_a_launch_whose_submission_failed_stays_prepared_and_is_submitted_next_time(
    scripted_wms, operator, monkeypatch
):
    group = ready_group()
    workflow = launch.request_launch(group, user=operator, reason="go")

    def refuse(self, config):
        raise WmsUnavailable("WMS down")

    submit = scripted_wms.submit
    monkeypatch.setattr(scripted_wms, "submit", refuse)
    with pytest.raises(WmsUnavailable):
        launch.process_launch(workflow.pk)
    assert Workflow.objects.get(pk=workflow.pk).status == Status.PREPARED
    monkeypatch.setattr(scripted_wms, "submit", submit)
    scripted_wms_again = launch.process_launch(workflow.pk)
    assert scripted_wms_again.status == Status.RUNNING
    assert launch.pending_launches() == []


def test_launch_is_refused_for_a_waiting_group(scripted_wms, operator):
    group = make_group(make_step(make_campaign(), wms="scripted"))
    from campaigns.errors import TransitionError

    with pytest.raises(TransitionError):
        launch.request_launch(group, user=operator, reason="too early")
    assert not Workflow.objects.exists()


# --- poll ---------------------------------------------------------------------------


def test_a_clean_run_rolls_up_to_group_and_step(scripted_wms, operator):
    workflow = launched(ready_group(), operator)
    scripted_wms.answers["run-1"] = report(RunState.SUCCEEDED, succeeded=3)
    run = polling.poll()
    assert (run.checked, run.changed, run.failed) == (1, 1, 0)
    workflow.refresh_from_db()
    assert workflow.status == Status.SUCCEEDED and workflow.quanta_succeeded == 3
    group = workflow.group
    group.refresh_from_db()
    assert group.status == Status.SUCCEEDED and group.quanta_succeeded == 3
    step = group.step
    step.refresh_from_db()
    assert step.status == Status.SUCCEEDED and step.quanta_succeeded == 3
    assert TaskLabelCount.objects.get(workflow=workflow).quanta_succeeded == 3


def test_partial_failure_is_reviewable_with_its_failed_quanta(scripted_wms, operator):
    workflow = launched(ready_group(), operator)
    failed = FailedQuantumReport("isr", {"detector": 1, "exposure": 1}, "ValueError", "boom")
    scripted_wms.answers["run-1"] = report(RunState.FAILED, succeeded=1, failed=1, quanta=[failed])
    polling.poll()
    workflow.refresh_from_db()
    assert workflow.status == Status.REVIEWABLE
    quantum = FailedQuantum.objects.get(workflow=workflow)
    assert (quantum.data_id, quantum.error_type, quantum.message) == (
        {"detector": 1, "exposure": 1},
        "ValueError",
        "boom",
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (report(RunState.FAILED, succeeded=0, init_failed=True), Status.FAILED),
        (report(RunState.HELD), Status.BLOCKED),
        (report(RunState.CANCELLED), Status.FAILED),
        (report(RunState.RUNNING), Status.RUNNING),
    ],
)
def test_wms_states_map_to_cm_statuses(scripted_wms, operator, answer, expected):
    workflow = launched(ready_group(), operator)
    scripted_wms.answers["run-1"] = answer
    polling.poll()
    assert Workflow.objects.get(pk=workflow.pk).status == expected


@pytest.mark.parametrize("fault", [WmsUnavailable("timeout"), SystemExit(255), RuntimeError("bug")])
def test_a_wms_fault_changes_no_status_and_backs_off(scripted_wms, operator, fault):
    workflow = launched(ready_group(), operator)
    scripted_wms.answers["run-1"] = fault
    run = polling.poll()
    assert (run.checked, run.failed, run.changed) == (1, 1, 0)
    after = Workflow.objects.get(pk=workflow.pk)
    assert after.status == Status.RUNNING and after.poll_failures == 1
    assert after.next_check_at > run.started_at
    assert polling.poll().checked == 0  # backing off: not asked again yet


def test_repeated_faults_raise_one_alarm_that_clears_when_the_wms_answers(scripted_wms, operator):
    from campaigns.models import Alarm

    workflow = launched(ready_group(), operator)
    scripted_wms.answers["run-1"] = WmsUnavailable("auth failed")

    def poll_now():
        Workflow.objects.filter(pk=workflow.pk).update(next_check_at=None)
        polling.poll()

    for _ in range(polling.ALARM_AFTER - 1):
        poll_now()
    assert not Alarm.objects.exists()
    poll_now()
    poll_now()  # still failing: the same alarm, refreshed
    alarm = Alarm.objects.get()
    assert (alarm.kind, alarm.severity, alarm.element) == ("wms-unreachable", "error", workflow)
    assert alarm.message.startswith(f"the WMS could not be asked {polling.ALARM_AFTER + 1} times")
    assert alarm.message.endswith("last: auth failed")
    assert Workflow.objects.get(pk=workflow.pk).status == Status.RUNNING

    scripted_wms.answers["run-1"] = report(RunState.RUNNING)
    poll_now()
    alarm.refresh_from_db()
    assert alarm.cleared_at is not None


def test_every_pass_is_recorded(scripted_wms):
    polling.poll()
    assert PollRun.objects.get().finished_at is not None


def test_poll_query_count_does_not_grow_with_workflows(scripted_wms, operator):
    def poll_queries(count: int) -> int:
        Workflow.objects.update(status=Status.SUCCEEDED)  # only the new ones are due
        for _ in range(count):
            workflow = launched(ready_group(), operator)
            scripted_wms.answers[workflow.wms_id] = report(RunState.RUNNING)
        with CaptureQueriesContext(connection) as captured:
            polling.poll()
        return len(captured)

    assert poll_queries(2) == poll_queries(12)


# --- retry --------------------------------------------------------------------------


def test_retry_makes_a_new_attempt_skipping_what_the_first_did(scripted_wms, operator):
    group = ready_group()
    first = launched(group, operator)
    Workflow.objects.filter(pk=first.pk).update(run_registered_at=first.created_at)
    scripted_wms.answers["run-1"] = report(RunState.FAILED, succeeded=1, failed=1)
    polling.poll()
    group.refresh_from_db()
    assert group.status == Status.REVIEWABLE

    second = launch.request_launch(
        group, user=operator, reason="retry", overrides={"requestMemory": 8192}
    )
    second = launch.process_launch(second.pk)
    assert second.attempt == 2
    assert Workflow.objects.get(pk=first.pk).status == Status.SUPERSEDED
    rendered = yaml.safe_load(second.submit_config.content)
    assert rendered["extraQgraphOptions"] == f"--skip-existing-in {first.output_run}"
    assert rendered["requestMemory"] == 8192
    scripted_wms.answers[second.wms_id] = report(RunState.SUCCEEDED)
    polling.poll()
    group.refresh_from_db()
    assert group.status == Status.SUCCEEDED


# --- tasks, lock and command line ---------------------------------------------------------


def test_the_celery_tasks_launch_and_poll(scripted_wms, operator):
    from campaigns.tasks import process_launches
    from monitoring.tasks import check_workflow_status

    group = ready_group()
    launch.request_launch(group, user=operator, reason="go")
    assert process_launches() == 1
    workflow = Workflow.objects.get(group=group)
    scripted_wms.answers[workflow.wms_id] = report(RunState.SUCCEEDED)
    run = PollRun.objects.get(pk=check_workflow_status())
    assert run.changed == 1
    assert Workflow.objects.get(pk=workflow.pk).status == Status.SUCCEEDED


def test_a_periodic_job_runs_in_one_process_at_a_time():
    from cm_site.locks import single_run

    with single_run("job") as first, single_run("job") as second:
        assert first and not second
    with single_run("job") as again:
        assert again


def test_cli_launch_and_retry(scripted_wms, operator, capsys):
    from django.core.management import CommandError, call_command

    group = ready_group()
    with pytest.raises(CommandError, match="only failed or reviewable groups retry"):
        call_command("cm", "retry", group.path, "--reason", "x", "--as", "olivia")
    call_command(
        "cm",
        "launch",
        group.path,
        "--reason",
        "x",
        "--as",
        "olivia",
        "--override",
        "requestMemory=4096",
    )
    assert f"requested {group.path}/attempt_1" in capsys.readouterr().out
    call_command("cm", "process-launches")
    assert "running (scripted run-1)" in capsys.readouterr().out
    assert Workflow.objects.get(group=group).overrides == {"requestMemory": 4096}


# --- error classification, automatic retries, the PanDA archive ------------------------------


def test_the_error_table_classifies_by_pattern():
    from campaigns.services.classify import classify

    assert classify("RuntimeError", "worker lost heartbeat on node 7").name == "worker-lost"
    assert classify("FieldValidationError", "bad value").action == "fail"
    assert classify("ValueError", "anything else").flavor == "pipelines"


def test_a_malformed_error_table_is_refused_clearly(tmp_path):
    from campaigns.errors import CampaignError
    from campaigns.services.classify import rules

    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {name: x, pattern: '(', flavor: weather, action: retry}\n")
    with pytest.raises(
        CampaignError, match=r"(?s)rules.yaml.*rules.0.pattern.*regular expression.*rules.0.flavor"
    ):
        rules(str(bad))


def infrastructure_failure(scripted_wms, workflow):
    lost = FailedQuantumReport("isr", {"detector": 1}, "RuntimeError", "worker lost heartbeat")
    scripted_wms.answers[workflow.wms_id] = report(
        RunState.FAILED, succeeded=1, failed=1, quanta=[lost]
    )


def test_transient_infrastructure_errors_are_retried_automatically_up_to_the_limit(
    scripted_wms, operator
):
    from django.contrib.contenttypes.models import ContentType

    from campaigns.models import Group, StatusChange

    group = ready_group()
    first = launched(group, operator)
    infrastructure_failure(scripted_wms, first)
    polling.poll()
    quantum = FailedQuantum.objects.get(workflow=first)
    assert (quantum.rule, quantum.flavor, quantum.action) == (
        "worker-lost",
        "infrastructure",
        "retry",
    )
    retry = Workflow.objects.get(group=group, attempt=2)
    assert retry.status == Status.LAUNCH_REQUESTED and retry.auto_retry_rule == "worker-lost"
    history = StatusChange.objects.filter(
        content_type=ContentType.objects.get_for_model(Group),  # ids repeat across levels
        object_id=group.pk,
        to_status=Status.LAUNCH_REQUESTED,
    )
    assert history.latest("at").reason.startswith("automatic retry: error rule worker-lost")
    assert history.latest("at").user is None  # cm did it

    for attempt in (2, 3):  # the rule allows 2 automatic retries
        workflow = launch.process_launch(Workflow.objects.get(group=group, attempt=attempt).pk)
        infrastructure_failure(scripted_wms, workflow)
        polling.poll()
    assert Workflow.objects.filter(group=group).count() == 3
    group.refresh_from_db()
    assert group.status == Status.REVIEWABLE  # now a person decides


def test_pipeline_errors_wait_for_a_person(scripted_wms, operator):
    group = ready_group()
    first = launched(group, operator)
    bug = FailedQuantumReport("isr", {"detector": 1}, "ValueError", "negative flux")
    scripted_wms.answers[first.wms_id] = report(
        RunState.FAILED, succeeded=1, failed=1, quanta=[bug]
    )
    polling.poll()
    assert Workflow.objects.filter(group=group).count() == 1


def test_finished_attempts_files_go_to_the_panda_archive(
    scripted_wms, operator, settings, tmp_path
):
    from pathlib import Path

    workflow = launched(ready_group(), operator)
    log = tmp_path / "bps.log"
    log.write_text("all good\n")
    answer = report(RunState.SUCCEEDED)
    answer.files = [log, tmp_path / "missing.json"]
    scripted_wms.answers[workflow.wms_id] = answer
    polling.poll()
    workflow.refresh_from_db()
    assert workflow.archived_files == [f"{workflow.path}/bps.log"]
    kept = Path(settings.CM_PANDA_ARCHIVE_DIR) / workflow.archived_files[0]
    assert kept.read_text() == "all good\n"


# --- automation -----------------------------------------------------------------------


def test_an_automated_campaign_runs_to_accepted_with_no_person(scripted_wms):
    from campaigns.models import Campaign, Group, Step
    from campaigns.services.automation import advance
    from campaigns.tasks import process_launches

    campaign = make_campaign(spec={"auto_launch": True, "auto_accept": True})
    transition(campaign, Status.READY, reason="test")
    step1 = make_step(campaign, wms="scripted")
    step2 = make_step(campaign, wms="scripted", status=Status.WAITING)
    step2.prerequisites.add(step1)
    transition(step1, Status.READY, reason="test")
    transition(make_group(step1), Status.READY, reason="test")
    make_group(step2)

    assert advance()["launched"] == 1  # step1's group
    launched_by_round = []
    for _ in range(2):  # a round: submit, the WMS finishes, poll, advance
        process_launches()
        for workflow in Workflow.objects.filter(status=Status.RUNNING):
            scripted_wms.answers[workflow.wms_id] = report(RunState.SUCCEEDED)
        polling.poll()
        launched_by_round.append(advance()["launched"])
    assert launched_by_round == [1, 0]  # accepting step1 released and launched step2's group

    assert set(Group.objects.values_list("status", flat=True)) == {Status.ACCEPTED}
    assert set(Step.objects.values_list("status", flat=True)) == {Status.ACCEPTED}
    assert Campaign.objects.get(pk=campaign.pk).status == Status.ACCEPTED


def test_without_automation_nothing_launches_by_itself(scripted_wms):
    from campaigns.services.automation import advance

    ready_group()
    assert advance() == {"accepted": 0, "launched": 0}


def test_a_refused_submission_fails_the_launch(scripted_wms, operator, monkeypatch):
    from campaigns.wms.base import WmsRefused

    group = ready_group()
    workflow = launch.request_launch(group, user=operator, reason="go")

    def refuse(self, config):
        raise WmsRefused("empty quantum graph")

    monkeypatch.setattr(scripted_wms, "submit", refuse)
    with pytest.raises(WmsRefused):
        launch.process_launch(workflow.pk)
    assert Workflow.objects.get(pk=workflow.pk).status == Status.FAILED
    group.refresh_from_db()
    assert group.status == Status.FAILED
    assert launch.pending_launches() == []


def test_the_poll_keeps_each_jobs_state_through_the_status_table(scripted_wms, operator):
    from campaigns.models import Job, StatusChange
    from campaigns.wms.base import JobReport

    workflow = launched(ready_group(), operator)
    jobs = [
        JobReport("pipetaskInit", "1", ["pipetaskInit"], RunState.SUCCEEDED, attempts=1),
        JobReport("isr_0", "2", ["isr"], RunState.RUNNING, attempts=1),
        JobReport("isr_1", "3", ["isr"], RunState.PENDING),
    ]
    answer = report(RunState.RUNNING)
    answer.jobs = jobs
    scripted_wms.answers[workflow.wms_id] = answer
    polling.poll()
    assert dict(Job.objects.values_list("name", "status")) == {
        "pipetaskInit": Status.SUCCEEDED,
        "isr_0": Status.RUNNING,
        "isr_1": Status.READY,
    }

    jobs[1] = JobReport("isr_0", "2", ["isr"], RunState.FAILED, attempts=2, error="boom")
    jobs[2] = JobReport("isr_1", "3", ["isr"], RunState.SUCCEEDED, attempts=1)
    Workflow.objects.filter(pk=workflow.pk).update(next_check_at=None)
    polling.poll()
    failed = Job.objects.get(name="isr_0")
    assert (failed.status, failed.attempts, failed.error) == (Status.FAILED, 2, "boom")
    done = Job.objects.get(name="isr_1")
    moves = StatusChange.objects.filter(object_id=done.pk, content_type__model="job")
    assert [m.to_status for m in moves.order_by("at", "id")] == ["ready", "running", "succeeded"]


def test_cli_and_admin_actions_are_audited(operator, admin_client):
    from django.core.management import call_command

    from campaigns.models import AuditEntry
    from tests.page_world import build_world

    world = build_world(1)
    group = world.failed_group
    call_command("cm", "retry", group.path, "--as", operator.username, "--reason", "from the shell")
    entry = AuditEntry.objects.get(action="retry")
    assert (entry.via, entry.result, entry.user) == ("cli", "ok", operator)
    assert entry.parameters["attempt"] == 2
    admin_client.post(
        "/admin/campaigns/step/",
        {"action": "validate", "_selected_action": [world.step.pk]},
    )
    refused = AuditEntry.objects.get(action="validate")
    assert (refused.via, refused.result) == ("admin", "refused")  # its groups are not settled
