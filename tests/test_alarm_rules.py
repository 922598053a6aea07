"""Alarm rules: each metric, the alarm life cycle, counts for the pages, bad files, cost, CLI."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Alarm, Group, ProgressSample, Workflow
from campaigns.services.alarms import acknowledge, raise_alarm
from campaigns.states import Status
from monitoring import rules
from tests.builders import make_group, make_job, make_task_count, make_workflow

pytestmark = pytest.mark.django_db


def attempt(status=Status.RUNNING, group=None, **fields) -> Workflow:
    """A group's current attempt, submitted (so judged), with these counts."""
    return make_workflow(group or make_group(), status=status, **fields)


def alarm_of(kind: str, element) -> Alarm:
    return Alarm.objects.get(kind=kind, object_id=element.pk, cleared_at__isnull=True)


def open_kinds(element) -> set[str]:
    content_type = ContentType.objects.get_for_model(type(element))
    found = Alarm.objects.filter(
        content_type=content_type, object_id=element.pk, cleared_at__isnull=True
    )
    return set(found.values_list("kind", flat=True))


def minutes_ago(minutes: float):
    return timezone.now() - timedelta(minutes=minutes)


# --- each metric ------------------------------------------------------------------------


def test_failure_fraction_opens_an_error_with_a_bar_per_task_label():
    workflow = attempt(Status.REVIEWABLE, quanta_succeeded=70, quanta_failed=30)
    make_task_count(workflow, task_label="calibrate", quanta_succeeded=20, quanta_failed=30)
    make_task_count(workflow, task_label="isr", quanta_succeeded=50)
    counts = rules.evaluate()
    alarm = alarm_of("workflow-failure-fraction", workflow)
    assert (alarm.severity, alarm.value, alarm.variable) == ("error", 0.3, "failure_fraction")
    assert (alarm.algorithm, alarm.warning_limit, alarm.error_limit) == ("upper_limit", 0.05, 0.2)
    assert alarm.message == (
        "failure_fraction = 0.3, above the error limit 0.2 (30 of 100 finished quanta failed)"
    )
    assert (alarm.group_id, alarm.campaign_id) == (
        workflow.group_id,
        workflow.group.step.campaign_id,
    )
    assert alarm.rules_version == rules.load_rules().version
    assert alarm.rules_version.startswith("2@")
    assert alarm.details == {
        "plot": "bar",
        "title": "Failed fraction per task label",
        "x_label": "task label",
        "y_label": "fraction",
        "series": [{"label": "failed fraction", "x": ["calibrate", "isr"], "y": [0.6, 0.0]}],
        "note": "Share of the attempt's finished quanta that failed. "
        "Limits: warning above 0.05, error above 0.2.",
    }
    assert counts["raised"] >= 1 and counts["error"] >= 1


def test_a_failure_fraction_between_the_limits_is_a_warning():
    workflow = attempt(Status.REVIEWABLE, quanta_succeeded=90, quanta_failed=10)
    rules.evaluate()
    assert alarm_of("workflow-failure-fraction", workflow).severity == "warning"


def test_too_little_statistics_is_undefined():
    workflow = attempt(quanta_succeeded=2, quanta_failed=2)
    rules.evaluate()
    alarm = alarm_of("workflow-failure-fraction", workflow)
    assert (alarm.severity, alarm.value) == ("undefined", 0.5)
    assert alarm.message == "failure_fraction not judged: 4 finished quanta, 5 needed"
    group_alarm = alarm_of("group-failure-fraction", workflow.group)  # the group has no counts
    assert group_alarm.message == "failure_fraction not judged: no finished quanta yet"
    assert group_alarm.value is None


def test_the_demo_forced_failure_3_of_6_quanta_is_an_error_not_undefined():
    # The demo's groups have 6 quanta; its forced failure fails 3 of them (docs/alarms.md).
    group = make_group(quanta_expected=6, quanta_succeeded=3, quanta_failed=3)
    workflow = attempt(
        Status.REVIEWABLE, group=group, quanta_expected=6, quanta_succeeded=3, quanta_failed=3
    )
    rules.evaluate()
    for kind, element in (
        ("workflow-failure-fraction", workflow),
        ("group-failure-fraction", group),
    ):
        alarm = alarm_of(kind, element)
        assert (alarm.severity, alarm.value) == ("error", 0.5), alarm.message


def test_no_progress_counts_from_the_latest_sample_with_a_line_of_quanta_succeeded():
    workflow = attempt(quanta_succeeded=40)
    Workflow.objects.filter(pk=workflow.pk).update(status_since=minutes_ago(500))
    for minutes, done in ((400, 10), (90, 40)):
        ProgressSample.objects.create(
            scope="workflow", object_id=workflow.pk, at=minutes_ago(minutes), quanta_succeeded=done
        )
    rules.evaluate()
    alarm = alarm_of("workflow-no-progress", workflow)
    assert alarm.severity == "warning" and 89.9 <= alarm.value <= 90.1
    assert alarm.details["plot"] == "line"
    series = alarm.details["series"][0]
    assert series["y"] == [10, 40] and series["x"][0].startswith(str(minutes_ago(400).year))


def test_no_progress_falls_back_to_status_since_and_skips_finished_attempts():
    stuck = attempt()
    done = attempt(Status.SUCCEEDED, quanta_expected=5, quanta_succeeded=5)
    Workflow.objects.filter(pk__in=[stuck.pk, done.pk]).update(status_since=minutes_ago(300))
    rules.evaluate()
    assert alarm_of("workflow-no-progress", stuck).severity == "error"
    assert alarm_of("workflow-no-progress", stuck).details["series"][0]["x"] == []
    assert "workflow-no-progress" not in open_kinds(done)


def test_a_workflow_resumed_after_its_last_sample_counts_from_its_resumption():
    workflow = attempt()
    ProgressSample.objects.create(scope="workflow", object_id=workflow.pk, at=minutes_ago(600))
    Workflow.objects.filter(pk=workflow.pk).update(status_since=minutes_ago(5))
    rules.evaluate()
    assert "workflow-no-progress" not in open_kinds(workflow)


def test_held_quanta_or_blocked_jobs_whichever_is_more():
    held = attempt(Status.BLOCKED, quanta_held=3)
    make_task_count(held, task_label="isr", quanta_held=3)
    jobs = attempt(Status.BLOCKED)
    for _ in range(12):
        make_job(jobs, status=Status.BLOCKED, task_labels=["isr", "calibrate"])
    rules.evaluate()
    assert (
        alarm_of("workflow-held-quanta", held).severity,
        alarm_of("workflow-held-quanta", held).value,
    ) == ("warning", 3)
    alarm = alarm_of("workflow-held-quanta", jobs)
    assert (alarm.severity, alarm.value) == ("error", 12)
    assert alarm.details["series"][1] == {
        "label": "blocked jobs",
        "x": ["calibrate", "isr"],
        "y": [12, 12],
    }


def test_missing_outputs_only_on_finished_attempts():
    finished = attempt(Status.SUCCEEDED, quanta_expected=10, quanta_succeeded=8)
    make_task_count(finished, task_label="isr", quanta_expected=10, quanta_succeeded=8)
    running = attempt(quanta_expected=10, quanta_succeeded=8)
    rules.evaluate()
    alarm = alarm_of("workflow-missing-outputs", finished)
    assert (alarm.severity, alarm.value, alarm.error_limit) == ("warning", 2, None)
    assert alarm.details["series"][0] == {"label": "missing outputs", "x": ["isr"], "y": [2]}
    assert "workflow-missing-outputs" not in open_kinds(running)


def test_a_failed_pipetask_init_is_an_error_showing_its_message():
    workflow = attempt(Status.FAILED, quanta_expected=4)
    make_job(workflow, name="pipetaskInit", status=Status.FAILED, error="no such dataset type")
    rules.evaluate()
    alarm = alarm_of("workflow-pipetask-init-failed", workflow)
    assert (alarm.severity, alarm.value) == ("error", 1)
    assert alarm.details["note"].endswith("pipetaskInit error: no such dataset type")
    assert alarm.details["series"][0]["x"] == ["expected", "succeeded", "failed", "held"]


def test_the_pipetask_init_note_quotes_the_start_of_the_failed_jobs_error():
    workflow = attempt(Status.FAILED, quanta_expected=4)
    make_job(workflow, name="pipetaskInit", status=Status.FAILED, error="x" * 1000)
    rules.evaluate()
    note = alarm_of("workflow-pipetask-init-failed", workflow).details["note"]
    assert note.endswith("Limits: error above 0.5. pipetaskInit error: " + "x" * 300)


def test_job_evidence_is_summed_per_list_of_task_labels_not_read_per_job():
    workflow = attempt(Status.BLOCKED)
    for n in range(30):
        make_job(workflow, status=Status.BLOCKED, task_labels=["isr", "calibrate"], max_rss_mb=n)
    for n in range(10):
        make_job(workflow, status=Status.RUNNING, task_labels=["isr"], max_rss_mb=9000 + n)
    make_job(workflow, status=Status.RUNNING, task_labels=["isr"])  # not blocked, not measured
    evidence = rules.gather_evidence({"labels": {workflow.pk}})
    assert len(evidence.labels[workflow.pk]) == 2  # 41 jobs, 2 rows: one per list of labels
    rules.evaluate()
    held = alarm_of("workflow-held-quanta", workflow).details["series"][1]
    assert held == {"label": "blocked jobs", "x": ["calibrate", "isr"], "y": [30, 30]}
    memory = alarm_of("workflow-max-rss", workflow).details["series"][0]
    assert memory == {"label": "peak memory", "x": ["calibrate", "isr"], "y": [29, 9009]}


def test_peak_memory_per_task_label_and_none_reported_is_not_judged():
    workflow = attempt()
    make_job(workflow, task_labels=["isr"], max_rss_mb=5000)
    make_job(workflow, task_labels=["calibrate"], max_rss_mb=9000.4)
    make_job(workflow, task_labels=["isr"])  # not reported
    unmeasured = attempt()
    make_job(unmeasured)
    rules.evaluate()
    alarm = alarm_of("workflow-max-rss", workflow)
    assert (alarm.severity, alarm.value) == ("error", 9000.4)
    assert alarm.details["series"][0] == {
        "label": "peak memory",
        "x": ["calibrate", "isr"],
        "y": [9000.4, 5000],
    }
    assert "workflow-max-rss" not in open_kinds(unmeasured)
    assert rules.check_counts(unmeasured.group)["clean"] == 4  # rss is not one of its checks


def test_a_group_retried_too_often_with_failed_quanta_per_attempt():
    group = make_group()
    for failed in (5, 4, 3):
        attempt(Status.SUPERSEDED, group=group, quanta_failed=failed)
    attempt(Status.RUNNING, group=group, quanta_failed=1)
    rules.evaluate()
    alarm = alarm_of("group-attempts", group)
    assert (alarm.severity, alarm.value, alarm.group_id) == ("error", 4, group.pk)
    assert alarm.details["series"][0] == {
        "label": "failed quanta",
        "x": [1, 2, 3, 4],
        "y": [5, 4, 3, 1],
    }


def test_group_failure_fraction_from_its_rolled_up_counts():
    group = make_group(quanta_succeeded=50, quanta_failed=50)
    attempt(Status.REVIEWABLE, group=group, quanta_succeeded=50, quanta_failed=50)
    rules.evaluate()
    alarm = alarm_of("group-failure-fraction", group)
    assert (alarm.severity, alarm.value) == ("error", 0.5)
    assert alarm.details["series"][0] == {"label": "failed fraction", "x": [1], "y": [0.5]}


def test_lower_limit_rules_are_bad_below_their_limits():
    rule = rules.AlarmRule(
        name="few",
        level="group",
        metric="attempts",
        algorithm="lower_limit",
        warning=3,
        error=1,
        description="x",
    )
    judged = [rule.judge(rules.Measurement(v)) for v in (0, 2, 3, None)]
    assert judged == ["error", "warning", None, "undefined"]


# --- the life of an alarm ---------------------------------------------------------------


def test_a_second_pass_opens_nothing_and_writes_nothing():
    attempt(Status.REVIEWABLE, quanta_succeeded=70, quanta_failed=30)
    first = rules.evaluate()
    opened = Alarm.objects.count()
    again = rules.evaluate()
    assert (again["raised"], again["refreshed"], again["cleared"]) == (0, 0, 0)
    assert Alarm.objects.count() == opened == first["raised"]
    assert {k: again[k] for k in rules.SEVERITIES} == {k: first[k] for k in rules.SEVERITIES}


def test_a_changed_value_refreshes_the_alarm_and_keeps_its_acknowledgement(operator):
    workflow = attempt(Status.REVIEWABLE, quanta_succeeded=90, quanta_failed=10)
    rules.evaluate()
    alarm = alarm_of("workflow-failure-fraction", workflow)
    acknowledge([alarm], user=operator)
    Workflow.objects.filter(pk=workflow.pk).update(quanta_succeeded=60, quanta_failed=40)
    assert rules.evaluate()["refreshed"] == 1
    refreshed = alarm_of("workflow-failure-fraction", workflow)
    assert refreshed.pk == alarm.pk
    assert (refreshed.severity, refreshed.value) == ("error", 0.4)
    assert refreshed.updated_at > alarm.updated_at and refreshed.opened_at == alarm.opened_at
    assert refreshed.acknowledged_by == operator


def test_a_clean_object_has_its_alarm_cleared():
    workflow = attempt(Status.REVIEWABLE, quanta_succeeded=70, quanta_failed=30)
    rules.evaluate()
    Workflow.objects.filter(pk=workflow.pk).update(quanta_succeeded=100, quanta_failed=0)
    assert rules.evaluate()["cleared"] == 1
    alarm = Alarm.objects.get(kind="workflow-failure-fraction", object_id=workflow.pk)
    assert alarm.cleared_at is not None


def test_a_superseded_attempt_and_a_settled_group_have_their_alarms_cleared():
    group = make_group()
    first = attempt(Status.REVIEWABLE, group=group, quanta_succeeded=70, quanta_failed=30)
    rules.evaluate()
    assert "workflow-failure-fraction" in open_kinds(first)
    attempt(Status.LAUNCH_REQUESTED, group=group)  # a retry, not yet submitted
    rules.evaluate()
    assert open_kinds(first) == set()
    Group.objects.filter(pk=group.pk).update(status=Status.ACCEPTED)
    rules.evaluate()
    assert open_kinds(group) == set()
    assert rules.check_counts(group) == dict.fromkeys(rules.SEVERITIES, 0)


def test_alarms_of_a_removed_rule_clear_and_others_alarms_are_left_alone(settings, tmp_path):
    workflow = attempt(Status.REVIEWABLE, quanta_succeeded=70, quanta_failed=30)
    raise_alarm(workflow, "wms-unreachable", "error", "down")
    rules.evaluate()
    only = tmp_path / "rules.yaml"
    only.write_text(RULE.format(name="held", metric="held_quanta", limits="warning: 5"))
    settings.CM_ALARM_RULES = only
    rules.evaluate()
    assert open_kinds(workflow) == {"wms-unreachable"}


# --- counts for the pages ---------------------------------------------------------------


def test_check_counts_are_the_checks_that_apply_by_severity():
    group = make_group()
    workflow = attempt(group=group, quanta_succeeded=90, quanta_failed=10)
    # The workflow: failure (warning), progress, held, pipetaskInit (clean); no memory, not
    # finished. The group: attempts (clean), failure fraction (undefined: no counts).
    assert rules.check_counts(group) == {"error": 0, "warning": 0, "undefined": 0, "clean": 6}
    rules.evaluate()
    assert rules.check_counts(group) == {"error": 0, "warning": 1, "undefined": 1, "clean": 4}
    make_job(workflow, max_rss_mb=9000)
    rules.evaluate()
    assert rules.check_counts(group) == {"error": 1, "warning": 1, "undefined": 1, "clean": 4}
    assert rules.check_counts(make_group()) == dict.fromkeys(rules.SEVERITIES, 0)  # never launched


def test_cm_own_alarms_on_judged_objects_count_as_failed_checks():
    group = make_group()
    old = attempt(Status.SUPERSEDED, group=group)
    current = attempt(Status.REVIEWABLE, group=group, quanta_succeeded=100)
    raise_alarm(current, "wms-unreachable", "error", "down")
    raise_alarm(old, "wms-unreachable", "error", "down")  # not judged: not counted
    rules.evaluate()
    # current: failure fraction, missing outputs, pipetaskInit (clean) and the WMS (error);
    # the group: attempts (clean), failure fraction (undefined: no counts).
    assert rules.check_counts(group) == {"error": 1, "warning": 0, "undefined": 1, "clean": 4}


def test_check_counts_cost_the_same_for_any_number_of_groups():
    def queries(count: int) -> int:
        groups = [attempt(quanta_succeeded=9, quanta_failed=1).group_id for _ in range(count)]
        rules.evaluate()
        with CaptureQueriesContext(connection) as captured:
            counts = rules.check_counts_by_group(groups)
        assert all((c["warning"], c["undefined"]) == (1, 1) for c in counts.values())
        return len(captured)

    assert queries(2) == queries(8)


# --- cost -------------------------------------------------------------------------------


def bad_groups(count: int) -> None:
    """Groups whose current attempt is bad on every metric that has evidence to read."""
    for _ in range(count):
        workflow = attempt(Status.BLOCKED, quanta_succeeded=5, quanta_failed=20, quanta_held=2)
        make_task_count(workflow, task_label="isr", quanta_failed=20, quanta_held=2)
        make_job(workflow, status=Status.BLOCKED, max_rss_mb=9000)
        make_job(workflow, name=f"pipetaskInit{workflow.pk}", status=Status.FAILED)


def test_evaluate_costs_the_same_queries_for_5_or_50_workflows():
    ContentType.objects.get_for_models(Workflow, Group)  # the cache a running process has

    def cost(expect: str, at_least: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            counts = rules.evaluate()
        assert counts[expect] >= at_least, counts
        return len(captured)

    def queries(count: int) -> tuple[int, ...]:
        Alarm.objects.all().delete()
        Workflow.objects.update(status=Status.SUPERSEDED)  # only the new ones are judged
        bad_groups(count)
        opening = cost("raised", 5 * count)
        quiet = cost("error", 3 * count)
        Workflow.objects.filter(status=Status.BLOCKED).update(quanta_failed=F("quanta_failed") + 1)
        refreshing = cost("refreshed", count)
        Workflow.objects.filter(status=Status.BLOCKED).update(status=Status.SUPERSEDED)
        clearing = cost("cleared", 4 * count)
        return opening, quiet, refreshing, clearing

    few, many = queries(5), queries(50)
    assert few == many


# --- bad rules files --------------------------------------------------------------------

RULE = """version: 3
rules:
  - name: {name}
    level: workflow
    metric: {metric}
    algorithm: upper_limit
    {limits}
    description: Something to watch.
"""


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            RULE.format(name="x", metric="failure_rate", limits="warning: 1"),
            5,
            "rules[0].metric: unknown workflow metric 'failure_rate' (known: failure_fraction,",
        ),
        (
            RULE.format(name="x", metric="failure_fraction", limits="warning: 0.5\n    error: 0.1"),
            8,
            "rules[0].error: with upper_limit the error limit must be above the warning 0.5",
        ),
        (
            RULE.format(name="x", metric="failure_fraction", limits="min_statistics: 3"),
            3,
            "rules[0]: give a warning limit, an error limit, or both",
        ),
        (
            RULE.format(name="Bad_Name", metric="held_quanta", limits="warning: 1"),
            3,
            "rules[0].name: 'Bad_Name' is not kebab-case",
        ),
        (
            RULE.format(name="x", metric="held_quanta", limits="warning: high"),
            7,
            "rules[0].warning: Input should be a valid number (got 'high')",
        ),
        (
            RULE.format(name="x", metric="held_quanta", limits="warning: 1\n    limit: 2"),
            8,
            "rules[0].limit: unknown field 'limit' (allowed: algorithm, description, error,",
        ),
        (
            RULE.format(name="x", metric="held_quanta", limits="warning: 1\n    min_statistics: 5"),
            8,
            "rules[0].min_statistics: held_quanta has no statistics",
        ),
        (
            RULE.format(name="x", metric="held_quanta", limits="warning: 1").replace(
                "level: workflow", "level: job"
            ),
            4,
            "rules[0].level: Input should be 'workflow' or 'group'",
        ),
        (
            RULE.format(name="x", metric="held_quanta", limits="warning: 1")
            + RULE.format(name="x", metric="held_quanta", limits="warning: 1").split("rules:\n")[1],
            9,
            "rules[1].name: duplicate rule name 'x' (first in rules[0])",
        ),
        ("rules: []\n", 1, "version: required field is missing"),
        ("version: 1\nrules: []\n", 2, "rules: List should have at least 1 item"),
        ("version: 1\nrules:\n  - name: [x\n", 3, "YAML syntax error"),
        ("version: 1.5\nrules: []\n", 1, "version: Input should be a valid string"),
    ],
)
def test_a_bad_rules_file_names_its_file_line_and_field(tmp_path, text, line, expected):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(rules.RulesError) as raised:
        rules.load_rules(path)
    assert f"{path}:{line}: {expected}" in str(raised.value), str(raised.value)


def test_a_missing_rules_file_is_reported(tmp_path):
    with pytest.raises(rules.RulesError, match="cannot read the file"):
        rules.load_rules(tmp_path / "nowhere.yaml")


def test_the_version_on_alarms_changes_with_the_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULE.format(name="x", metric="held_quanta", limits="warning: 1"))
    first = rules.load_rules(path).version
    path.write_text(RULE.format(name="x", metric="held_quanta", limits="warning: 2"))
    second = rules.load_rules(path).version
    assert first.startswith("3@") and second.startswith("3@") and first != second


# --- command line and the periodic task -------------------------------------------------


def test_cli_check_rules_lists_the_rules_or_fails_with_the_problems(tmp_path):
    out = StringIO()
    call_command("cm", "alarms", "check-rules", stdout=out)
    assert "version 2@" in out.getvalue()
    assert "workflow-failure-fraction" in out.getvalue()
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULE.format(name="x", metric="nope", limits="warning: 1"))
    err = StringIO()
    with pytest.raises(CommandError, match="cm alarms failed"):
        call_command("cm", "alarms", "check-rules", str(bad), stdout=StringIO(), stderr=err)
    assert f"{bad}:5: rules[0].metric: unknown workflow metric 'nope'" in err.getvalue()


def test_cli_evaluate_prints_the_counts():
    attempt(Status.REVIEWABLE, quanta_succeeded=70, quanta_failed=30)
    out = StringIO()
    call_command("cm", "alarms", "evaluate", stdout=out)
    assert out.getvalue().startswith(
        "judged 2 objects, 5 checks: 1 error, 0 warning, 1 undefined, 3 clean;"
    )
    assert "alarms raised 2, refreshed 0, cleared 0" in out.getvalue()


def test_the_periodic_task_judges_the_rules_after_the_poll():
    from monitoring.tasks import check_workflow_status

    workflow = attempt(Status.REVIEWABLE, quanta_succeeded=70, quanta_failed=30)
    check_workflow_status()
    assert "workflow-failure-fraction" in open_kinds(workflow)


def test_the_admin_shows_what_the_rule_measured(admin_client):
    from django.urls import reverse

    workflow = attempt(Status.REVIEWABLE, quanta_succeeded=70, quanta_failed=30)
    rules.evaluate()
    alarm = alarm_of("workflow-failure-fraction", workflow)
    listed = admin_client.get(reverse("admin:campaigns_alarm_changelist")).content.decode()
    assert "failure_fraction" in listed and "&gt; 0.05 / 0.2" in listed and "Acknowledge" in listed
    page = admin_client.get(reverse("admin:campaigns_alarm_change", args=[alarm.pk]))
    shown = page.content.decode()
    assert "Failed fraction per task label" in shown and alarm.rules_version in shown
